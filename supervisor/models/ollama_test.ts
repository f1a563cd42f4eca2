import assert from "node:assert/strict";
import { ollamaProvider } from "./ollama.ts";
import type { ChatMessage } from "../../protocol/model_types.ts";
import { json, serve, signal, TOOLS } from "./_testing.ts";

const ASK: ChatMessage[] = [{ role: "user", content: "Compare notes/a.txt and notes/b.txt" }];

/** An /api/chat answer (stream: false) whose message is `message`. */
function chat(message: Record<string, unknown>, counts: Record<string, number> = { prompt_eval_count: 40 }) {
  return {
    model: "qwen2.5:7b",
    created_at: "2024-11-24T16:51:00.000Z",
    message: { role: "assistant", ...message },
    done_reason: "stop",
    done: true,
    total_duration: 5_000_000,
    eval_count: 20,
    ...counts,
  };
}
const call = (path: string) => ({ function: { name: "read_file", arguments: { path } } });

Deno.test("ollamaProvider() speaks /api/chat", async (t) => {
  await t.step("a tool call round trip, with ids numbered through the conversation", async () => {
    await using s = serve((_, n) =>
      json(
        chat({
          content: "",
          tool_calls: n === 1 ? [call("notes/a.txt"), call("notes/b.txt")] : [call("notes/c.txt")],
        }),
      )
    );
    const p = ollamaProvider({ baseUrl: `${s.origin}/`, model: "qwen2.5:7b" });
    const first = await p.complete({ messages: ASK, tools: TOOLS, maxTokens: 300, temperature: 0.2 }, signal);
    assert.deepEqual(first, {
      message: {
        role: "assistant",
        content: "",
        toolCalls: [
          { id: "call_0", name: "read_file", arguments: { path: "notes/a.txt" } },
          { id: "call_1", name: "read_file", arguments: { path: "notes/b.txt" } },
        ],
      },
      usage: { inputTokens: 40, outputTokens: 20 },
      stopReason: "tool_calls",
      model: "qwen2.5:7b",
    });
    assert.equal(s.seen[0]?.path, "/api/chat");
    assert.deepEqual(s.seen[0]?.body, {
      model: "qwen2.5:7b",
      messages: [{ role: "user", content: "Compare notes/a.txt and notes/b.txt" }],
      tools: [{ type: "function", function: TOOLS[0] }],
      stream: false,
      options: { num_predict: 300, temperature: 0.2 },
    });

    const history: ChatMessage[] = [
      ...ASK,
      first.message,
      { role: "tool", toolCallId: "call_0", name: "read_file", content: "A" },
      { role: "tool", toolCallId: "call_1", name: "read_file", content: "B" },
    ];
    const second = await p.complete({ messages: history, tools: TOOLS }, signal);
    assert.deepEqual(second.message.toolCalls.map((c) => c.id), ["call_2"]);
    assert.deepEqual(s.seen[1]?.body.messages, [
      { role: "user", content: "Compare notes/a.txt and notes/b.txt" },
      { role: "assistant", content: "", tool_calls: [call("notes/a.txt"), call("notes/b.txt")] },
      { role: "tool", content: "A", tool_name: "read_file" },
      { role: "tool", content: "B", tool_name: "read_file" },
    ]);
    assert.equal(s.seen[1]?.body.options, undefined);

    const again = await p.complete({ messages: history, tools: TOOLS }, signal);
    assert.deepEqual(
      again.message.toolCalls.map((c) => c.id),
      ["call_2"],
      "the same conversation, the same ids",
    );
  });

  await t.step("a prompt served from Ollama's cache has no prompt_eval_count", async () => {
    await using s = serve(() => json(chat({ content: "hi" }, {})));
    const r = await ollamaProvider({ baseUrl: s.origin, model: "m" }).complete({ messages: ASK }, signal);
    assert.deepEqual(r.usage, { inputTokens: 0, outputTokens: 20 });
  });

  await t.step('an unknown model: ERR_MODEL_NOT_FOUND with "ollama pull" in the hint', async () => {
    await using s = serve(() => json({ error: 'model "llama9" not found, try pulling it first' }, 404));
    await assert.rejects(
      ollamaProvider({ baseUrl: s.origin, model: "llama9", provider: "local" }).complete(
        { messages: ASK },
        signal,
      ),
      {
        code: "ERR_MODEL_NOT_FOUND",
        message:
          'Provider "local" does not know model "llama9" (HTTP 404): model "llama9" not found, try pulling it first',
        hint: new RegExp(`^run "ollama pull llama9" on the machine at "${s.origin}"`),
      },
    );
  });

  await t.step("a wrong base_url (Ollama's plain 404 page): no pull hint", async () => {
    await using s = serve(() => new Response("404 page not found", { status: 404 }));
    await assert.rejects(
      ollamaProvider({ baseUrl: `${s.origin}/v1`, model: "m" }).complete({ messages: ASK }, signal),
      { code: "ERR_MODEL_NOT_FOUND", message: /: 404 page not found$/, hint: /^check \[model\] name/ },
    );
  });

  await t.step("tool-call arguments that are not an object: ERR_MODEL_RESPONSE", async () => {
    await using s = serve(() =>
      json(chat({ content: "", tool_calls: [{ function: { name: "read_file", arguments: "notes" } }] }))
    );
    await assert.rejects(
      ollamaProvider({ baseUrl: s.origin, model: "m" }).complete({ messages: ASK }, signal),
      {
        code: "ERR_MODEL_RESPONSE",
        message: /message\.tool_calls\[0\] needs a function\.name and a function\.arguments object/,
      },
    );
  });
});
