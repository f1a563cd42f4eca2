/**
 * Runs per second, side by side in one run on one machine (part of `deno task bench`; it writes the
 * "Runs per second" section of bench/RESULTS.md):
 *
 * - `ironclaw run` of the hello agent, one CLI process after another
 * - the same agent queued N times, drained by one `ironclaw worker`, then by three
 * - the three workers on PostgreSQL too, when PostgreSQL is installed (a throwaway server)
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { copyHello } from "./_hello.ts";
import { openStore, type RunStore } from "../supervisor/store/mod.ts";
import { allEnded, enqueue, startWorker, type WorkerProcess } from "../tests/_queue.ts";
import { postgresInstalled, startPostgres } from "../tests/_postgres.ts";
import { writeSection } from "./_results.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUNS = Number(Deno.env.get("BENCH_QUEUE_RUNS") ?? 20);

/** A folder with the hello agent under `agents/hello`, and a config naming the store. */
async function helloFolder(
  url: string | null,
): Promise<{ root: string; agents: string; config: string; manifest: string }> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-queue-" }));
  const manifest = await copyHello(join(root, "agents", "hello"));
  const config = join(root, "ironclaw.toml");
  await Deno.writeTextFile(
    config,
    `[runtime]\nstate_dir = "state"\n` + (url ? `[store]\nurl = "${url}"\n` : ""),
  );
  return { root, agents: join(root, "agents"), config, manifest };
}

/** `ironclaw run` hello, `RUNS` times one after another: runs per second. */
async function cliRate(): Promise<number> {
  const f = await helloFolder(null);
  try {
    const args = [
      "run",
      "-A",
      "--quiet",
      join(ROOT, "mod.ts"),
      "run",
      f.manifest,
      "--task",
      "bench",
      "--config",
      f.config,
    ];
    // The first run transpiles the component into the cache: not counted.
    await new Deno.Command(Deno.execPath(), { args, cwd: f.root, stdout: "null", stderr: "null" }).output();
    const started = performance.now();
    for (let i = 0; i < RUNS; i++) {
      const out = await new Deno.Command(Deno.execPath(), {
        args,
        cwd: f.root,
        stdout: "null",
        stderr: "piped",
      })
        .output();
      if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    }
    return RUNS / ((performance.now() - started) / 1000);
  } finally {
    await Deno.remove(f.root, { recursive: true });
  }
}

/** `RUNS` queued runs of hello drained by `workers` workers (one run at a time each): runs per second. */
async function workerRate(workers: number, url: string | null): Promise<number> {
  const f = await helloFolder(url);
  let store: RunStore | null = null;
  const procs: WorkerProcess[] = [];
  try {
    store = await openStore(join(f.root, "state"), url ? { url } : {});
    // A warm-up run fills the component cache, as in the CLI figure.
    const warm = await enqueue({ store, manifest: f.manifest }, { count: 1, retries: 0, agent: "hello" });
    procs.push(startWorker(f));
    await allEnded(store, warm, 120_000);
    procs[0]!.child.kill("SIGTERM");
    await procs.pop()!.status;
    const ids = await enqueue({ store, manifest: f.manifest }, {
      count: RUNS,
      first: 1,
      retries: 0,
      agent: "hello",
    });
    const started = performance.now();
    for (let i = 0; i < workers; i++) procs.push(startWorker(f));
    const runs = await allEnded(store, ids, 600_000);
    const seconds = (performance.now() - started) / 1000;
    if (!runs.every((r) => r.state === "ok")) {
      throw new Error(`not every run ended ok: ${JSON.stringify(runs)}`);
    }
    return RUNS / seconds;
  } finally {
    for (const p of procs) p.child.kill("SIGTERM");
    for (const p of procs) await p.status;
    await store?.close();
    await Deno.remove(f.root, { recursive: true });
  }
}

const rows: [string, number][] = [];
rows.push(["`ironclaw run` hello, one CLI process after another", await cliRate()]);
rows.push(["one `ironclaw worker` draining the queue (SQLite)", await workerRate(1, null)]);
rows.push(["three `ironclaw worker`s draining the queue (SQLite)", await workerRate(3, null)]);
if (postgresInstalled()) {
  const pg = await startPostgres();
  try {
    rows.push(["one `ironclaw worker` draining the queue (PostgreSQL)", await workerRate(1, pg.url)]);
    rows.push(["three `ironclaw worker`s draining the queue (PostgreSQL)", await workerRate(3, pg.url)]);
  } finally {
    await pg.stop();
  }
}
const cli = rows[0]![1];
const table = [
  "| what | runs per second | vs the CLI |",
  "| --- | --- | --- |",
  ...rows.map(([what, rate]) => `| ${what} | ${rate.toFixed(2)} | ${(rate / cli).toFixed(2)}x |`),
].join("\n");
console.log(table);
const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
const section = `## Runs per second (\`deno task bench\`)\n\n` +
  `bench/queue_bench.ts, run ${stamp} UTC, ${navigator.hardwareConcurrency} cores: the hello agent ${RUNS} times ` +
  `(\`BENCH_QUEUE_RUNS\`), its component already cached; workers take one run at a time each.\n\n${table}\n`;
await writeSection(section, { before: "## Loops" });
