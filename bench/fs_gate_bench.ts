/**
 * The gate's file ops against the direct Deno call, in a process with a sandbox's kind of flags (granular
 * `--allow-read` and `--allow-write` on the agent's folder and the link's folder, as in process mode, where
 * Deno resolves every path before the call): `fs.read` of a small file and `fs.list` of a small folder, at a
 * shallow path and at one 24 folders deep, each three ways, interleaved round by round:
 *
 * - direct: `Deno.readFileSync` / `Deno.readDirSync` of the path (no checks, no proof);
 * - held: the gate holding the folder and reading through the link to `/proc/self/cwd` (what a sandbox does);
 * - proved: the gate without the link, opening by path and proving it twice (what it does elsewhere).
 *
 * Only the op's own work in the sandbox process: no guest, no channel. Writes the "Gate file ops" section of
 * bench/RESULTS.md.
 *
 * `deno task bench-fs` (`BENCH_ROUNDS` sets the rounds, default 15; each round times 200 calls of each).
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolvePolicy } from "../capabilities/policy.ts";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
import { PROC_SELF_CWD } from "../protocol/protocol.ts";
import { DENO_FS, fsOps } from "../sandbox/gate/fs.ts";
import { type GateContext, grantsOf } from "../sandbox/gate/family.ts";
import { writeSection } from "./_results.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 15);
const CALLS = 200;
const DEEP = Array.from({ length: 24 }, (_, n) => `d${n}`).join("/");

type Row = Record<string, number[]>;

/** In the child: times each way of each op, round by round, in µs per call. */
async function measure(dir: string, link: string): Promise<Row> {
  const manifest = parseManifest(
    `[agent]\nname = "b"\nkind = "wasm"\nmodule = "b.wasm"\n[capabilities.fs]\nread = ["notes"]\n`,
    { path: join(dir, "agent.toml") },
  );
  const policy = resolvePolicy(manifest, defaultRuntimeConfig(dir), {
    realPath: (p) => p,
    findProgram: (n) => n,
  });
  const ctx: GateContext = { policy, checks: true, mine: (grants) => grantsOf(grants, null) };
  const held = fsOps(ctx, { ...DENO_FS, workingFolderLink: () => link });
  const proved = fsOps(ctx, { ...DENO_FS, workingFolderLink: () => null });
  const cases: [string, () => unknown][] = [];
  for (const [depth, sub] of [["shallow", "notes"], ["deep", `notes/${DEEP}`]] as const) {
    const file = `${sub}/a.txt`;
    cases.push(
      [`fs.read ${depth}, direct`, () => Deno.readFileSync(join(dir, file))],
      [`fs.read ${depth}, held`, () => held["fs.read"].run({ path: file })],
      [`fs.read ${depth}, proved`, () => proved["fs.read"].run({ path: file })],
      [`fs.list ${depth}, direct`, () => [...Deno.readDirSync(join(dir, sub))]],
      [`fs.list ${depth}, held`, () => held["fs.list"].run({ path: sub })],
      [`fs.list ${depth}, proved`, () => proved["fs.list"].run({ path: sub })],
    );
  }
  const out: Row = {};
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, call] of cases) {
      const started = performance.now();
      for (let i = 0; i < CALLS; i++) await call();
      // Round 0 warms up (JIT), and is not kept.
      if (round > 0) (out[name] ??= []).push(((performance.now() - started) * 1000) / CALLS);
    }
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

if (Deno.args[0] === "--measure") {
  console.log(JSON.stringify(await measure(Deno.args[1]!, Deno.args[2]!)));
} else {
  const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-fs-" }));
  try {
    for (const sub of ["notes", `notes/${DEEP}`]) {
      await Deno.mkdir(join(work, sub), { recursive: true });
      for (const f of ["a.txt", "b.txt", "c.txt"]) await Deno.writeTextFile(join(work, sub, f), "hello\n");
    }
    await Deno.mkdir(join(work, "runtime"));
    const link = join(work, "runtime", "working-folder");
    await Deno.symlink(PROC_SELF_CWD, link);
    const flags = [`--allow-read=${join(work, "notes")},${join(work, "runtime")}`, "--allow-env"];
    const self = fileURLToPath(import.meta.url);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, self, "--measure", work, link],
      cwd: join(work, "runtime"),
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("the measuring process failed");
    const rows: Row = JSON.parse(new TextDecoder().decode(out.stdout));
    const lines = Object.entries(rows).map(([name, us]) => {
      const direct = median(rows[name.replace(/, \w+$/, ", direct")]!);
      return `| ${name} | ${median(us).toFixed(1)} µs | ${(median(us) / direct).toFixed(1)}x |`;
    });
    const section = [
      "## Gate file ops: held folders and proofs by path",
      "",
      `\`deno task bench-fs\`, ${ROUNDS} rounds of ${CALLS} calls of each, interleaved, in one process with`,
      "granular `--allow-read` (as a sandbox in process mode); medians of the per-call means; the last column is",
      "the ratio to the direct Deno call of the same op. `held` is what a sandbox does (the folder held as the",
      "working folder, read through the link to `/proc/self/cwd`), `proved` what the gate does without the link",
      "(open by path, then two alternating proofs). Deep: 24 folders below the grant. The op only, in the",
      "sandbox process: no guest, channel or record.",
      "",
      "| op | per call | vs direct |",
      "| --- | --- | --- |",
      ...lines,
      "",
    ].join("\n");
    await writeSection(section, { before: "## Loops" });
    console.log(section);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
