import assert from "node:assert/strict";
import { join } from "node:path";
import { BATCH_BYTES, lineTooLongResult, openChannel } from "./channel.ts";
import { LineTooLongError } from "../protocol/line_cap.ts";
import { parseChildMessage, readLines } from "../protocol/protocol.ts";

Deno.test("openChannel() reads the supervisor's lines up to the run's cap, and names it past", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "c");
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const accepted = listener.accept();
    const channel = await openChannel(path, { maxLineBytes: 64 });
    const conn = await accepted;
    await conn.write(new TextEncoder().encode("a".repeat(64) + "\n" + "b".repeat(65) + "\n"));
    const lines = channel.lines();
    assert.equal((await lines.next()).value, "a".repeat(64));
    const e = await lines.next().then(() => null, (e: unknown) => e);
    assert.ok(e instanceof LineTooLongError, String(e));
    assert.equal(e.cap, 64);
    const result = parseChildMessage(JSON.stringify(lineTooLongResult(e)));
    assert.ok(result.type === "result" && result.error?.code === "ERR_LIMIT");
    assert.match(result.error.hint, /raise \[limits\] max_output_kb/);
    conn.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openChannel() writes events in batches, each message in the order sent", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "c");
  const listener = Deno.listen({ transport: "unix", path });
  const event = (n: number) =>
    ({ v: 1, type: "event", event: { type: "log", level: "info", message: `${n}` } }) as const;
  try {
    const accepted = listener.accept();
    const channel = await openChannel(path);
    const conn = await accepted;
    const lines = readLines(conn.readable, 1 << 20);
    const next = async () => parseChildMessage((await lines.next()).value!);
    await t.step("events alone are written on the batch timer", async () => {
      for (let n = 0; n < 3; n++) channel.send(event(n));
      for (let n = 0; n < 3; n++) assert.deepEqual(await next(), event(n));
    });
    await t.step("a result is written at once, after the events sent before it", async () => {
      channel.send(event(3));
      channel.send({ v: 1, type: "result", state: "ok", output: "done", error: null });
      assert.deepEqual(await next(), event(3));
      const result = await next();
      assert.ok(result.type === "result" && result.output === "done");
    });
    await t.step("events past the batch's bytes are written without waiting for the timer", async () => {
      const big = "x".repeat(BATCH_BYTES);
      channel.send({ v: 1, type: "event", event: { type: "log", level: "info", message: big } });
      const got = await next();
      assert.ok(got.type === "event" && got.event.type === "log" && got.event.message === big);
    });
    conn.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
