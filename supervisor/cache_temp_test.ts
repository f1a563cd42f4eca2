import assert from "node:assert/strict";
import { join } from "node:path";
import { removeStaleTemps, staleTemp, tempSibling } from "./cache_temp.ts";

Deno.test("removeStaleTemps() removes the temporary siblings of gone processes only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    const mine = tempSibling(join(dir, "entry"));
    const left = join(dir, `entry.${dead.pid}.1.0123456789abcdef.tmp`);
    for (const path of [mine, left, join(dir, "entry"), join(dir, "other.tmp")]) await Deno.mkdir(path);
    assert.equal(staleTemp(left.slice(dir.length + 1), new Date()), true);
    assert.deepEqual(await removeStaleTemps(dir), [left.slice(dir.length + 1)]);
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(names, ["entry", mine.slice(dir.length + 1), "other.tmp"].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("staleTemp() waits a day for a maker it cannot tell alive or dead", () => {
  assert.equal(staleTemp("entry.123..0123456789abcdef.tmp", new Date()), false);
  assert.equal(staleTemp("entry.123..0123456789abcdef.tmp", new Date(Date.now() - 2 * 86_400_000)), true);
});
