import assert from "node:assert/strict";
import { join } from "node:path";
import { loadTranscript, scriptedProvider, type Transcript } from "./scripted.ts";
import type { ChatMessage } from "../../protocol/model_types.ts";
import { signal } from "./_testing.ts";

const USER: ChatMessage[] = [{ role: "user", content: "Summarize my notes" }];
const TRANSCRIPT: Transcript = {
  label: "summarize the notes",
  turns: [
    {
      expect: { lastRole: "user", contains: "notes" },
      reply: { content: "", toolCalls: [{ name: "list_files", arguments: { path: "notes" } }] },
      usage: { inputTokens: 120, outputTokens: 12 },
    },
    { expect: { lastRole: "tool" }, reply: { content: "Two notes about cats." } },
  ],
};

/** Writes `text` to a transcript file in a fresh folder, removed when disposed. */
async function fileOf(text: string) {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "demo.json");
  await Deno.writeTextFile(path, text);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("loadTranscript() reads a valid file", async () => {
  await using f = await fileOf(JSON.stringify(TRANSCRIPT));
  assert.deepEqual(await loadTranscript(f.path), TRANSCRIPT);
});

Deno.test("loadTranscript() refuses a bad file with ERR_MODEL_SCRIPT", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ["not JSON", "{turns: []", /is not JSON: SyntaxError/],
    ["not an object", "[]", /is invalid at the top: expected an object/],
    [
      "an unknown key",
      { turns: [{ reply: { content: "" } }], lable: "x" },
      /at the top: unknown key "lable"/,
    ],
    ["no turns", { label: "x" }, /at turns: expected a non-empty array/],
    ["no reply", { turns: [{}] }, /at turns\[0\]\.reply: expected an object/],
    [
      "content not a string",
      { turns: [{ reply: { content: 1 } }] },
      /at turns\[0\]\.reply\.content: expected a string/,
    ],
    [
      "an unknown key in a reply",
      { turns: [{ reply: { content: "", tool_calls: [] } }] },
      /at turns\[0\]\.reply: unknown key "tool_calls"/,
    ],
    [
      "arguments not an object",
      { turns: [{ reply: { content: "", toolCalls: [{ name: "t", arguments: "{}" }] } }] },
      /at turns\[0\]\.reply\.toolCalls\[0\]\.arguments: expected an object/,
    ],
    [
      "a bad lastRole",
      { turns: [{ expect: { lastRole: "assistant" }, reply: { content: "" } }] },
      /at turns\[0\]\.expect\.lastRole: expected "user" or "tool"/,
    ],
    [
      "bad usage",
      { turns: [{ reply: { content: "" }, usage: { inputTokens: -1, outputTokens: 0 } }] },
      /at turns\[0\]\.usage: expected inputTokens and outputTokens/,
    ],
    [
      "a label not a string",
      { label: 1, turns: [{ reply: { content: "" } }] },
      /at label: expected a string/,
    ],
  ];
  for (const [name, content, message] of cases) {
    await t.step(name, async () => {
      await using f = await fileOf(typeof content === "string" ? content : JSON.stringify(content));
      await assert.rejects(loadTranscript(f.path), (e: Error & { code?: string; hint?: string }) => {
        assert.equal(e.code, "ERR_MODEL_SCRIPT");
        assert.ok(e.message.startsWith(`Transcript "${f.path}" `), e.message);
        assert.match(e.message, message);
        assert.match(e.hint ?? "", /^a transcript is \{"label"\?: /);
        return true;
      });
    });
  }
  await t.step("a missing file", async () => {
    await assert.rejects(loadTranscript("/nonexistent/demo.json"), {
      code: "ERR_MODEL_SCRIPT",
      message: /^Cannot read transcript "\/nonexistent\/demo\.json": NotFound/,
    });
  });
});

Deno.test("scriptedProvider() replays its turns", async (t) => {
  await t.step("in order, labelled as scripted, with tool call ids", async () => {
    const p = scriptedProvider(TRANSCRIPT, "/demos/demo.json");
    const first = await p.complete({ messages: USER }, signal);
    assert.deepEqual(first, {
      message: {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "call_0_0", name: "list_files", arguments: { path: "notes" } }],
      },
      usage: { inputTokens: 120, outputTokens: 12 },
      stopReason: "tool_calls",
      model: "scripted:demo.json",
    });
    const messages: ChatMessage[] = [
      ...USER,
      first.message,
      { role: "tool", toolCallId: "call_0_0", name: "list_files", content: "a.txt b.txt" },
    ];
    const second = await p.complete({ messages }, signal);
    assert.equal(second.message.content, "Two notes about cats.");
    assert.deepEqual(second.usage, { inputTokens: 0, outputTokens: 0 });
    await assert.rejects(p.complete({ messages }, signal), {
      code: "ERR_MODEL_SCRIPT",
      message: 'Transcript "/demos/demo.json" has no turn 3: all 2 were replayed',
      hint: /"\/demos\/demo\.json"/,
    });
  });

  await t.step("a last message from another role: ERR_MODEL_SCRIPT", async () => {
    const p = scriptedProvider(TRANSCRIPT, "/demos/demo.json");
    await assert.rejects(p.complete({ messages: [{ role: "system", content: "notes" }] }, signal), {
      code: "ERR_MODEL_SCRIPT",
      message: 'Transcript "/demos/demo.json" expected at turn 1 the last message from "user", not "system"',
    });
  });

  await t.step(
    "a last message without the expected text: ERR_MODEL_SCRIPT, and the turn is kept",
    async () => {
      const p = scriptedProvider(TRANSCRIPT, "/demos/demo.json");
      await assert.rejects(p.complete({ messages: [{ role: "user", content: "hello" }] }, signal), {
        code: "ERR_MODEL_SCRIPT",
        message: /expected at turn 1 the last message to contain "notes"$/,
      });
      assert.equal((await p.complete({ messages: USER }, signal)).stopReason, "tool_calls");
    },
  );

  await t.step("the replies are copies: a caller cannot change the transcript", async () => {
    const p = scriptedProvider(TRANSCRIPT, "demo.json");
    const r = await p.complete({ messages: USER }, signal);
    r.message.toolCalls[0]!.arguments.path = "/etc";
    assert.deepEqual(TRANSCRIPT.turns[0]?.reply.toolCalls?.[0]?.arguments, { path: "notes" });
  });
});
