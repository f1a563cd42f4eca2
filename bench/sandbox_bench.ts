/**
 * Side-by-side figures of the sandbox, in one run on one machine:
 * `deno task bench` (it writes bench/RESULTS.md).
 *
 * - floor: a bare `deno run` of an empty script (one Deno start)
 * - `ironclaw run` of the hello agent, cold (new CLI process, component already in the cache), and its first
 *   run with an empty cache (jco transpiles it)
 * - a warm re-run: the same agent run again from a supervisor that is already up (library API)
 * - one gate round trip from inside a component guest, and from a WASI guest
 * - a small `fs.read` through the gate from a component guest against the direct Deno call of the same op
 *   (`Deno.readTextFileSync` of the same file, in the bench process), as a ratio
 * - resident memory of one sandbox process (a component guest)
 *
 * @module
 */

import { join } from "node:path";
import { copyHello } from "./_hello.ts";
import { fileURLToPath } from "node:url";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent } from "../supervisor/run.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = Deno.execPath();
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 15);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeCommand(args: string[], cwd = ROOT): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(DENO, { args, cwd, stdout: "null", stderr: "piped" }).output();
  const ms = performance.now() - started;
  if (!out.success) throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  return ms;
}

const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-" }));
try {
  // The hello agent, copied so the bench does not touch the example's output.
  const hello = join(work, "hello");
  await copyHello(hello);
  await Deno.writeTextFile(
    join(work, "ironclaw.toml"),
    `[runtime]\nstate_dir = "state"\n[limits]\nmax_tool_calls = 1000000\nmax_output_kb = 1048576\n`,
  );
  await Deno.writeTextFile(join(work, "empty.ts"), "");
  const cli = [
    "run",
    "-A",
    "--quiet",
    join(ROOT, "mod.ts"),
    "run",
    join(hello, "agent.toml"),
    "--task",
    "bench",
    "--config",
    join(work, "ironclaw.toml"),
  ];

  // Empty cache: jco transpiles the component once.
  const firstRun = await timeCommand(cli, work);

  // Floor and cold CLI runs, interleaved so both see the same machine.
  const floor: number[] = [];
  const cold: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    floor.push(await timeCommand(["run", "--quiet", join(work, "empty.ts")], work));
    cold.push(await timeCommand(cli, work));
  }

  // Warm re-runs from a supervisor that is already up.
  const config = parseRuntimeConfig(
    `[runtime]\nstate_dir = "state"\n[limits]\nmax_tool_calls = 1000000\nmax_output_kb = 1048576\n`,
    { path: join(work, "ironclaw.toml") },
  );
  const policy = await loadPolicy(join(hello, "agent.toml"), config);
  const warm: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    const outcome = await (await runAgent(policy, config, { task: "bench" })).done;
    if (outcome.state !== "ok") throw new Error(JSON.stringify(outcome));
    warm.push(performance.now() - started);
  }

  // Gate round trips: a run of N calls minus a run of none, divided by N.
  const probeDir = join(work, "probe");
  await Deno.mkdir(join(probeDir, "notes"), { recursive: true });
  await Deno.writeTextFile(join(probeDir, "notes", "a.txt"), "a");
  const perCall = async (module: string, task: (n: number) => string, n: number) => {
    await Deno.writeTextFile(
      join(probeDir, "agent.toml"),
      `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${module}"\n[capabilities.fs]\nread = ["notes"]\n` +
        `[capabilities.env]\nallow = ["BENCH_VAR"]\n[limits]\nmax_tool_calls = 1000000\nmax_output_kb = 1048576\n`,
    );
    const p = await loadPolicy(join(probeDir, "agent.toml"), config);
    const timeRun = async (k: number) => {
      const started = performance.now();
      const outcome = await (await runAgent(p, config, { task: task(k) })).done;
      if (outcome.state !== "ok") throw new Error(JSON.stringify(outcome.error));
      return performance.now() - started;
    };
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) samples.push(((await timeRun(n)) - (await timeRun(0))) / n * 1000);
    return median(samples);
  };
  Deno.env.set("BENCH_VAR", "x");
  const gateCheap = await perCall(
    join(ROOT, "tests/agents/out/probe.wasm"),
    (k) => JSON.stringify({ do: "repeat", n: k, op: "env.get", args: { name: "BENCH_VAR" } }),
    5000,
  );
  const gateCheapWasi = await perCall(
    join(ROOT, "tests/agents/out/probe_c.wasm"),
    (k) => Array.from({ length: k }, () => `call env.get {"name":"BENCH_VAR"}`).join("\n") || "list /notes",
    2000,
  );
  const gateComponent = await perCall(
    join(ROOT, "tests/agents/out/probe.wasm"),
    (k) => JSON.stringify({ do: "repeat", n: k, op: "fs.list", args: { path: "notes" } }),
    5000,
  );
  const gateRead = await perCall(
    join(ROOT, "tests/agents/out/probe.wasm"),
    (k) => JSON.stringify({ do: "repeat", n: k, op: "fs.read", args: { path: "notes/a.txt" } }),
    5000,
  );
  // The same op without the gate: a direct synchronous read of the same small file, in this process.
  const directRead = (() => {
    const file = join(probeDir, "notes", "a.txt");
    const n = 20000;
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      for (let k = 0; k < n; k++) Deno.readTextFileSync(file);
      samples.push((performance.now() - started) / n * 1000);
    }
    return median(samples);
  })();
  const gateWasi = await perCall(
    join(ROOT, "tests/agents/out/probe_c.wasm"),
    (k) => Array.from({ length: k }, () => `call fs.list {"path":"notes"}`).join("\n") || "list /notes",
    2000,
  );

  // Resident memory of one sandbox: a component guest busy in a loop, sampled from /proc.
  await Deno.writeTextFile(
    join(probeDir, "agent.toml"),
    `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${
      join(ROOT, "tests/agents/out/probe.wasm")
    }"\n[limits]\ntimeout_s = 2\n`,
  );
  const loopPolicy = await loadPolicy(join(probeDir, "agent.toml"), config);
  let rss = 0;
  const handle = await runAgent(loopPolicy, config, {
    task: JSON.stringify({ do: "loop" }),
    onEvent: (e) => {
      if (e.type === "log" && handle.pid !== null) {
        setTimeout(() => {
          const status = Deno.readTextFileSync(`/proc/${handle.pid}/status`);
          rss = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024;
        }, 300);
      }
    },
  });
  await handle.done;

  const f = (x: number) => x.toFixed(1);
  const rows = [
    ["floor: `deno run` of an empty script", `${f(median(floor))} ms`, "1.00x"],
    [
      "`ironclaw run` hello, cold (new CLI process, component cached)",
      `${f(median(cold))} ms`,
      `${(median(cold) / median(floor)).toFixed(2)}x`,
    ],
    [
      "`ironclaw run` hello, first run (empty cache: jco transpiles)",
      `${f(firstRun)} ms`,
      `${(firstRun / median(floor)).toFixed(2)}x`,
    ],
    [
      "warm re-run (supervisor up: sandbox start, instantiate, run)",
      `${f(median(warm))} ms`,
      `${(median(warm) / median(floor)).toFixed(2)}x`,
    ],
    [
      "gate round trip from a component guest (env.get: checked, answered, recorded)",
      `${f(gateCheap)} µs`,
      "",
    ],
    ["gate round trip from a WASI guest (env.get)", `${f(gateCheapWasi)} µs`, ""],
    ["gate call with file I/O from a component guest (fs.list)", `${f(gateComponent)} µs`, ""],
    ["gate call with file I/O from a WASI guest (fs.list)", `${f(gateWasi)} µs`, ""],
    ["small `fs.read` through the gate from a component guest", `${f(gateRead)} µs`, ""],
    [
      "the same read as a direct call (`Deno.readTextFileSync`, bench process)",
      `${f(directRead)} µs`,
      `gate: ${(gateRead / directRead).toFixed(1)}x`,
    ],
    ["resident memory of one sandbox (component guest)", `${f(rss)} MB`, ""],
  ];
  const table = [
    "| what | median | vs floor |",
    "| --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
  console.log(table);
  const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
  const text =
    `# Benchmarks\n\nCommand: \`deno task bench\` (bench/sandbox_bench.ts; \`BENCH_ROUNDS\` sets the rounds, default 15).\n` +
    `Run ${stamp} UTC, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, one shared and noisy machine; ` +
    `the floor and the cold runs are interleaved, ${ROUNDS} rounds each. Gate round trips: (run of N calls - run of none) / N, ` +
    `median of 5, each call checked, executed and recorded (an event sent to the supervisor and written to the run's log).\n\n` +
    `${table}\n\nTargets (issue 3): cold run within 4x the floor; gate round trip under 50 µs; under 80 MB a sandbox. ` +
    `Targets (issue 12): cold run within 3x the floor; a small \`fs.read\` through the gate within 4x the direct call.\n`;
  // Keep the hand-written reading of the figures below the generated part.
  const results = join(ROOT, "bench", "RESULTS.md");
  const previous = await Deno.readTextFile(results).catch(() => "");
  const reading = previous.indexOf("## Reading the figures");
  await Deno.writeTextFile(results, reading >= 0 ? `${text}\n${previous.slice(reading)}` : text);
} finally {
  await Deno.remove(work, { recursive: true });
}
