/**
 * How the sandbox process starts, side by side in one run: `deno task bench-start`
 * (writes its section of bench/RESULTS.md).
 *
 * - floor: `deno run` of an empty script
 * - the sandbox entry from spawn to exit (it says ready and leaves when its stdin closes), run as the
 *   supervisor runs it (`--no-prompt --cached-only --no-config`): the bundle on an empty Deno cache folder,
 *   on a copy of the warmed seed (what each run gets), and the unbundled source on the caller's warm cache
 *   (what runs did before the bundle, and which fails on a fresh cache)
 * - a hello run from a supervisor that is up, in process mode and in worker mode
 *
 * Rounds are interleaved so every variant sees the same machine.
 *
 * @module
 */

import { join } from "node:path";
import { copyHello } from "./_hello.ts";
import { fileURLToPath } from "node:url";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent } from "../supervisor/run.ts";
import { ensureSandboxEntry } from "../supervisor/assets.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = Deno.execPath();
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 15);
const SECTION = "## Sandbox start (`deno task bench-start`)";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeStart(args: string[], env: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(DENO, {
    args,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (!out.success) throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  return ms;
}

const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-start-" }));
try {
  await Deno.writeTextFile(join(work, "empty.ts"), "");
  const entry = await ensureSandboxEntry();
  if (!entry.seed) throw new Error("no warmed seed was made for the bundle");
  const flags = ["run", "--no-prompt", "--cached-only", "--no-config"];
  const fresh = (name: string) => join(work, `${name}-${crypto.randomUUID()}`);
  const copySeed = async () => {
    const dir = fresh("seeded");
    await Deno.mkdir(dir);
    for (const e of Deno.readDirSync(entry.seed!)) {
      if (e.isFile) await Deno.copyFile(join(entry.seed!, e.name), join(dir, e.name));
    }
    return dir;
  };

  const floor: number[] = [];
  const empty: number[] = [];
  const seeded: number[] = [];
  const source: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    floor.push(await timeStart(["run", "--quiet", join(work, "empty.ts")]));
    empty.push(await timeStart([...flags, entry.path], { DENO_DIR: fresh("empty") }));
    seeded.push(await timeStart([...flags, entry.path], { DENO_DIR: await copySeed() }));
    source.push(await timeStart([...flags, join(ROOT, "sandbox", "sandbox.ts")]));
  }

  // Hello, from a supervisor that is up: process mode and worker mode, paired.
  const hello = join(work, "hello");
  await copyHello(hello);
  const config = parseRuntimeConfig(`[runtime]\nstate_dir = "state"\n`, {
    path: join(work, "ironclaw.toml"),
  });
  const policy = await loadPolicy(join(hello, "agent.toml"), config);
  const timeRun = async (mode: "process" | "worker") => {
    const started = performance.now();
    const outcome = await (await runAgent(policy, config, { task: "bench", sandboxMode: mode })).done;
    if (outcome.state !== "ok") throw new Error(JSON.stringify(outcome.error));
    return performance.now() - started;
  };
  await timeRun("process");
  const processRuns: number[] = [];
  const workerRuns: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    processRuns.push(await timeRun("process"));
    workerRuns.push(await timeRun("worker"));
  }

  const f = (x: number) => `${x.toFixed(1)} ms`;
  const ratio = (x: number[], base: number[]) => `${(median(x) / median(base)).toFixed(2)}x`;
  const rows = [
    ["floor: `deno run` of an empty script", f(median(floor)), "1.00x"],
    ["sandbox bundle, empty Deno cache folder", f(median(empty)), ratio(empty, floor)],
    ["sandbox bundle, copy of the warmed seed (each run)", f(median(seeded)), ratio(seeded, floor)],
    [
      "unbundled sandbox/sandbox.ts, the caller's warm cache (before)",
      f(median(source)),
      ratio(source, floor),
    ],
    ["hello from a supervisor that is up, process mode", f(median(processRuns)), ratio(processRuns, floor)],
    ["hello from a supervisor that is up, worker mode", f(median(workerRuns)), ratio(workerRuns, floor)],
  ];
  const table = [
    "| what | median | vs floor |",
    "| --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ]
    .join("\n");
  console.log(table);
  const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
  const section =
    `${SECTION}\n\nCommand: \`deno task bench-start\` (bench/start_bench.ts; \`BENCH_ROUNDS\`, default 15). ` +
    `Run ${stamp} UTC, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, rounds interleaved. ` +
    `Spawn to exit of the sandbox process (it says ready and leaves when its stdin closes), with the flags the ` +
    `supervisor gives it.\n\n${table}\n\nWorker mode / process mode: ${ratio(workerRuns, processRuns)}. ` +
    `Seeded / empty cache folder: ${(median(seeded) / median(empty)).toFixed(2)}x.\n`;
  const results = join(ROOT, "bench", "RESULTS.md");
  const old = await Deno.readTextFile(results).catch(() => "");
  const at = old.indexOf(SECTION);
  let text: string;
  if (at < 0) text = `${old.trimEnd()}\n\n${section}`;
  else {
    const next = old.indexOf("\n## ", at + SECTION.length);
    text = old.slice(0, at) + section + (next < 0 ? "" : old.slice(next));
  }
  await Deno.writeTextFile(results, text);
} finally {
  await Deno.remove(work, { recursive: true });
}
