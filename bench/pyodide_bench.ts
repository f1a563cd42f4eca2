/**
 * Measures how long a Python session takes to start in a fresh, restricted
 * process: cold (`createPyodideSession`) and from a memory snapshot
 * (`createPyodideSessionFromSnapshot`), plus what the deadline's polling costs.
 *
 * `deno task bench-pyodide` (`deno run -A bench/pyodide_bench.ts [runs]`) spawns each child as
 * the sandbox would (`deno run --no-prompt --cached-only --no-config
 * --allow-read=<pyodide dir>[,<snapshot file>]`) and prints medians: the time
 * inside the child from before the session is created to its first step's
 * result, and the wall time from spawn to exit.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type CodeSession,
  type CodeSessionOptions,
  createPyodideSession,
  createPyodideSessionFromSnapshot,
  makePyodideSnapshot,
  pyodideAssetsDir,
} from "../sandbox/codeact/pyodide_session.ts";

const OPTIONS: CodeSessionOptions = {
  tools: {},
  memoryBytes: 512 * 2 ** 20,
  stepDeadlineMs: 60_000,
  maxOutputBytes: 1024,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** In a child: start a session, run one step, print the milliseconds it took. */
async function child(mode: string, snapshotFile: string | undefined): Promise<void> {
  const start = performance.now();
  const session: CodeSession = mode === "snapshot"
    ? await createPyodideSessionFromSnapshot(OPTIONS, await Deno.readFile(snapshotFile!))
    : await createPyodideSession(OPTIONS);
  const r = await session.run("sum(range(10))");
  const ms = performance.now() - start;
  if (r.value !== "45") throw new Error(`Unexpected result: ${JSON.stringify(r)}`);
  if (mode === "overhead") {
    // The deadline's getter is polled while Python runs: time a pure-Python loop with it armed.
    const loop = "x = 0\nfor i in range(3_000_000):\n    x += i";
    const t = performance.now();
    await session.run(loop);
    console.log(JSON.stringify({ ms, loopMs: performance.now() - t }));
  } else {
    console.log(JSON.stringify({ ms }));
  }
  session.dispose();
}

async function spawn(
  mode: string,
  read: string[],
  extra: string[] = [],
): Promise<{ ms: number; wallMs: number }> {
  const start = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--cached-only",
      // The project's config and lockfile resolve Pyodide as the parent did (a child without them needs
      // registry metadata the parent never fetched); the sandbox itself runs a bundle instead.
      `--config=${fileURLToPath(new URL("../deno.json", import.meta.url))}`,
      `--allow-read=${read.join(",")}`,
      fileURLToPath(import.meta.url),
      mode,
      ...extra,
    ],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - start;
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "{}";
  return { ...(JSON.parse(line) as { ms: number }), wallMs };
}

async function main(runs: number): Promise<void> {
  const dir = pyodideAssetsDir();
  const t = performance.now();
  const snapshot = await makePyodideSnapshot();
  const makeMs = performance.now() - t;
  const file = await Deno.makeTempFile({ suffix: ".pyodide-snapshot" });
  try {
    await Deno.writeFile(file, snapshot);
    const cold: { ms: number; wallMs: number }[] = [];
    const snap: { ms: number; wallMs: number }[] = [];
    for (let i = 0; i < runs; i++) {
      cold.push(await spawn("cold", [dir]));
      snap.push(await spawn("snapshot", [dir, file], [file]));
    }
    const overhead = await spawn("overhead", [dir]);
    const row = (name: string, xs: { ms: number; wallMs: number }[]): string =>
      `| ${name} | ${median(xs.map((x) => x.ms)).toFixed(0)} ms | ${
        median(xs.map((x) => x.wallMs)).toFixed(0)
      } ms |`;
    console.log(`Pyodide ${dir}, ${runs} fresh processes each, medians`);
    console.log("| start | session + first step (in child) | spawn to exit |");
    console.log("| --- | --- | --- |");
    console.log(row("cold: createPyodideSession()", cold));
    console.log(row("snapshot: createPyodideSessionFromSnapshot()", snap));
    console.log(`snapshot: ${(snapshot.length / 2 ** 20).toFixed(1)} MiB, made in ${makeMs.toFixed(0)} ms`);
    console.log(
      `3M-iteration Python loop with the deadline armed: ${
        (overhead as { loopMs?: number }).loopMs?.toFixed(0)
      } ms`,
    );
  } finally {
    await Deno.remove(file);
  }
}

if (import.meta.main) {
  const [mode, arg] = Deno.args;
  if (mode === "cold" || mode === "snapshot" || mode === "overhead") await child(mode, arg);
  else await main(Number(mode ?? 5) || 5);
}
