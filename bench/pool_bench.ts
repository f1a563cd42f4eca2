/**
 * Warm pools side by side (issue 12, item 5): runs through `ironclaw serve` (HTTP on loopback included: POST
 * the run, follow its event stream to the end) with `[serve] pool = 1` and without, against the floor (`deno
 * run` of an empty script), interleaved round by round so the machine's noise falls on all alike:
 *
 * - the shipped hello agent (a component);
 * - Python CodeAct with a scripted model: one step `print(1)`, then the answer. Its first step is also
 *   measured from inside the run: from `running` to the end of the first step's code, and the step alone.
 *
 * A pooled sample is taken only once the pool has a sandbox waiting again (the wait is not timed), which is
 * what a server whose pool keeps up with its load serves. Writes the "Warm pools" section of
 * bench/RESULTS.md.
 *
 * `deno task bench-pool` (`BENCH_ROUNDS` sets the rounds, default 7).
 *
 * @module
 */

import { join } from "node:path";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { type ServeHandle, startServer } from "../supervisor/serve/mod.ts";
import { copyHello } from "./_hello.ts";
import { writeSection } from "./_results.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 7);

const PY_AGENT =
  `[agent]\nname = "py"\nkind = "codeact"\nlanguage = "python"\ninstructions = "Compute."\n\n` +
  `[model]\nprovider = "m"\nname = "scripted"\n`;
const TRANSCRIPT = JSON.stringify({
  label: "bench",
  turns: [{ reply: { content: "```python\nprint(1)\n```" } }, { reply: { content: "done" } }],
});

/** A server over its own folder (hello and py), with or without a pool. */
async function server(root: string, pool: number): Promise<ServeHandle> {
  await copyHello(join(root, "agents", "hello"));
  await Deno.mkdir(join(root, "agents", "py"), { recursive: true });
  await Deno.writeTextFile(join(root, "agents", "py", "agent.toml"), PY_AGENT);
  await Deno.writeTextFile(join(root, "transcript.json"), TRANSCRIPT);
  await Deno.writeTextFile(
    join(root, "ironclaw.toml"),
    `[runtime]\nstate_dir = "state"\n\n[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`,
  );
  const config = await loadRuntimeConfig({ path: join(root, "ironclaw.toml") });
  return await startServer({ config, agentsDir: join(root, "agents"), port: 0, concurrency: 1, pool });
}

interface Sample {
  ms: number;
  events: { type: string; [k: string]: unknown }[];
}

/** Posts a run and follows its events to the end: the time, and the events. */
async function timedRun(s: ServeHandle, agent: string): Promise<Sample> {
  const auth = { authorization: `Bearer ${s.token}` };
  const started = performance.now();
  const posted = await (await fetch(`${s.url}/v1/runs`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ agent, task: "bench" }),
  })).json();
  const text = await (await fetch(`${s.url}/v1/runs/${posted.id}/events`, { headers: auth })).text();
  const ms = performance.now() - started;
  const events = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
  const end = events.find((e) => e.type === "end");
  if (end?.state !== "ok") {
    throw new Error(`a ${agent} run ended ${end?.state}: ${JSON.stringify(end?.error)}`);
  }
  return { ms, events };
}

async function poolReady(s: ServeHandle): Promise<void> {
  const stats = () => s.pool ? ["hello", "py"].map((a) => s.pool!.stats(a)?.idle ?? 0) : [];
  for (let i = 0; stats().some((n) => n < 1); i++) {
    if (i > 2400) throw new Error("the pool did not refill within two minutes");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function floorOnce(dir: string): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "empty.ts"],
    cwd: dir,
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "null",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error("the floor failed");
  return performance.now() - started;
}

