/**
 * The ReAct loop in real sandboxes: against the scripted provider, and against
 * local servers that speak the providers' wire protocols.
 */

import assert from "node:assert/strict";
import { loopAgent } from "./_loops.ts";
import { countingServer, recordText, run } from "./_sandbox.ts";

Deno.test("ReAct: tool calls, then a final answer", async () => {
  await using agent = await loopAgent({
    kind: "react",
    turns: [
      { reply: { content: "", toolCalls: [{ name: "read_file", arguments: { path: "data/numbers.csv" } }] } },
      { expect: { lastRole: "tool", contains: "1\\n2\\n3" }, reply: { content: "The numbers sum to 6." } },
    ],
  });
  const { outcome, events } = await run(agent, "go");
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  assert.equal(outcome.output, "The numbers sum to 6.");
  assert.deepEqual(events.filter((e) => e.type === "step").map((e) => e.step), [1, 2]);
  assert.deepEqual(events.filter((e) => e.type === "tool").map((e) => [e.tool, e.ok]), [["read_file", true]]);
  const models = events.filter((e) => e.type === "model");
  assert.equal(models.length, 2);
  assert.match(String(models[0]?.model), /^scripted:/);
});

Deno.test("ReAct: a denied tool call reaches the model as an observation with its hint", async () => {
  await using agent = await loopAgent({
    kind: "react",
    turns: [
      { reply: { content: "", toolCalls: [{ name: "read_file", arguments: { path: "../secret.txt" } }] } },
      {
        expect: { lastRole: "tool", contains: "ERR_CAPABILITY_DENIED" },
        reply: { content: "", toolCalls: [{ name: "read_file", arguments: { path: "data/missing.csv" } }] },
      },
      {
        expect: { lastRole: "tool", contains: "ERR_NOT_FOUND" },
        reply: {
          content: "",
          toolCalls: [{ name: "http_fetch", arguments: { url: "http://127.0.0.1:9/" } }],
        },
      },
      {
        expect: { lastRole: "tool", contains: 'no tool "http_fetch"' },
        reply: { content: "I cannot read it." },
      },
    ],
  });
  const { outcome, events } = await run(agent, "go");
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  const tools = events.filter((e) => e.type === "tool");
  assert.deepEqual(tools.map((e) => e.ok), [false, false, false]);
  assert.match(String(tools[0]?.observation), /Hint: add the folder to \[capabilities\.fs\] read/);
  assert.ok(!JSON.stringify(events).includes("the secret outside the grants"));
});

Deno.test("ReAct: max_steps reached", async () => {
  const again = { reply: { content: "", toolCalls: [{ name: "list_dir", arguments: { path: "data" } }] } };
  await using agent = await loopAgent({
    kind: "react",
    turns: [again, again, again],
    extra: "[limits]\nmax_steps = 2\n",
  });
  const { outcome } = await run(agent, "go");
  assert.equal(outcome.state, "error");
  assert.equal(outcome.error?.code, "ERR_MAX_STEPS");
  assert.equal(outcome.exitCode, 1);
});

Deno.test("ReAct: the model budget runs out", async (t) => {
  const again = {
    reply: { content: "", toolCalls: [{ name: "list_dir", arguments: { path: "data" } }] },
    usage: { inputTokens: 600, outputTokens: 10 },
  };
  for (const limit of ["max_calls = 2", "max_tokens = 1000"]) {
    await t.step(limit, async () => {
      await using agent = await loopAgent({ kind: "react", turns: [again, again, again], model: limit });
      const { outcome } = await run(agent, "go");
      assert.equal(outcome.error?.code, "ERR_MODEL_BUDGET");
    });
  }
});

