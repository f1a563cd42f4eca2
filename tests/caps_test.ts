/**
 * Limits that match their documentation (issue 11, F5 and after), against real sandboxes: payloads up to the
 * documented caps cross the protocol whole, a line past the run's cap is a limit named with what to raise,
 * output is counted in UTF-8 bytes, a rate limit longer than the time left ends the run at once, and the wall
 * time starts when the sandbox is ready.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./_cli.ts";
import { loopAgent } from "./_loops.ts";
import { type AgentDir, agentDir, countingServer, gone, PROBE, run } from "./_sandbox.ts";
import { channelPath, withChannel } from "../supervisor/channel.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { newRunId } from "../supervisor/records.ts";
import { type RunOptions, type RunOutcome, startRun } from "../supervisor/supervisor.ts";
import { toDenoFlags } from "../capabilities/deno_flags.ts";
import { sandboxEntry } from "../supervisor/assets.ts";
import { lineCap, MAX_MODEL_ANSWER_BYTES, MAX_TASK_BYTES } from "../protocol/line_cap.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { ModelBroker } from "../supervisor/models/broker.ts";
import type { ModelPolicy } from "../capabilities/policy.ts";

const MiB = 1024 * 1024;
const HOSTILE = join(ROOT, "tests/children/hostile.ts");

/** Runs tests/children/hostile.ts with `args` in place of a sandbox, with more run options. */
async function hostile(
  agent: AgentDir,
  args: string[],
  options: Partial<RunOptions> = {},
): Promise<{ outcome: RunOutcome; events: RunEvent[]; pid: number | null }> {
  const policy = await loadPolicy(agent.manifest, agent.config);
  const runtime = { read: [sandboxEntry().dir], write: [], moduleFormat: policy.agent.moduleFormat };
  const stateDir = agent.config.runtime.state_dir;
  const id = newRunId();
  const events: RunEvent[] = [];
  const command = [Deno.execPath(), "run", ...toDenoFlags(policy, { runtime }), HOSTILE, ...args];
  const handle = await startRun(policy, {
    task: "",
    stateDir,
    module: null,
    runtime,
    id,
    command: withChannel(command, channelPath(stateDir, id)),
    onEvent: (e) => events.push(e),
    ...options,
  });
  return { outcome: await handle.done, events, pid: handle.pid };
}

Deno.test("line caps: payloads up to the documented caps cross the protocol whole", async (t) => {
  await t.step("a task of 5 MiB runs ok", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmemory_mb = 256\n");
    const task = JSON.stringify({ do: "big-output", n: 3, pad: "p".repeat(5 * MiB) });
    const ran = await run(agent, task);
    assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
    assert.equal(ran.outcome.output, "yyy");
  });
  await t.step("a task over 8 MiB is refused before anything is spawned", async () => {
    await using agent = await agentDir(PROBE);
    await assert.rejects(run(agent, "t".repeat(MAX_TASK_BYTES + 1)), (e: unknown) => {
      const error = e as { code: string; message: string; hint: string };
      assert.equal(error.code, "ERR_USAGE");
      assert.match(error.message, /The task is 8388609 bytes, more than a run takes \(8388608 bytes\)/);
      assert.match(error.hint, /shorter task/);
      return true;
    });
    const runs = await Array.fromAsync(Deno.readDir(agent.config.runtime.state_dir)).catch(() => []);
    assert.ok(!runs.some((e) => e.name === "runs"), "no run was recorded");
  });
  await t.step("output of 6 MiB with max_output_kb = 16384 runs ok", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmax_output_kb = 16384\nmemory_mb = 256\n");
    const ran = await run(agent, JSON.stringify({ do: "big-output", n: 6 * MiB }));
    assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
    assert.equal(ran.outcome.output?.length, 6 * MiB);
  });
  await t.step("a model answer of 10 MB runs ok", async () => {
    const answer = "z".repeat(10_000_000);
    await using agent = await loopAgent({
      kind: "react",
      turns: [{ reply: { content: answer } }],
      extra: "[limits]\nmax_output_kb = 16384\nmemory_mb = 512\n",
    });
    const { outcome, events } = await run(agent, "go");
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
    assert.equal(outcome.output?.length, answer.length);
    assert.equal(events.filter((e) => e.type === "model" && !e.error).length, 1);
  });
  await t.step("a line past the run's cap ends the run with ERR_LIMIT, naming the cap", async () => {
    await using agent = await agentDir(PROBE);
    const { outcome, events, pid } = await hostile(agent, ["long-line"]);
    assert.equal(outcome.state, "error");
    assert.equal(outcome.error?.code, "ERR_LIMIT");
    assert.match(outcome.error?.message ?? "", /longer than the run's line cap of \d+ bytes/);
    assert.match(outcome.error?.hint ?? "", /raise \[limits\] max_output_kb/);
    assert.doesNotMatch(outcome.error?.hint ?? "", /bug/);
    const limit = events.find((e) => e.type === "limit");
    assert.equal(limit?.limit, "line_bytes");
    assert.ok(Number(limit?.value) > 16 * MiB);
    assert.ok(gone(pid));
  });
  await t.step("the sandbox is told the run's cap, computed from max_output_kb", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmax_output_kb = 16384\n");
    const ran = await run(agent, JSON.stringify({ do: "big-output", n: 1 }));
    const command = ran.events.find((e) => e.type === "run")?.command as string[];
    assert.equal(command.at(-1), `--max-line=${lineCap({ outputBytes: 16 * MiB })}`);
  });
});

