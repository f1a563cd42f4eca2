import assert from "node:assert/strict";
import { ANTHROPIC_DEFAULT_MAX_TOKENS, anthropicProvider } from "./anthropic.ts";
import { ModelBroker } from "./broker.ts";
import type { ChatMessage } from "../../protocol/model_types.ts";
import { json, policyOf, serve, signal, TOOLS } from "./_testing.ts";

const ASK: ChatMessage[] = [
  { role: "system", content: "Be brief." },
  { role: "system", content: "Answer in English." },
  { role: "user", content: "Compare notes/a.txt and notes/b.txt" },
];

/** A Messages API answer. */
function message(content: unknown[], stop_reason: string) {
  return {
    id: "msg_01XFDUDYJgAACzvnptvVoYEL",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-5-20250929",
    content,
    stop_reason,
    stop_sequence: null,
    usage: { input_tokens: 120, output_tokens: 30 },
  };
}
const use = (id: string, path: string) => ({ type: "tool_use", id, name: "read_file", input: { path } });

Deno.test("anthropicProvider() speaks the Messages API", async (t) => {
  await t.step("a tool call round trip, tool results merged into one user message", async () => {
    await using s = serve((_, n) =>
      json(
        n === 1
          ? message([
            { type: "text", text: "Reading both." },
            use("toolu_01A", "notes/a.txt"),
            use("toolu_01B", "notes/b.txt"),
          ], "tool_use")
          : message([{ type: "text", text: "They match." }], "end_turn"),
      )
    );
    const p = anthropicProvider({ baseUrl: s.origin, model: "claude-sonnet-4-5", apiKey: "sk-ant-1" });
    const first = await p.complete({ messages: ASK, tools: TOOLS, temperature: 0 }, signal);
    assert.deepEqual(first, {
      message: {
        role: "assistant",
        content: "Reading both.",
        toolCalls: [
          { id: "toolu_01A", name: "read_file", arguments: { path: "notes/a.txt" } },
          { id: "toolu_01B", name: "read_file", arguments: { path: "notes/b.txt" } },
        ],
      },
      usage: { inputTokens: 120, outputTokens: 30 },
      stopReason: "tool_calls",
      model: "claude-sonnet-4-5-20250929",
    });
    const sent = s.seen[0]!;
    assert.equal(sent.path, "/v1/messages");
    assert.equal(sent.headers.get("x-api-key"), "sk-ant-1");
    assert.equal(sent.headers.get("anthropic-version"), "2023-06-01");
    assert.equal(sent.headers.get("content-type"), "application/json");
    assert.equal(sent.headers.get("authorization"), null);
    assert.deepEqual(sent.body, {
      model: "claude-sonnet-4-5",
      max_tokens: ANTHROPIC_DEFAULT_MAX_TOKENS,
      system: "Be brief.\n\nAnswer in English.",
      messages: [{ role: "user", content: "Compare notes/a.txt and notes/b.txt" }],
      tools: [{ name: "read_file", description: "Reads a file", input_schema: TOOLS[0]!.parameters }],
      temperature: 0,
    });

    const second = await p.complete({
      messages: [
        ...ASK,
        first.message,
        { role: "tool", toolCallId: "toolu_01A", name: "read_file", content: "A" },
        { role: "tool", toolCallId: "toolu_01B", name: "read_file", content: "B" },
        { role: "user", content: "Be quick." },
      ],
      maxTokens: 64,
    }, signal);
    assert.equal(second.message.content, "They match.");
    assert.equal(second.stopReason, "stop");
    assert.equal(s.seen[1]?.body.max_tokens, 64);
    assert.deepEqual(s.seen[1]?.body.messages, [
      { role: "user", content: "Compare notes/a.txt and notes/b.txt" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Reading both." },
          use("toolu_01A", "notes/a.txt"),
          use("toolu_01B", "notes/b.txt"),
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_01A", content: "A" },
          { type: "tool_result", tool_use_id: "toolu_01B", content: "B" },
        ],
      },
      { role: "user", content: "Be quick." },
    ]);
  });

  await t.step("an assistant turn with only tool calls sends no empty text block", async () => {
    await using s = serve(() => json(message([{ type: "text", text: "ok" }], "end_turn")));
    const history: ChatMessage[] = [
      { role: "user", content: "go" },
      {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "toolu_1", name: "read_file", arguments: { path: "x" } }],
      },
      { role: "tool", toolCallId: "toolu_1", name: "read_file", content: "X" },
    ];
    await anthropicProvider({ baseUrl: s.origin, model: "m" }).complete({ messages: history }, signal);
    assert.deepEqual((s.seen[0]?.body.messages as unknown[])[1], {
      role: "assistant",
      content: [use("toolu_1", "x")],
    });
    assert.equal(s.seen[0]?.body.system, undefined);
  });

  await t.step("529 overloaded is a server error the broker retries", async () => {
    await using s = serve((_, n) =>
      n === 1
        ? json({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, 529)
        : json(message([{ type: "text", text: "ok" }], "end_turn"))
    );
    const slept: number[] = [];
    const broker = new ModelBroker(policyOf("anthropic", { baseUrl: s.origin, apiKeyEnv: "K" }), {
      env: () => "sk-ant-1",
      sleep: (ms) => (slept.push(ms), Promise.resolve()),
    });
    assert.equal((await broker.complete({ messages: ASK })).message.content, "ok");
    assert.equal(slept.length, 1);
    assert.equal(s.seen.length, 2);
  });

  await t.step("a tool_use block without input: ERR_MODEL_RESPONSE", async () => {
    await using s = serve(() =>
      json(message([{ type: "tool_use", id: "toolu_1", name: "read_file" }], "tool_use"))
    );
    await assert.rejects(
      anthropicProvider({ baseUrl: s.origin, model: "m" }).complete({ messages: ASK }, signal),
      {
        code: "ERR_MODEL_RESPONSE",
        message: /content\[0\] \(tool_use\) needs an id, a name and an input object/,
      },
    );
  });
});