Deno.test("ReAct against a local OpenAI-compatible server: only granted tools, the key stays in the supervisor", async () => {
  const KEY = "sk-test-" + crypto.randomUUID();
  const bodies: Record<string, unknown>[] = [];
  await using server = countingServer(async (req, n) => {
    const body = await req.json();
    bodies.push(body);
    const first = n === 1;
    return Response.json({
      id: "chatcmpl-1",
      object: "chat.completion",
      model: body.model,
      choices: [{
        index: 0,
        finish_reason: first ? "tool_calls" : "stop",
        message: first
          ? {
            role: "assistant",
            content: null,
            tool_calls: [{
              id: "call_1",
              type: "function",
              function: { name: "list_dir", arguments: '{"path":"data"}' },
            }],
          }
          : { role: "assistant", content: "data holds numbers.csv" },
      }],
      usage: { prompt_tokens: 50, completion_tokens: 7, total_tokens: 57 },
    });
  });
  Deno.env.set("IRONCLAW_TEST_MODEL_KEY", KEY);
  try {
    await using agent = await loopAgent({
      kind: "react",
      provider:
        `type = "openai"\nbase_url = "${server.origin}/v1"\napi_key_env = "IRONCLAW_TEST_MODEL_KEY"\n`,
    });
    const { outcome, events } = await run(agent, "go");
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
    assert.equal(outcome.output, "data holds numbers.csv");
    assert.equal(bodies.length, 2);
    assert.equal(server.headers[0]?.get("authorization"), `Bearer ${KEY}`);
    const tools = (bodies[0]!.tools as { function: { name: string } }[]).map((t) => t.function.name)
      .sort();
    assert.deepEqual(tools, ["list_dir", "read_file", "write_file"]);
    const second = bodies[1]!.messages as { role: string; tool_call_id?: string }[];
    assert.equal(second.at(-1)?.role, "tool");
    assert.equal(second.at(-1)?.tool_call_id, "call_1");
    const record = await recordText(agent, outcome.id);
    assert.ok(!record.includes(KEY), "the key is in the run's record");
    assert.ok(!JSON.stringify(events).includes(KEY));
  } finally {
    Deno.env.delete("IRONCLAW_TEST_MODEL_KEY");
  }
});

Deno.test("ReAct against a local Ollama server (native /api/chat)", async () => {
  await using server = countingServer(async (req, n) => {
    const body = await req.json();
    const message = n === 1
      ? {
        role: "assistant",
        content: "",
        tool_calls: [{ function: { name: "read_file", arguments: { path: "data/numbers.csv" } } }],
      }
      : { role: "assistant", content: `last said: ${body.messages.at(-1).content.length} chars` };
    return Response.json({
      model: body.model,
      message,
      done: true,
      done_reason: "stop",
      prompt_eval_count: 20,
      eval_count: 5,
    });
  });
  await using agent = await loopAgent({
    kind: "react",
    provider: `type = "ollama"\nbase_url = "${server.origin}"\n`,
  });
  const { outcome } = await run(agent, "go");
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  assert.match(outcome.output ?? "", /^last said: \d+ chars$/);
  assert.deepEqual(server.hits, ["POST /api/chat", "POST /api/chat"]);
});

Deno.test("ReAct: a refused model connection ends the run with a typed error", async () => {
  await using agent = await loopAgent({
    kind: "react",
    provider: `type = "ollama"\nbase_url = "http://127.0.0.1:9"\n`,
  });
  const { outcome } = await run(agent, "go");
  assert.equal(outcome.state, "error");
  assert.equal(outcome.error?.code, "ERR_MODEL_UNREACHABLE");
  assert.ok((outcome.error?.hint ?? "").length > 0);
});

Deno.test("the run reports what it used of the model budget", async () => {
  await using agent = await loopAgent({
    kind: "react",
    turns: [
      {
        reply: { content: "", toolCalls: [{ name: "list_dir", arguments: { path: "data" } }] },
        usage: { inputTokens: 100, outputTokens: 5 },
      },
      { reply: { content: "ok" }, usage: { inputTokens: 150, outputTokens: 3 } },
    ],
  });
  const { outcome, events } = await run(agent, "go");
  assert.deepEqual(outcome.modelUsage, {
    calls: 2,
    inputTokens: 250,
    outputTokens: 8,
    maxCalls: 20,
    maxTokens: 100000,
  });
  assert.equal(events.at(-2)?.type, "model-usage");
});