Deno.test("a model answer over the 16 MiB cap is ERR_MODEL_RESPONSE", async () => {
  const policy: ModelPolicy = {
    provider: "replay",
    type: "scripted",
    baseUrl: null,
    apiKeyEnv: null,
    transcript: "/big.json",
    timeoutS: 5,
    name: "big",
    maxCalls: 1,
    maxTokens: 1000,
    from: { source: "manifest", file: "agent.toml", line: 1, column: 1, key: "model" },
  };
  const broker = new ModelBroker(policy, {
    transcript: { turns: [{ reply: { content: "é".repeat(MAX_MODEL_ANSWER_BYTES / 2 + 1) } }] },
  });
  await assert.rejects(broker.complete({ messages: [{ role: "user", content: "hi" }] }), (e: unknown) => {
    assert.equal((e as { code: string }).code, "ERR_MODEL_RESPONSE");
    assert.match((e as Error).message, /answered 16777218 bytes, more than 16777216/);
    return true;
  });
});

Deno.test("max_output_kb counts UTF-8 bytes, not UTF-16 units", async (t) => {
  // 40,000 "é" are 40,000 UTF-16 units (under 64 KiB) but 80,000 bytes (over it).
  await using agent = await agentDir(PROBE, "[limits]\nmax_output_kb = 64\n");
  await t.step("an answer of 30,000 é (60,000 bytes) fits", async () => {
    const ran = await run(agent, JSON.stringify({ do: "big-output", n: 30_000, ch: "é" }));
    assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  });
  await t.step("an answer of 40,000 é (80,000 bytes) is past 64 KiB", async () => {
    const ran = await run(agent, JSON.stringify({ do: "big-output", n: 40_000, ch: "é" }));
    assert.equal(ran.outcome.state, "error");
    assert.equal(ran.outcome.error?.code, "ERR_LIMIT");
  });
  await t.step("log lines of 40,000 é in all are past 64 KiB", async () => {
    const ran = await run(agent, JSON.stringify({ do: "flood", n: 40, ch: "é" }));
    assert.equal(ran.outcome.state, "error", JSON.stringify(ran.outcome));
    assert.equal(ran.outcome.error?.code, "ERR_LIMIT");
    assert.equal(ran.events.find((e) => e.type === "limit")?.limit, "max_output_kb");
  });
});

Deno.test("a 429 whose retry-after is past the remaining wall time ends as ERR_MODEL_RATE_LIMIT at once", async () => {
  await using server = countingServer(() =>
    Response.json(
      { error: { message: "Rate limit reached", type: "rate_limit_exceeded" } },
      { status: 429, headers: { "retry-after": "3600" } },
    )
  );
  await using agent = await loopAgent({
    kind: "react",
    provider: `type = "openai"\nbase_url = "${server.origin}/v1"\n`,
    extra: "[limits]\ntimeout_s = 10\n",
  });
  const started = performance.now();
  const { outcome, events } = await run(agent, "go");
  assert.equal(outcome.state, "error", JSON.stringify(outcome));
  assert.equal(outcome.error?.code, "ERR_MODEL_RATE_LIMIT");
  assert.match(outcome.error?.message ?? "", /retry-after of 3600 s is past the run's remaining wall time/);
  assert.ok(performance.now() - started < 8000, "it did not wait for the wall time");
  assert.equal(server.hits.length, 1, "no retry was made");
  const model = events.filter((e) => e.type === "model");
  assert.equal(model.length, 1);
  assert.equal(model[0]?.error, "ERR_MODEL_RATE_LIMIT");
});

Deno.test("the wall time starts when the sandbox is ready", async (t) => {
  await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 1\n");
  await t.step("a start-up slower than timeout_s does not time the run out; it is recorded", async () => {
    const { outcome, events } = await hostile(agent, ["slow-ready", "2500"]);
    assert.equal(outcome.state, "ok", JSON.stringify(outcome));
    assert.equal(outcome.output, "started");
    const timing = events.find((e) => e.type === "timing");
    assert.equal(timing?.phase, "start");
    assert.ok(Number(timing?.waitedMs) >= 2500, JSON.stringify(timing));
    const types = events.map((e) => e.type === "state" ? `state:${e.state}` : e.type);
    assert.ok(types.indexOf("timing") < types.indexOf("state:running"));
  });
  await t.step("start-up has its own cap: ERR_SANDBOX_START", async () => {
    const { outcome, events, pid } = await hostile(agent, ["slow-ready", "30000"], { startTimeoutMs: 1500 });
    assert.equal(outcome.state, "error");
    assert.equal(outcome.error?.code, "ERR_SANDBOX_START");
    assert.match(outcome.error?.message ?? "", /did not start within 1500 ms/);
    assert.equal(events.find((e) => e.type === "timing")?.ready, false);
    assert.ok(gone(pid));
  });
  await t.step("a run that is ready still times out at timeout_s", async () => {
    const { outcome } = await hostile(agent, ["hang"]);
    assert.equal(outcome.state, "timeout");
  });
});
