import assert from "node:assert/strict";
import { join } from "node:path";
import { openStore } from "./mod.ts";

async function withStore(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-state-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const A = { plugin: "kv", agent: "a" };

Deno.test("plugin state: two processes bumping one counter with cas end at the exact total", () =>
  withStore(async (dir) => {
    const N = 150;
    const code = `
      import { openStore } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      const store = await openStore(Deno.args[0]);
      const scope = { plugin: "kv", agent: "a" };
      let tries = 0;
      for (let i = 0; i < ${N}; i++) {
        for (;;) {
          tries++;
          const now = (await store.pluginState(scope, { op: "get", key: "n" })).value;
          const next = (now ?? 0) + 1;
          if ((await store.pluginState(scope, { op: "cas", key: "n", expected: now ?? undefined, value: next })).done) break;
        }
      }
      store.close();
      console.log(tries);
    `;
    const file = join(dir, "bump.ts");
    await Deno.writeTextFile(file, code);
    (await openStore(dir)).close(); // migrated before the race
    const runs = [0, 1].map(() =>
      new Deno.Command(Deno.execPath(), { args: ["run", "-A", file, dir], stdout: "piped" }).output()
    );
    const outs = await Promise.all(runs);
    for (const o of outs) assert.equal(o.code, 0);
    const store = await openStore(dir);
    assert.deepEqual(await store.pluginState(A, { op: "get", key: "n" }), { found: true, value: 2 * N });
    store.close();
  }));
