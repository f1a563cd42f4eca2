import assert from "node:assert/strict";
import { join } from "node:path";
import { openStore } from "./mod.ts";
import { MAX_STATE_VALUE_BYTES } from "./plugin_state.ts";

async function withStore(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-state-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const A = { plugin: "kv", agent: "a" };

Deno.test("plugin state: get, set, delete, list, cas", () =>
  withStore(async (dir) => {
    const store = await openStore(dir);
    try {
      assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: false, value: null });
      assert.deepEqual(await store.pluginState(A, { op: "set", key: "x", value: { n: 1 } }), {});
      assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: true, value: { n: 1 } });
      await store.pluginState(A, { op: "set", key: "x.y", value: null });
      await store.pluginState(A, { op: "set", key: "z", value: [1] });
      assert.deepEqual(await store.pluginState(A, { op: "list" }), { keys: ["x", "x.y", "z"] });
      assert.deepEqual(await store.pluginState(A, { op: "list", prefix: "x" }), { keys: ["x", "x.y"] });
      assert.deepEqual(await store.pluginState(A, { op: "list", prefix: "%" }), { keys: [] });
      // cas: on the JSON value; undefined is "absent"
      assert.deepEqual(await store.pluginState(A, { op: "cas", key: "x", expected: { n: 2 }, value: 3 }), {
        done: false,
      });
      assert.deepEqual(await store.pluginState(A, { op: "cas", key: "x", expected: { n: 1 }, value: 3 }), {
        done: true,
      });
      assert.deepEqual(await store.pluginState(A, { op: "cas", key: "x", expected: undefined, value: 4 }), {
        done: false,
      });
      assert.deepEqual(await store.pluginState(A, { op: "cas", key: "new", expected: undefined, value: 4 }), {
        done: true,
      });
      assert.deepEqual(await store.pluginState(A, { op: "cas", key: "x.y", expected: undefined, value: 4 }), {
        done: false,
      }, "null is not absent");
      assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: true, value: 3 });
      assert.deepEqual(await store.pluginState(A, { op: "delete", key: "x" }), { done: true });
      assert.deepEqual(await store.pluginState(A, { op: "delete", key: "x" }), { done: false });
      assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: false, value: null });
    } finally {
      store.close();
    }
    // kept across openings
    const again = await openStore(dir);
    assert.deepEqual(await again.pluginState(A, { op: "list" }), { keys: ["new", "x.y", "z"] });
    again.close();
  }));

Deno.test("plugin state is scoped by plugin and by agent", () =>
  withStore(async (dir) => {
    const store = await openStore(dir);
    try {
      await store.pluginState(A, { op: "set", key: "k", value: "a's" });
      await store.pluginState({ plugin: "other", agent: "a" }, { op: "set", key: "k", value: "other's" });
      await store.pluginState({ plugin: "kv", agent: "b" }, { op: "set", key: "k", value: "b's" });
      assert.deepEqual(await store.pluginState(A, { op: "get", key: "k" }), { found: true, value: "a's" });
      assert.deepEqual(await store.pluginState({ plugin: "kv", agent: "b" }, { op: "get", key: "k" }), {
        found: true,
        value: "b's",
      });
      await store.pluginState(A, { op: "delete", key: "k" });
      assert.deepEqual(await store.pluginState({ plugin: "other", agent: "a" }, { op: "list" }), {
        keys: ["k"],
      });
      assert.deepEqual(await store.pluginState({ plugin: "kv", agent: "c" }, { op: "list" }), { keys: [] });
    } finally {
      store.close();
    }
  }));

Deno.test("plugin state caps keys and values with typed errors", () =>
  withStore(async (dir) => {
    const store = await openStore(dir);
    try {
      await store.pluginState(A, { op: "set", key: "k".repeat(256), value: 1 });
      await assert.rejects(store.pluginState(A, { op: "set", key: "k".repeat(257), value: 1 }), {
        code: "ERR_INVALID_ARGS",
      });
      await assert.rejects(store.pluginState(A, { op: "get", key: "" }), { code: "ERR_INVALID_ARGS" });
      await assert.rejects(
        store.pluginState(A, { op: "set", key: "v", value: "x".repeat(100), maxValueBytes: 50 }),
        {
          code: "ERR_LIMIT",
          hint: /max_value_bytes/,
        },
      );
      await assert.rejects(
        store.pluginState(A, {
          op: "set",
          key: "v",
          value: "x".repeat(MAX_STATE_VALUE_BYTES),
          maxValueBytes: 1e9,
        }),
        { code: "ERR_LIMIT" },
      );
      await assert.rejects(
        store.pluginState(A, { op: "cas", key: "v", expected: undefined, value: "xx", maxValueBytes: 3 }),
        {
          code: "ERR_LIMIT",
        },
      );
      await assert.rejects(store.pluginState(A, { op: "set", key: "v", value: undefined }), {
        code: "ERR_INVALID_ARGS",
      });
      await assert.rejects(store.pluginState(A, { op: "nope" } as never), { code: "ERR_INVALID_ARGS" });
      assert.deepEqual(await store.pluginState(A, { op: "list" }), { keys: ["k".repeat(256)] });
    } finally {
      store.close();
    }
  }));

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
