/**
 * The queue (issue 11, item 5), with real `ironclaw worker` processes, a real
 * store and a loopback model that takes its time: 30 runs, three workers, one
 * SIGKILLed mid-run. Every run ends in exactly one terminal state, none is
 * executed twice (the model counts each run's requests), and the killed
 * worker's run is `lost`, or queued again and then `ok` when its manifest
 * allows retries. `queue_pg_test.ts` runs the same on PostgreSQL.
 */

import assert from "node:assert/strict";
import { EXIT_CODES } from "../supervisor/outcome.ts";
import { join } from "node:path";
import { channelPath } from "../supervisor/channel.ts";
import { awaitNoProcessWith, processesWith, runCli } from "./_cli.ts";
import { PROBE } from "./_sandbox.ts";
import { newRunId } from "../supervisor/records.ts";
import {
  allEnded,
  enqueue,
  queueSetup,
  slowModel,
  startWorker,
  until,
  type WorkerProcess,
} from "./_queue.ts";

/** How long one model answer takes, in ms: the runs wait like real ones, so more workers finish sooner. */
const MODEL_MS = 500;
/** How long the runs of one scenario may take in all, in ms: far above what they need. */
const WITHIN_MS = 240_000;

/** Options of {@linkcode killedWorkerScenario}. */
export interface ScenarioOptions {
  /** The store's URL, or null for SQLite. */
  url: string | null;
  /** The agent's `[limits] retries`. */
  retries: number;
  /** How many runs. */
  runs: number;
}

/** What a scenario measured. */
export interface ScenarioResult {
  /** From the workers' start to the last run's end, in ms. */
  elapsedMs: number;
}

/** Sends SIGTERM to the workers and checks they drain and exit 0. */
async function drain(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers) w.child.kill("SIGTERM");
  for (const w of workers) {
    const status = await w.status;
    assert.equal(status.code, 0, w.stderr());
  }
}

/**
 * Queues the runs, starts three workers, SIGKILLs the first while it waits for the model in one of its runs,
 * and checks what the issue asks.
 */
export async function killedWorkerScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  await using model = slowModel(MODEL_MS);
  await using setup = await queueSetup({ model: model.origin, url: options.url, retries: options.retries });
  const ids = await enqueue(setup, { count: options.runs, retries: options.retries });
  const taskOf = new Map(ids.map((id, i) => [id, `task-${i}`]));
  const started = Date.now();
  const workers = [startWorker(setup), startWorker(setup), startWorker(setup)];
  try {
    const victim = workers[0]!;
    // The victim's run is mid-run: the model has its request and has not answered.
    let killedRun = "";
    await until(() => {
      const mine = victim.events.filter((e) => e.type === "claimed").map((e) => e.id!);
      const ended = new Set(victim.events.filter((e) => e.type === "ended").map((e) => e.id!));
      killedRun = mine.find((id) => !ended.has(id) && model.pending.has(taskOf.get(id)!)) ?? "";
      return killedRun !== "" && mine.length >= 2;
    }, { ms: WITHIN_MS, what: "the first worker to be in the middle of its second run" });
    victim.child.kill("SIGKILL");
    await victim.status;
    const runs = await allEnded(setup.store, ids, WITHIN_MS);
    const elapsedMs = Date.now() - started;
    // The killed worker's sandbox saw its channel close and ended itself.
    const channel = `--channel=${channelPath(join(setup.root, "state"), killedRun)}`;
    await awaitNoProcessWith(channel);
    assert.deepEqual(processesWith(channel), [], "the killed worker's sandbox is still running");
    await drain(workers.slice(1));
    for (const r of runs) {
      const { events } = await setup.store.showRun(r.id);
      const ends = events.filter((e) => e.type === "end");
      assert.equal(ends.length, 1, `${r.id} has ${ends.length} end events`);
      const starts = events.filter((e) => e.type === "run").length;
      const seen = model.seen.get(taskOf.get(r.id)!) ?? 0;
      if (r.id !== killedRun) {
        assert.deepEqual([r.state, starts, seen], ["ok", 1, 1], `${r.id} ran once, to ok`);
        continue;
      }
      if (options.retries === 0) {
        assert.deepEqual([r.state, r.exitCode, starts, seen], ["lost", EXIT_CODES.lost, 1, 1]);
        assert.equal((ends[0] as { error?: { code: string } }).error?.code, "ERR_LOST");
      } else {
        // Queued again (it made no side effect), then run to its end by another worker.
        assert.deepEqual([r.state, r.attempts, starts, seen], ["ok", 2, 2, 2]);
        const requeued = events.findIndex((e) => e.type === "requeued");
        assert.ok(requeued > 0 && requeued < events.findLastIndex((e) => e.type === "run"));
        assert.deepEqual(
          events.map((e) => e.seq),
          events.map((_, i) => i),
          "one sequence over both attempts",
        );
      }
    }
    return { elapsedMs };
  } finally {
    for (const w of workers) {
      try {
        w.child.kill("SIGKILL");
      } catch { /* ended */ }
      await w.status.catch(() => {});
    }
  }
}

