import assert from "node:assert/strict";
import { join } from "node:path";
import { prepareComponentFile } from "./component_cache.ts";

const HELLO = new URL("../examples/hello/agent.wasm", import.meta.url);

/** Sets a file's times into the past, then waits until its change time (now) is older than two seconds. */
async function age(path: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  await Deno.utime(path, past, past);
  await new Promise((r) => setTimeout(r, 2100));
}

async function readIndex(stateDir: string): Promise<Record<string, { hash: string; size: number }>> {
  try {
    return JSON.parse(await Deno.readTextFile(join(stateDir, "cache", "components", "index.json")));
  } catch {
    return {};
  }
}

Deno.test("prepareComponentFile() finds an unchanged file by its stamp, and hashes a new or changed one", async (t) => {
  const wasm = await Deno.readFile(HELLO).catch(() => {
    throw new Error("examples/hello/agent.wasm is missing: run deno task build-agents");
  });
  const dir = await Deno.makeTempDir();
  const stateDir = join(dir, "state");
  const file = join(dir, "agent.wasm");
  const options = { maxPages: 1024, waits: false };
  try {
    await Deno.writeFile(file, wasm);
    let real = "";

    await t.step("a file changed in the last two seconds is hashed and not indexed", async () => {
      const first = await prepareComponentFile(file, stateDir, options);
      assert.ok(first.transpiled);
      real = first.dir;
      assert.deepEqual(await readIndex(stateDir), {});
    });

    await t.step("an older file is indexed by its path, size and times once hashed", async () => {
      await age(file);
      const again = await prepareComponentFile(file, stateDir, options);
      assert.ok(!again.transpiled);
      assert.equal(again.dir, real);
      const entries = Object.values(await readIndex(stateDir));
      assert.equal(entries.length, 1);
      assert.equal(join(stateDir, "cache", "components", entries[0]!.hash), real);
      assert.equal(entries[0]!.size, wasm.length);
    });

    await t.step("an indexed, unchanged file is not read: the index's entry is taken", async () => {
      // Point the index at another entry: only a lookup that does not hash the file returns it.
      const index = await readIndex(stateDir);
      const key = Object.keys(index)[0]!;
      const other = "0".repeat(40);
      await Deno.mkdir(join(stateDir, "cache", "components", other));
      await Deno.writeTextFile(join(stateDir, "cache", "components", other, "agent.js"), "");
      index[key]!.hash = other;
      await Deno.writeTextFile(join(stateDir, "cache", "components", "index.json"), JSON.stringify(index));
      const found = await prepareComponentFile(file, stateDir, options);
      assert.equal(found.dir, join(stateDir, "cache", "components", other));
      await Deno.remove(join(stateDir, "cache", "components", other), { recursive: true });
    });

    await t.step("an index entry whose folder is gone falls back to the hash", async () => {
      const found = await prepareComponentFile(file, stateDir, options);
      assert.ok(!found.transpiled);
      assert.equal(found.dir, real);
    });

    await t.step("a changed file of the same size is hashed again (its times differ)", async () => {
      // The same bytes but one letter of a tool's name in the producers section (free text, still valid).
      const changed = wasm.slice();
      const text = new TextDecoder("latin1").decode(changed);
      const at = text.lastIndexOf("wit-component");
      assert.ok(at > 0, "the component names wit-component among its producers");
      changed[at] = "W".charCodeAt(0);
      await Deno.writeFile(file, changed);
      await age(file);
      const found = await prepareComponentFile(file, stateDir, options);
      assert.notEqual(found.dir, real, "the new content has its own entry");
    });

    await t.step("a damaged index is ignored", async () => {
      await Deno.writeTextFile(join(stateDir, "cache", "components", "index.json"), "{not json");
      const found = await prepareComponentFile(file, stateDir, options);
      assert.ok(!found.transpiled);
      assert.equal(Object.keys(await readIndex(stateDir)).length, 1, "rewritten with this file");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
