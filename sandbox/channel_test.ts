import assert from "node:assert/strict";
import { join } from "node:path";
import { lineTooLongResult, openChannel } from "./channel.ts";
import { LineTooLongError } from "../protocol/line_cap.ts";
import { parseChildMessage } from "../protocol/protocol.ts";

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
