import assert from "node:assert/strict";
import { parseChildMessage, parseParentMessage, ProtocolError, readLines } from "./protocol.ts";
import { LineTooLongError } from "./line_cap.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => enc.encode(c)));
}

Deno.test("readLines() splits on newlines across chunks", async () => {
  const lines = await Array.fromAsync(readLines(streamOf("a\nb", "c\n", "\nd")));
  assert.deepEqual(lines, ["a", "bc", "", "d"]);
});

Deno.test("readLines() refuses a line longer than its limit, also across chunks", async () => {
  for (const chunks of [["12345", "678\n"], ["1234567890"]]) {
    await assert.rejects(Array.fromAsync(readLines(streamOf(...chunks), 6)), (e: unknown) => {
      assert.ok(e instanceof LineTooLongError);
      assert.equal(e.code, "ERR_LIMIT");
      assert.equal(e.cap, 6);
      assert.match(e.message, /line cap of 6 bytes/);
      assert.match(e.hint, /raise \[limits\] max_output_kb/);
      assert.doesNotMatch(e.hint, /bug/);
      return true;
    });
  }
});

Deno.test("parseChildMessage() checks version, type and shape", async (t) => {
  const bad: [string, string][] = [
    ["not JSON", "hello"],
    ["an array", "[1]"],
    ["no version", `{"type":"ready"}`],
    ["another version", `{"v":2,"type":"ready"}`],
    ["an unknown type", `{"v":1,"type":"shout"}`],
    ["an event without type", `{"v":1,"type":"event","event":{}}`],
    ["a result with a bad state", `{"v":1,"type":"result","state":"great","output":null,"error":null}`],
    ["a result with a bad error", `{"v":1,"type":"result","state":"error","output":null,"error":"x"}`],
    ["a request without id", `{"v":1,"type":"request","op":"dns.resolve","args":{}}`],
    ["a forged end event", `{"v":1,"type":"event","event":{"type":"end","state":"ok"}}`],
    ["a forged model event", `{"v":1,"type":"event","event":{"type":"model","inputTokens":0}}`],
  ];
  for (const [name, line] of bad) {
    await t.step(name, () => assert.throws(() => parseChildMessage(line), ProtocolError));
  }
  await t.step("good messages", () => {
    assert.equal(parseChildMessage(`{"v":1,"type":"ready"}`).type, "ready");
    assert.equal(
      parseChildMessage(`{"v":1,"type":"result","state":"ok","output":"x","error":null}`).type,
      "result",
    );
  });
});

Deno.test("parseParentMessage() checks the start message", () => {
  assert.throws(() => parseParentMessage(`{"v":1,"type":"start"}`), ProtocolError);
  assert.throws(() => parseParentMessage(`{"v":1,"type":"reply"}`), ProtocolError);
  assert.equal(parseParentMessage(`{"v":1,"type":"stop","reason":"x"}`).type, "stop");
});