/**
 * Runs `count` queued runs with one worker, for the time three take to be compared with.
 *
 * @returns From the worker's start to the last run's end, in ms.
 */
export async function oneWorkerMs(options: { url: string | null; runs: number }): Promise<number> {
  await using model = slowModel(MODEL_MS);
  await using setup = await queueSetup({ model: model.origin, url: options.url, retries: 0 });
  const ids = await enqueue(setup, { count: options.runs, retries: 0 });
  const started = Date.now();
  const worker = startWorker(setup);
  try {
    const runs = await allEnded(setup.store, ids, WITHIN_MS * 2);
    const elapsed = Date.now() - started;
    assert.ok(runs.every((r) => r.state === "ok"));
    await drain([worker]);
    return elapsed;
  } finally {
    try {
      worker.child.kill("SIGKILL");
    } catch { /* ended */ }
    await worker.status.catch(() => {});
  }
}

Deno.test("the queue on SQLite: three workers, 30 runs, one worker SIGKILLed mid-run: its run is lost, the rest ok once", async () => {
  await killedWorkerScenario({ url: null, retries: 0, runs: 30 });
});

Deno.test("ironclaw submit --wait: a worker runs it, the output and exit code are the run's; a name needs --agents", async () => {
  await using model = slowModel(50);
  await using setup = await queueSetup({ model: model.origin, url: null, retries: 0 });
  const env = { XDG_STATE_HOME: `${setup.root}/xdg` };
  const byName = await runCli(["submit", "slow", "--task", "task-7", "--config", setup.config], { env });
  assert.equal(byName.code, 2, byName.stderr);
  assert.match(byName.stderr, /--agents/);
  const worker = startWorker(setup);
  try {
    const submitted = await runCli(
      ["submit", "slow", "--agents", setup.agents, "--task", "task-7", "--wait", "--config", setup.config],
      { env },
    );
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.equal(submitted.stdout, "done task-7\n");
    const [run] = await setup.store.listRuns({ agent: "slow" });
    assert.deepEqual([run?.state, run?.attempts, run?.task], ["ok", 1, "task-7"]);
    assert.ok(worker.events.some((e) => e.type === "claimed" && e.id === run?.id));
    await drain([worker]);
  } finally {
    try {
      worker.child.kill("SIGKILL");
    } catch { /* ended */ }
    await worker.status.catch(() => {});
  }
});

Deno.test("a queued run whose worker dies is retried only if it made no side effect: a written file rules it out", async (t) => {
  await using model = slowModel(50);
  await using setup = await queueSetup({ model: model.origin, url: null, retries: 0 });
  await Deno.mkdir(join(setup.agents, "out"));
  const probe = join(setup.agents, "probe.toml");
  await Deno.writeTextFile(
    probe,
    `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${PROBE}"\n\n[capabilities.fs]\nwrite = ["out"]\n\n` +
      `[limits]\ntimeout_s = 120\nretries = 1\n`,
  );
  const killMidRun = async (task: unknown) => {
    const id = `${newRunId()}-effect`;
    const started = new Date().toISOString();
    await setup.store.enqueueRun({
      id,
      agent: "probe",
      manifest: probe,
      task: JSON.stringify(task),
      started,
      retries: 1,
    });
    const worker = startWorker(setup);
    try {
      await until(async () => {
        const { events } = await setup.store.showRun(id);
        return events.some((e) => e.type === "log" && e.message === "looping");
      }, { ms: WITHIN_MS, what: "the probe to loop after its calls" });
      worker.child.kill("SIGKILL");
      await worker.status;
    } finally {
      try {
        worker.child.kill("SIGKILL");
      } catch { /* ended */ }
      await worker.status.catch(() => {});
    }
    await setup.store.reapLost();
    return await setup.store.showRun(id);
  };
  await t.step("it wrote a file: lost, never queued again", async () => {
    const { summary, events } = await killMidRun({
      calls: [["fs.write", { path: "out/once.txt", data: "written" }]],
      then: "loop",
    });
    assert.equal(await Deno.readTextFile(join(setup.agents, "out/once.txt")), "written");
    assert.deepEqual([summary.state, summary.attempts], ["lost", 1]);
    assert.ok(!events.some((e) => e.type === "requeued"));
  });
  await t.step("it only read its environment: queued again, attempt 2 to come", async () => {
    const { summary, events } = await killMidRun({ calls: [["env.get", { name: "TZ" }]], then: "loop" });
    assert.deepEqual([summary.state, summary.attempts], ["queued", 1]);
    assert.equal(events.at(-1)?.type, "requeued");
  });
});
