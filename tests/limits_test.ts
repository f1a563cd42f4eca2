/**
 * Every limit, against real sandboxes: a run that stays inside it, and a run
 * that breaks it and ends with the right state and exit code.
 */

import assert from "node:assert/strict";
import { agentDir, gone, hostileRun, PROBE, PROBE_C, run } from "./_sandbox.ts";

Deno.test("wall time: inside, and a guest stuck in a loop is killed at the limit", async (t) => {
  await t.step("inside the limit", async () => {
    // A run of no calls takes a fraction of a second: 30 s holds it on however busy a machine.
    await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 30\n");
    const ran = await run(agent, JSON.stringify({ calls: [] }));
    assert.equal(ran.outcome.state, "ok");
  });
  await t.step("a loop past the limit", async () => {
    // The loop never ends: only the limit stops it.
    await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 1\n");
    const started = performance.now();
    const ran = await run(agent, JSON.stringify({ do: "loop" }));
    assert.equal(ran.outcome.state, "timeout");
    assert.equal(ran.outcome.exitCode, 124);
    assert.equal(ran.outcome.error?.code, "ERR_TIMEOUT");
    assert.ok(performance.now() - started < 30_000);
    assert.ok(gone(ran.pid), "the sandbox process is gone");
  });
});

Deno.test("WebAssembly memory: the guest memory's maximum holds", async (t) => {
  await t.step("a component inside its memory", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmemory_mb = 32\n");
    const ran = await run(agent, JSON.stringify({ calls: [["fs.read", { path: "notes/a.txt" }]] }));
    assert.equal(ran.outcome.state, "ok");
  });
  await t.step("a component's memory bomb stops at the cap", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmemory_mb = 32\n");
    const ran = await run(agent, JSON.stringify({ do: "bomb" }));
    assert.equal(ran.outcome.state, "oom", JSON.stringify(ran.outcome.error));
    assert.equal(ran.outcome.exitCode, 125);
    assert.ok(gone(ran.pid));
  });
  await t.step("a C module inside its memory", async () => {
    await using agent = await agentDir(PROBE_C, "[limits]\nmemory_mb = 16\n");
    const ran = await run(agent, "grow 4");
    assert.equal(ran.outcome.state, "ok");
    assert.match(ran.outcome.output ?? "", /OK grew 4 MiB/);
  });
  await t.step("a C module asking for more than its memory", async () => {
    await using agent = await agentDir(PROBE_C, "[limits]\nmemory_mb = 16\n");
    const ran = await run(agent, "grow 64");
    assert.equal(ran.outcome.state, "oom", JSON.stringify(ran.outcome.error));
    assert.equal(ran.outcome.exitCode, 125);
    const stdout = ran.events.filter((e) => e.type === "stdout").map((e) => e.data).join("");
    assert.match(stdout, /ERR grew (1[0-5]|[0-9]) MiB/);
  });
});

Deno.test("JS heap: --max-old-space-size holds in the sandbox process", async (t) => {
  await using agent = await agentDir(PROBE, "[limits]\nmemory_mb = 64\n");
  await t.step("a process inside its heap", async () => {
    const outcome = await (await hostileRun(agent, "heap", "16")).done;
    assert.equal(outcome.state, "ok");
    assert.equal(outcome.output, "held 16 MiB");
  });
  await t.step("a process past its heap", async () => {
    const handle = await hostileRun(agent, "heap", "400");
    const outcome = await handle.done;
    assert.equal(outcome.state, "oom");
    assert.equal(outcome.exitCode, 125);
    assert.ok(gone(handle.pid));
  });
});

Deno.test("output size: inside, and past max_output_kb", async (t) => {
  await using agent = await agentDir(PROBE, "[limits]\nmax_output_kb = 64\n");
  await t.step("an answer inside the limit", async () => {
    const ran = await run(agent, JSON.stringify({ do: "big-output", n: 1000 }));
    assert.equal(ran.outcome.state, "ok");
    assert.equal(ran.outcome.output?.length, 1000);
  });
  await t.step("an answer past the limit", async () => {
    const ran = await run(agent, JSON.stringify({ do: "big-output", n: 200_000 }));
    assert.equal(ran.outcome.state, "error");
    assert.equal(ran.outcome.error?.code, "ERR_LIMIT");
    assert.equal(ran.outcome.output, null);
  });
  await t.step("a flood of log lines is cut off", async () => {
    const ran = await run(agent, JSON.stringify({ do: "flood", n: 1_000_000 }));
    assert.equal(ran.outcome.state, "error");
    assert.equal(ran.outcome.error?.code, "ERR_LIMIT");
    assert.ok(gone(ran.pid));
    const logged = ran.events.filter((e) => e.type === "log").length;
    assert.ok(logged < 200, `${logged} log lines were recorded`);
  });
  await t.step("a C module writing past the limit to stdout", async () => {
    await using c = await agentDir(PROBE_C, "[limits]\nmax_output_kb = 64\n");
    const ran = await run(c, "spew 10000000");
    assert.equal(ran.outcome.state, "error");
    assert.equal(ran.outcome.error?.code, "ERR_LIMIT");
    assert.ok(gone(ran.pid));
  });
});

Deno.test("tool calls: inside, and past max_tool_calls", async (t) => {
  await using agent = await agentDir(PROBE, "[limits]\nmax_tool_calls = 5\n");
  await t.step("inside the limit", async () => {
    const ran = await run(agent, JSON.stringify({ do: "many-calls", n: 5 }));
    assert.deepEqual(JSON.parse(ran.outcome.output!), { denied: 0 });
  });
  await t.step("past the limit every further call is refused", async () => {
    const ran = await run(agent, JSON.stringify({ do: "many-calls", n: 12 }));
    assert.deepEqual(JSON.parse(ran.outcome.output!), { denied: 7 });
    const limited = ran.events.filter((e) => e.type === "gate" && e.code === "ERR_LIMIT");
    assert.equal(limited.length, 7);
    assert.equal(limited[0]?.rule, "limits.max_tool_calls");
  });
});
