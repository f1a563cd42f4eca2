import assert from "node:assert/strict";
import { openaiProvider } from "./openai.ts";
import type { ChatMessage } from "../../protocol/model_types.ts";
import { json, serve, signal, TOOLS } from "./_testing.ts";

const ASK: ChatMessage[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "What is in notes/a.txt?" },
];

/** A chat.completion whose message is `message`. */
function completion(message: Record<string, unknown>, finish_reason: string) {
  return {
    id: "chatcmpl-9",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o-mini-2024-07-18",
    choices: [{
      index: 0,
      message: { role: "assistant", refusal: null, ...message },
      logprobs: null,
      finish_reason,
    }],
    usage: { prompt_tokens: 50, completion_tokens: 9, total_tokens: 59 },
  };
}

Deno.test("openaiProvider() speaks Chat Completions", async (t) => {
  await t.step("a tool call round trip", async () => {
    await using s = serve((_, n) =>
      json(
        n === 1
          ? completion({
            content: null,
            tool_calls: [{
              id: "call_Ab12",
              type: "function",
              function: { name: "read_file", arguments: '{"path":"notes/a.txt"}' },
            }],
          }, "tool_calls")
          : completion({ content: "It says hello." }, "stop"),
      )
    );
    const p = openaiProvider({ baseUrl: `${s.origin}/v1/`, model: "gpt-4o-mini", apiKey: "sk-1" });
    const first = await p.complete({ messages: ASK, tools: TOOLS, maxTokens: 200, temperature: 0 }, signal);
    assert.deepEqual(first, {
      message: {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "call_Ab12", name: "read_file", arguments: { path: "notes/a.txt" } }],
      },
      usage: { inputTokens: 50, outputTokens: 9 },
      stopReason: "tool_calls",
      model: "gpt-4o-mini-2024-07-18",
    });
    assert.equal(s.seen[0]?.path, "/v1/chat/completions");
    assert.equal(s.seen[0]?.headers.get("authorization"), "Bearer sk-1");
    assert.equal(s.seen[0]?.headers.get("content-type"), "application/json");
    assert.deepEqual(s.seen[0]?.body, {
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is in notes/a.txt?" },
      ],
      tools: [{ type: "function", function: TOOLS[0] }],
      max_tokens: 200,
      temperature: 0,
    });

    const second = await p.complete({
      messages: [
        ...ASK,
        first.message,
        { role: "tool", toolCallId: "call_Ab12", name: "read_file", content: "hello" },
      ],
      tools: TOOLS,
    }, signal);
    assert.equal(second.message.content, "It says hello.");
    assert.equal(second.stopReason, "stop");
    assert.deepEqual(s.seen[1]?.body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is in notes/a.txt?" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{
          id: "call_Ab12",
          type: "function",
          function: { name: "read_file", arguments: '{"path":"notes/a.txt"}' },
        }],
      },
      { role: "tool", tool_call_id: "call_Ab12", content: "hello" },
    ]);
  });

  await t.step("no key: no Authorization header", async () => {
    await using s = serve(() => json(completion({ content: "hi" }, "stop")));
    await openaiProvider({ baseUrl: s.origin, model: "local" }).complete({ messages: ASK }, signal);
    assert.equal(s.seen[0]?.headers.get("authorization"), null);
  });

  await t.step("malformed tool-call arguments: ERR_MODEL_RESPONSE", async () => {
    await using s = serve(() =>
      json(completion({
        content: null,
        tool_calls: [{
          id: "call_1",
          type: "function",
          function: { name: "read_file", arguments: '{"path": ' },
        }],
      }, "tool_calls"))
    );
    await assert.rejects(
      openaiProvider({ baseUrl: s.origin, model: "m" }).complete({ messages: ASK }, signal),
      {
        code: "ERR_MODEL_RESPONSE",
        message: /^Provider "openai" sent malformed arguments for tool "read_file": SyntaxError/,
      },
    );
  });

  await t.step("arguments that are not an object: ERR_MODEL_RESPONSE", async () => {
    await using s = serve(() =>
      json(completion({
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "read_file", arguments: "[1]" } }],
      }, "tool_calls"))
    );
    await assert.rejects(
      openaiProvider({ baseUrl: s.origin, model: "m" }).complete({ messages: ASK }, signal),
      {
        code: "ERR_MODEL_RESPONSE",
        message: /the arguments of tool "read_file" are not a JSON object/,
      },
    );
  });

  await t.step('error.code "model_not_found" on a 400: ERR_MODEL_NOT_FOUND', async () => {
    await using s = serve(() =>
      json({
        error: {
          message: "The model `gpt-9` does not exist or you do not have access to it.",
          type: "invalid_request_error",
          param: null,
          code: "model_not_found",
        },
      }, 400)
    );
    await assert.rejects(
      openaiProvider({ baseUrl: s.origin, model: "gpt-9", provider: "openai" }).complete(
        { messages: ASK },
        signal,
      ),
      {
        code: "ERR_MODEL_NOT_FOUND",
        status: 400,
        message:
          /^Provider "openai" does not know model "gpt-9" \(HTTP 400\): The model `gpt-9` does not exist/,
      },
    );
  });

  await t.step("403: ERR_MODEL_AUTH, hint naming api_key_env", async () => {
    await using s = serve(() =>
      json(
        { error: { message: "Project does not have access", type: "invalid_request_error", code: null } },
        403,
      )
    );
    await assert.rejects(
      openaiProvider({ baseUrl: s.origin, model: "m", provider: "work", apiKeyEnv: "WORK_KEY" })
        .complete({ messages: ASK }, signal),
      {
        code: "ERR_MODEL_AUTH",
        hint: /^set WORK_KEY \(the variable \[providers\.work\] api_key_env names\)/,
      },
    );
  });
});
