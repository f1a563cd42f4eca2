/**
 * Signals against a real `ironclaw run` (issue 11, item 2): every stop
 * signal, whenever it comes, ends the run the documented way (exit 130,
 * state `interrupted`), the record ends with its `end` event, and no sandbox
 * process is left. A SIGKILL leaves the run `lost` (F1 in store_faults_test.ts).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { awaitNoProcessWith, type LoopingRun, processesWith, startLoopingRun } from "./_cli.ts";
import { type AgentDir, agentDir, PROBE } from "./_sandbox.ts";
import { showRun } from "../supervisor/records.ts";
import { EXIT_CODES } from "../supervisor/outcome.ts";

/** How often each start race is run: a signal that lands in a gap shows up as a flaky failure here. */
const RACE_REPEATS = 10;

/** The run's id, from its `run` event (read by then). */
function runId(text: string): string {
  const line = text.split("\n").find((l) => l.startsWith('{"') && l.includes('"type":"run"'));
  assert.ok(line, `no run event in: ${text.slice(0, 500)}`);
  return JSON.parse(line).id as string;
}

/**
 * Sends `signal` to the CLI as soon as `marker` is on its stdout, then checks the documented end: exit 130
 * (not a death by the signal), `end` state `interrupted` on stdout and in the record, no sandbox left.
 */
async function signalAt(
  agent: AgentDir,
  stateHome: string,
  signal: Deno.Signal,
  marker: string,
): Promise<void> {
  const cli: LoopingRun = startLoopingRun(agent.manifest, { cwd: agent.dir, stateHome });
  let text = await cli.until(marker);
  cli.child.kill(signal);
  text = await cli.until(null);
  const status = await cli.child.status;
  const where = `${signal} at ${marker}: ${text.slice(-600)}`;
  assert.equal(status.signal, null, `the CLI died of ${status.signal}: ${where}`);
  assert.equal(status.code, EXIT_CODES.interrupted, where);
  const end = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.deepEqual([end.type, end.state, end.error?.code], ["end", "interrupted", "ERR_INTERRUPTED"], where);
  assert.match(text, /"type":"state","state":"exited"/, `the sandbox exited before the CLI did: ${where}`);
  await awaitNoProcessWith(cli.channelArg());
  assert.deepEqual(processesWith(cli.channelArg()), [], `a sandbox outlived its run: ${where}`);
  const { summary, events } = await showRun(join(stateHome, "ironclaw"), runId(text));
  assert.equal(summary.state, "interrupted", where);
  assert.equal(summary.exitCode, EXIT_CODES.interrupted, where);
  assert.equal(events.at(-1)?.type, "end", where);
  assert.deepEqual(events.map((e) => e.seq), [...events.keys()], "one sequence, from 0, with no gap");
}

Deno.test("every stop signal ends a running ironclaw run: exit 130, an end event recorded, no sandbox left", async (t) => {
  const stateHome = await Deno.makeTempDir({ prefix: "ironclaw-signals-" });
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 120\n");
  try {
    for (const signal of ["SIGHUP", "SIGQUIT", "SIGINT", "SIGTERM"] as const) {
      await t.step(`${signal} while the guest runs`, () => signalAt(agent, stateHome, signal, '"looping"'));
    }
  } finally {
    await Deno.remove(stateHome, { recursive: true });
  }
});

Deno.test("a signal right after the run starts never kills the CLI and never leaves a sandbox", async (t) => {
  const stateHome = await Deno.makeTempDir({ prefix: "ironclaw-signals-" });
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 120\n");
  try {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      for (const marker of ['"type":"run"', '"state":"starting"']) {
        await t.step(`${signal} as soon as ${marker} is printed, ${RACE_REPEATS} times`, async () => {
          for (let i = 0; i < RACE_REPEATS; i++) await signalAt(agent, stateHome, signal, marker);
        });
      }
    }
  } finally {
    await Deno.remove(stateHome, { recursive: true });
  }
});
