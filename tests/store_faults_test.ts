/**
 * Faults against run records (issue 11, F1, F3, F7): a supervisor killed
 * outright leaves its run `lost`, never "running"; a store that fills up ends
 * the run cleanly with `ERR_STORE`; a second run with a taken id is refused and
 * the first run's record stays intact.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { agentDir, gone, hostileRunWith, PROBE } from "./_sandbox.ts";
import { awaitNoProcessWith, type CliResult, ROOT, runCli, startLoopingRun } from "./_cli.ts";
import { showRun } from "../supervisor/records.ts";
import { EXIT_CODES } from "../supervisor/outcome.ts";
import { SqliteRunStore } from "../supervisor/store/mod.ts";
import { newRunId } from "../supervisor/records.ts";
import type { IronclawError } from "../manifests/errors.ts";

/** Runs the CLI to its end, with `XDG_STATE_HOME` set. */
function cli(state: string, ...args: string[]): Promise<CliResult> {
  return runCli(args, { env: { NO_COLOR: "1", XDG_STATE_HOME: state } });
}

Deno.test("F1: a SIGKILLed ironclaw run is listed lost, not running", async () => {
  const state = await Deno.makeTempDir();
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 120\n");
  try {
    const running = startLoopingRun(agent.manifest, { cwd: agent.dir, stateHome: state });
    const text = await running.until('"looping"');
    const id = JSON.parse(text.split("\n").find((l) => l.includes('"type":"run"'))!).id as string;
    await running.release();
    running.child.kill("SIGKILL");
    await running.child.status;
    const listed = await cli(state, "runs", "list", "--json");
    assert.equal(listed.code, 0, listed.stderr);
    const run = (JSON.parse(listed.stdout) as { id: string; state: string; exitCode: number }[])
      .find((r) => r.id === id);
    assert.deepEqual([run?.state, run?.exitCode], ["lost", EXIT_CODES.lost]);
    const shown = await cli(state, "runs", "show", id, "--json");
    const end = (JSON.parse(shown.stdout).events as { type: string; error?: { code: string } }[]).at(-1);
    assert.deepEqual([end?.type, end?.error?.code], ["end", "ERR_LOST"]);
    const human = await cli(state, "runs", "list", "--state", "lost");
    assert.match(human.stdout, new RegExp(`${id}  lost`));
    // The sandbox notices its channel closed: wait for it, so the state folder can go.
    await awaitNoProcessWith(running.channelArg());
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("F7: a second run with a taken id is refused, and the first run's record is intact", async () => {
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 20\n");
  const id = newRunId();
  const first = await hostileRunWith(agent, { id }, "hang");
  await assert.rejects(() => hostileRunWith(agent, { id }, "crash"), (e: IronclawError) => {
    assert.equal(e.code, "ERR_RUN_EXISTS");
    return true;
  });
  first.stop("test over");
  const outcome = await first.done;
  assert.equal(outcome.state, "interrupted");
  assert.ok(gone(first.pid));
  const { summary, events } = await showRun(agent.config.runtime.state_dir, id);
  assert.equal(summary.state, "interrupted");
  assert.deepEqual(events.map((e) => e.seq), [...events.keys()], "one sequence, from 0, with no gap");
  assert.equal(events.filter((e) => e.type === "run").length, 1);
  assert.equal(events.at(-1)?.type, "end");
});

Deno.test("F3: a store that fills up mid-run ends the run with ERR_STORE, and its sandbox is stopped", async () => {
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 20\n");
  const dir = await Deno.makeTempDir();
  const store = SqliteRunStore.open(dir, { maxPageCount: 80 });
  try {
    const handle = await hostileRunWith(agent, { store }, "event-flood");
    const outcome = await handle.done;
    assert.equal(outcome.state, "error");
    assert.equal(outcome.error?.code, "ERR_STORE", JSON.stringify(outcome.error));
    assert.match(outcome.error?.hint ?? "", /writable/);
    assert.ok(gone(handle.pid), "the sandbox outlived a failed store");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("F3: a state folder under a regular file makes ironclaw run fail with ERR_STORE, not a crash", async () => {
  await using agent = await agentDir(PROBE);
  await Deno.writeTextFile(join(agent.dir, "ironclaw.toml"), '[runtime]\nstate_dir = "blocker/state"\n');
  await Deno.writeTextFile(join(agent.dir, "blocker"), "");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(ROOT, "mod.ts"), "run", agent.manifest, "--task", '{"do":"echo"}'],
    cwd: agent.dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 1, stderr);
  assert.match(stderr, /ERR_STORE/);
  assert.doesNotMatch(stderr, /bug in IronClaw|Uncaught/);
});

Deno.test("ironclaw runs tail follows a live run to its end; list filters; prune removes old runs", async (t) => {
  const state = await Deno.makeTempDir();
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 3\n");
  try {
    const running = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", join(ROOT, "mod.ts"), "run", agent.manifest, "--task", '{"do":"loop"}'],
      cwd: agent.dir,
      stdout: "null",
      stderr: "null",
      env: { NO_COLOR: "1", XDG_STATE_HOME: state },
    }).spawn();
    let id = "";
    for (let i = 0; i < 200 && !id; i++) {
      const listed = await cli(state, "runs", "list", "--json", "--state", "running");
      id = (JSON.parse(listed.stdout || "[]") as { id: string }[])[0]?.id ?? "";
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(id, "the run was listed running");
    await t.step("tail prints events until the end event", async () => {
      const tailed = await cli(state, "runs", "tail", id, "--json");
      assert.equal(tailed.code, 0, tailed.stderr);
      const events = tailed.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(events[0]?.type, "run");
      assert.deepEqual([events.at(-1)?.type, events.at(-1)?.state], ["end", "timeout"]);
      assert.deepEqual(events.map((e) => e.seq), [...events.keys()]);
    });
    assert.equal((await running.status).code, 124);
    await t.step("list filters by agent, state and time", async () => {
      const count = async (...args: string[]) =>
        (JSON.parse((await cli(state, "runs", "list", "--json", ...args)).stdout) as unknown[]).length;
      assert.equal(await count("--state", "timeout"), 1);
      assert.equal(await count("--state", "ok"), 0);
      assert.equal(await count("--agent", "nobody"), 0);
      assert.equal(await count("--since", "1h"), 1);
      assert.equal(await count("--since", "2099-01-01"), 0);
      assert.equal(await count("--limit", "0"), 0);
    });
    await t.step("usage errors exit 2", async () => {
      for (const args of [["prune"], ["list", "--since", "yesterday"], ["list", "--limit", "-1"], ["tail"]]) {
        const out = await cli(state, "runs", ...args);
        assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
        assert.match(out.stderr, /ERR_USAGE/);
      }
    });
    await t.step("prune keeps younger runs and removes older ones, printing them", async () => {
      const kept = await cli(state, "runs", "prune", "--older-than", "1h");
      assert.equal(kept.code, 0);
      assert.equal(kept.stdout, "");
      const removed = await cli(state, "runs", "prune", "--older-than", "0s");
      assert.match(removed.stdout, new RegExp(`removed ${id}`));
      const after = await cli(state, "runs", "show", id);
      assert.equal(after.code, 1);
      assert.match(after.stderr, /ERR_NOT_FOUND/);
    });
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
