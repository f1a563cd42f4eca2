/**
 * The supervisor survives whatever its child does: crashes, hangs, floods,
 * garbage, protocol violations. Each run ends with a clear state, its record
 * intact, and no process left behind. Children here are real processes under
 * a real Policy's flags.
 */

import assert from "node:assert/strict";
import { type AgentDir, agentDir, gone, hostileRun, PROBE, run } from "./_sandbox.ts";
import { runAgent } from "../supervisor/run.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { showRun } from "../supervisor/records.ts";

/** Runs the hostile child doing `what`; the caller disposes of the agent. */
async function hostile(what: string, limits = "[limits]\ntimeout_s = 5\n") {
  const agent = await agentDir(PROBE, limits);
  const handle = await hostileRun(agent, what);
  return { agent, outcome: await handle.done, pid: handle.pid };
}

const cases: [string, string, string][] = [
  // [child behaviour, end state, error code]
  ["crash", "error", "ERR_SANDBOX_CRASHED"],
  ["garbage", "error", "ERR_PROTOCOL"],
  ["long-line", "error", "ERR_LIMIT"], // past the run's line cap: a limit named with what to raise
  ["wrong-version", "error", "ERR_PROTOCOL"],
  ["result-before-ready", "error", "ERR_PROTOCOL"],
  ["event-flood", "error", "ERR_PROTOCOL"],
  ["forge-end", "error", "ERR_PROTOCOL"],
];

Deno.test("the supervisor survives a hostile child", async (t) => {
  for (const [what, state, code] of cases) {
    await t.step(what, async () => {
      const { agent, outcome, pid } = await hostile(what);
      await using _ = agent;
      assert.equal(outcome.state, state);
      assert.equal(outcome.error?.code, code, JSON.stringify(outcome.error));
      assert.equal(outcome.exitCode, 1);
      assert.ok(gone(pid), "no child outlives its run");
    });
  }
  await t.step("hang: the wall-time limit ends it", async () => {
    const { agent, outcome, pid } = await hostile("hang", "[limits]\ntimeout_s = 1\n");
    await using _ = agent;
    assert.equal(outcome.state, "timeout");
    assert.equal(outcome.exitCode, 124);
    assert.ok(gone(pid));
  });
});

Deno.test("a crashed child's record is intact", async () => {
  const { agent, outcome } = await hostile("crash");
  await using _ = agent;
  const { summary, events } = await showRun(agent.config.runtime.state_dir, outcome.id);
  assert.equal(summary.state, "error");
  assert.equal(summary.exitCode, 1);
  const logs = events.filter((e) => e.type === "log").map((e) => e.message);
  assert.deepEqual(logs, [0, 1, 2, 3, 4].map((i) => `before crash ${i}`));
  assert.equal(events.at(-1)?.type, "end");
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i), "no event lost or reordered");
});

/** Starts a probe busy in a WebAssembly loop, and resolves once the guest is in it. */
async function loopingRun(agent: AgentDir, graceMs: number) {
  const policy = await loadPolicy(agent.manifest, agent.config);
  let looping!: () => void;
  const inLoop = new Promise<void>((r) => looping = r);
  const handle = await runAgent(policy, agent.config, {
    task: JSON.stringify({ do: "loop" }),
    graceMs,
    onEvent: (e) => e.type === "log" && e.message === "looping" && looping(),
  });
  await inLoop;
  return handle;
}

Deno.test("stop: a stop message, a grace period, then kill; a second stop kills at once", async (t) => {
  await t.step("a guest in a loop does not keep its sandbox from stopping", async () => {
    // The guest loops in its own Worker: the sandbox's main thread reads the stop and ends at once.
    await using agent = await agentDir(PROBE);
    const handle = await loopingRun(agent, 60_000);
    handle.stop("SIGINT");
    const outcome = await handle.done;
    assert.equal(outcome.state, "interrupted");
    assert.equal(outcome.exitCode, 130);
    assert.ok(gone(handle.pid));
    const { events } = await showRun(agent.config.runtime.state_dir, outcome.id);
    assert.ok(events.some((e) => e.type === "stopped"), "the sandbox said it stopped");
    assert.ok(!events.some((e) => e.type === "stop" && String(e.reason).includes("grace period")));
  });
  await t.step("a sandbox that ignores the stop is killed after the grace period", async () => {
    await using agent = await agentDir(PROBE);
    const handle = await hostileRun(agent, "ignore-stop");
    await new Promise((r) => setTimeout(r, 300));
    handle.stop("SIGINT");
    const outcome = await handle.done;
    assert.equal(outcome.state, "interrupted");
    assert.ok(gone(handle.pid));
    const { events } = await showRun(agent.config.runtime.state_dir, outcome.id);
    assert.ok(events.some((e) => e.type === "stop" && String(e.reason).includes("grace period")));
  });
  await t.step("a second stop does not wait for the grace period", async () => {
    await using agent = await agentDir(PROBE);
    const handle = await loopingRun(agent, 60_000);
    handle.stop("SIGINT");
    handle.stop("SIGINT");
    const outcome = await handle.done;
    assert.equal(outcome.state, "interrupted");
    assert.ok(gone(handle.pid));
    const { events } = await showRun(agent.config.runtime.state_dir, outcome.id);
    assert.ok(events.some((e) => e.type === "stop" && String(e.reason).includes("second signal")));
  });
});

Deno.test("a program the agent started does not outlive its run", async () => {
  // A marker no other process has, so the test finds exactly the program it started.
  const seconds = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
  const extra = `[capabilities.run]\ndangerous = true\nallow = ["sleep"]\n[limits]\ntimeout_s = 1\n`;
  await using agent = await agentDir(PROBE, extra);
  const ran = await run(agent, JSON.stringify({ calls: [["proc.run", { cmd: "sleep", args: [seconds] }]] }));
  assert.equal(ran.outcome.state, "timeout");
  const alive: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (cmdline.includes(seconds) && !gone(Number(e.name))) alive.push(Number(e.name));
    } catch { /* gone meanwhile */ }
  }
  assert.deepEqual(alive, [], `sleep ${seconds} is still running`);
});
