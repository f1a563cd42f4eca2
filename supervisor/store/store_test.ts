import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { IronclawError } from "../../manifests/errors.ts";
import { EXIT_CODES } from "../outcome.ts";
import { openStore, type RunStore, RunWriter, SqliteRunStore } from "./mod.ts";
import { storeSuite } from "./store_suite.ts";

const run = (id: string, agent = "a", started = new Date().toISOString()) => ({
  id,
  agent,
  manifest: "/m/agent.toml",
  task: "t",
  started,
});

async function withState(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writer(store: RunStore, id: string, errors: IronclawError[] = []): Promise<RunWriter> {
  const lease = await RunWriter.createRun(store, run(id));
  return new RunWriter(store, lease, { onError: (e) => errors.push(e) });
}

Deno.test("SqliteRunStore passes the store suite", (t) =>
  storeSuite(t, {
    async fresh() {
      const dir = await Deno.makeTempDir();
      return { open: () => openStore(dir), remove: () => Deno.remove(dir, { recursive: true }) };
    },
  }));

Deno.test("SqliteRunStore", async (t) => {
  await t.step("applies each migration once, however often it is opened", () =>
    withState(async (dir) => {
      for (let i = 0; i < 3; i++) (await openStore(dir)).close();
      const db = new DatabaseSync(join(dir, "ironclaw.db"));
      const rows = db.prepare("SELECT version FROM schema_migrations ORDER BY version").all();
      assert.deepEqual(rows.map((r) => r.version), [1, 2, 3, 4]);
      assert.equal((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
      db.close();
    }));

  await t.step(
    "imports the file records of older versions once, and marks a 'running' one lost",
    () =>
      withState(async (dir) => {
        await Deno.mkdir(join(dir, "runs", "old1"), { recursive: true });
        const summary = { ...run("old1"), ended: null, state: "running", exitCode: null };
        await Deno.writeTextFile(join(dir, "runs", "old1", "run.json"), JSON.stringify(summary));
        await Deno.writeTextFile(join(dir, "runs", "old1", "events.jsonl"), '{"seq":0,"type":"run"}\n{"torn');
        const store = await openStore(dir);
        const { summary: s, events } = await store.showRun("old1");
        assert.deepEqual([s.state, s.exitCode], ["lost", EXIT_CODES.lost]);
        assert.deepEqual(events.map((e) => e.type), ["run", "end"]);
        store.close();
      }),
  );

  await t.step("a state folder that cannot be made is ERR_STORE with a hint", () =>
    withState(async (dir) => {
      await Deno.writeTextFile(join(dir, "file"), "");
      await assert.rejects(() => openStore(join(dir, "file", "state")), (e: IronclawError) => {
        assert.equal(e.code, "ERR_STORE");
        assert.match(e.hint, /writable/);
        return true;
      });
    }));

  await t.step(
    "a full store fails the run's writer once, through onError, never from its timer",
    () =>
      withState(async (dir) => {
        const store = SqliteRunStore.open(dir, { maxPageCount: 40 });
        const errors: IronclawError[] = [];
        const w = await writer(store, "full", errors);
        for (let i = 0; i < 2000; i++) w.append({ type: "stdout", data: "x".repeat(1000) });
        const failure = await w.close("ok", 0);
        assert.equal(failure?.code, "ERR_STORE");
        assert.equal(errors.length, 1);
        assert.match(failure!.message, /full/);
        store.close();
      }),
  );
});

Deno.test("two processes append to one store at once, and nothing is lost", async () => {
  const dir = await Deno.makeTempDir();
  const mod = new URL("./mod.ts", import.meta.url).href;
  const script = (id: string) =>
    `import { openStore, RunWriter } from "${mod}";
     const store = await openStore(${JSON.stringify(dir)});
     const lease = await RunWriter.createRun(store, { id: "${id}", agent: "a", manifest: "m", task: "t",
       started: new Date().toISOString() });
     const w = new RunWriter(store, lease, { onError: (e) => { throw e; } });
     for (let i = 0; i < 3000; i++) { w.append({ type: "n", i }); if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1)); }
     const f = await w.close("ok", 0); if (f) throw f; await store.close();`;
  try {
    const children = ["p1", "p2"].map((id) =>
      new Deno.Command(Deno.execPath(), { args: ["eval", script(id)], stdout: "null", stderr: "piped" })
        .output()
    );
    for (const out of await Promise.all(children)) {
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    }
    const store = await openStore(dir);
    for (const id of ["p1", "p2"]) {
      const { summary, events } = await store.showRun(id);
      assert.equal(summary.state, "ok");
      assert.deepEqual(events.map((e) => e.i), [...Array(3000).keys()]);
    }
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