/** The resident memory of each waiting pooled sandbox (found by its channel's path), in MB. */
function waitingRss(channelPrefix: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (!cmd.includes(`--channel=${channelPrefix}`) || cmd.includes("setsid")) continue;
      const kb = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${entry.name}/status`))?.[1];
      if (kb) out.push(Number(kb) / 1024);
    } catch { /* gone */ }
  }
  return out.sort((a, b) => a - b);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** From `running` to the end of the first code step, and that step's own time, in ms. */
function firstStep(sample: Sample): { toStep: number; step: number } {
  const running = sample.events.find((e) => e.type === "state" && e.state === "running");
  const code = sample.events.find((e) => e.type === "code");
  return { toStep: Number(code?.ms) - Number(running?.ms), step: Number(code?.durationMs) };
}

const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-pool-" }));
await Deno.writeTextFile(join(work, "empty.ts"), "");
await Deno.mkdir(join(work, "pooled"));
await Deno.mkdir(join(work, "cold"));
const pooled = await server(join(work, "pooled"), 1);
const cold = await server(join(work, "cold"), 0);
const times: Record<string, number[]> = {};
const steps: Record<string, { toStep: number; step: number }[]> = { pooled: [], cold: [] };
const add = (what: string, ms: number) => (times[what] ??= []).push(ms);
let rss: number[] = [];
try {
  // One run of each first: the component cache and the Pyodide snapshot are made, as for every later run.
  for (const s of [cold, pooled]) for (const a of ["hello", "py"]) await timedRun(s, a);
  await floorOnce(work);
  for (let round = 0; round < ROUNDS; round++) {
    add("floor", await floorOnce(work));
    await poolReady(pooled);
    add("hello pooled", (await timedRun(pooled, "hello")).ms);
    add("hello cold", (await timedRun(cold, "hello")).ms);
    await poolReady(pooled);
    const py = await timedRun(pooled, "py");
    add("py pooled", py.ms);
    steps.pooled!.push(firstStep(py));
    const pyCold = await timedRun(cold, "py");
    add("py cold", pyCold.ms);
    steps.cold!.push(firstStep(pyCold));
    console.error(`round ${round + 1}/${ROUNDS}`);
  }
  await poolReady(pooled);
  await new Promise((r) => setTimeout(r, 1000)); // settled
  rss = waitingRss(join(work, "pooled", "state", "channels", "pool-"));
} finally {
  await pooled.close({ stop: true });
  await cold.close({ stop: true });
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

const base = median(times.floor!);
const row = (what: string, key: string) =>
  `| ${what} | ${median(times[key]!).toFixed(1)} ms | ${(median(times[key]!) / base).toFixed(2)}x |`;
const stepRow = (what: string, key: "pooled" | "cold") =>
  `| ${what} | ${median(steps[key]!.map((s) => s.toStep)).toFixed(1)} ms | ${
    median(steps[key]!.map((s) => s.step)).toFixed(1)
  } ms |`;
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ").slice(0, 3).join(" ");
const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
const section = `## Warm pools (\`deno task bench-pool\`)

Run ${stamp} UTC, ${navigator.hardwareConcurrency} cores, load average ${load} at the end, ${ROUNDS} rounds
interleaved (floor, hello pooled, hello cold, Python pooled, Python cold). Each run goes through \`ironclaw serve\`
(library entry, concurrency 1): POST the run, follow its event stream to the \`end\` event. A pooled sample is
taken once the pool has a sandbox waiting again (the wait is not timed).

| what | median | vs floor |
| --- | --- | --- |
| floor: \`deno run\` of an empty script | ${base.toFixed(1)} ms | 1.00x |
${row("hello through serve, pooled sandbox (`[serve] pool = 1`)", "hello pooled")}
${row("hello through serve, sandbox started for the run", "hello cold")}
${row("Python CodeAct (`print(1)`, scripted model) through serve, pooled", "py pooled")}
${row("Python CodeAct through serve, sandbox started for the run (memory snapshot)", "py cold")}

Python CodeAct's first step, from inside the run (the run's event times):

| what | \`running\` to the first step's end | the step alone |
| --- | --- | --- |
${stepRow("pooled (interpreter loaded ahead)", "pooled")}
${stepRow("started for the run", "cold")}

Resident memory of the waiting sandboxes (one per agent: hello's component, compiled and instantiated; Python's
interpreter, loaded): ${rss.map((mb) => `${mb.toFixed(1)} MB`).join(", ")}.

Targets (issue 12): a pooled run through \`serve\`, HTTP included, within 0.5x the floor; a pooled Python
CodeAct's first step within 50 ms.
`;
console.log(section);
await writeSection(section, { before: "## Runs submitted at once" });
