/**
 * IronClaw next to other sandboxes, side by side in one run: `deno task bench-peers` (writes its section of
 * bench/RESULTS.md).
 *
 * Every figure is a whole process, spawn to exit, as a ratio to the floor: `deno run` of an empty script.
 *
 * - `srt` (Anthropic's sandbox runtime) wrapping that same empty `deno run`
 * - @pydantic/monty running a one-line Python snippet, from a fresh Node process
 * - quickjs-emscripten evaluating a one-line JavaScript snippet, from a fresh Node process
 * - IronClaw: a cold `ironclaw run` of examples/hello, and of the CodeAct example examples/codeact-data
 *   (JavaScript in QuickJS, replaying its scripted transcript)
 *
 * The peers are installed with npm into a temporary folder at run time, at the versions pinned below; they
 * are measured, not used, so they stay out of deno.json. A peer that cannot be installed or run is reported
 * with the reason and the rest are still measured. Rounds are interleaved so every variant sees the same
 * machine.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { copyHello } from "./_hello.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = Deno.execPath();
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 7);
const SECTION = "## Peers (`deno task bench-peers`)";
const BEFORE = "## Loops";

const SRT = "@anthropic-ai/sandbox-runtime@0.0.83";
const MONTY = "@pydantic/monty@0.0.18";
const QUICKJS = "quickjs-emscripten@0.32.0";

const MONTY_SCRIPT = `import { Monty } from "@pydantic/monty";\nconsole.log(new Monty("1 + 1").run());\n`;
const QUICKJS_SCRIPT = `import { getQuickJS } from "quickjs-emscripten";\n` +
  `const qjs = await getQuickJS();\nconsole.log(qjs.evalCode("1 + 1"));\n`;

/** One thing measured: a process to spawn, and how the results name it. */
interface Variant {
  what: string;
  /** The command as the results show it (folders as placeholders). */
  shown: string;
  cmd: string;
  args: string[];
  cwd: string;
  /** What its stdout must hold, if anything, so a run that did nothing does not pass as fast. */
  expect?: string;
  times: number[];
}

const dec = new TextDecoder();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The first meaningful line of an error output, for a one-line reason. */
function firstLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("npm warn"));
  const line = lines.find((l) => /error/i.test(l)) ?? lines[0] ?? "no output";
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

async function timeOnce(v: Variant): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(v.cmd, {
    args: v.args,
    cwd: v.cwd,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  const stdout = dec.decode(out.stdout);
  if (!out.success) throw new Error(firstLine(dec.decode(out.stderr) + "\n" + stdout));
  if (v.expect !== undefined && !stdout.includes(v.expect)) {
    throw new Error(`expected ${JSON.stringify(v.expect)} on stdout, got ${JSON.stringify(stdout.trim())}`);
  }
  return ms;
}

async function npmInstall(prefix: string, spec: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("npm", {
      args: ["install", "--prefix", prefix, "--no-audit", "--no-fund", spec],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return out.success ? undefined : `npm install ${spec} failed: ${firstLine(dec.decode(out.stderr))}`;
  } catch (e) {
    return `npm install ${spec} failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

async function loadavg(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

const work = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-peers-" }));
try {
  const loadBefore = await loadavg();
  await Deno.writeTextFile(join(work, "empty.ts"), "");
  await Deno.writeTextFile(join(work, "empty.mjs"), "");
  const peers = join(work, "peers");
  await Deno.mkdir(peers);
  await Deno.writeTextFile(join(peers, "package.json"), `{ "private": true, "type": "module" }\n`);
  await Deno.writeTextFile(join(peers, "monty.mjs"), MONTY_SCRIPT);
  await Deno.writeTextFile(join(peers, "quickjs.mjs"), QUICKJS_SCRIPT);

  // IronClaw's own: the hello example (built if needed) and the CodeAct example, each on a temp state folder.
  if (!(await Deno.stat(join(ROOT, "examples/hello/agent.wasm")).catch(() => undefined))) {
    const built = await new Deno.Command(DENO, {
      args: ["run", "-A", join(ROOT, "tests/agents/build.ts"), "--only", "examples/hello"],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!built.success) throw new Error(`building examples/hello failed: ${dec.decode(built.stderr)}`);
  }
  const hello = await copyHello(join(work, "hello"));
  await Deno.writeTextFile(
    join(work, "ironclaw.toml"),
    `[runtime]\nstate_dir = ${JSON.stringify(join(work, "state"))}\n`,
  );
  const codeact = join(work, "codeact");
  await Deno.mkdir(codeact);
  for (const f of ["agent.toml", "transcript.json"]) {
    await Deno.copyFile(join(ROOT, "examples/codeact-data", f), join(codeact, f));
  }
  for (const d of ["data", "out"]) {
    await Deno.mkdir(join(codeact, d));
    for (const e of Deno.readDirSync(join(ROOT, "examples/codeact-data", d))) {
      if (e.isFile) {
        await Deno.copyFile(join(ROOT, "examples/codeact-data", d, e.name), join(codeact, d, e.name));
      }
    }
  }
  const codeactConfig = await Deno.readTextFile(join(ROOT, "examples/codeact-data/ironclaw.toml"));
  if (!/^state_dir = .*$/m.test(codeactConfig)) {
    throw new Error("examples/codeact-data has no state_dir line");
  }
  await Deno.writeTextFile(
    join(codeact, "ironclaw.toml"),
    codeactConfig.replace(/^state_dir = .*$/m, `state_dir = ${JSON.stringify(join(work, "state-codeact"))}`),
  );

  const skipped: string[] = [];
  const variants: Variant[] = [];
  const add = (v: Omit<Variant, "times">) => variants.push({ ...v, times: [] });
  const floor: Variant = {
    what: "floor: `deno run` of an empty script",
    shown: "deno run --quiet empty.ts",
    cmd: DENO,
    args: ["run", "--quiet", "empty.ts"],
    cwd: work,
    times: [],
  };
  variants.push(floor);
  add({
    what: "`node` of an empty script (what the npm peers start from)",
    shown: "node empty.mjs",
    cmd: "node",
    args: ["empty.mjs"],
    cwd: work,
  });

  const srtFailed = await npmInstall(peers, SRT);
  if (srtFailed) skipped.push(`srt (${SRT}): ${srtFailed}`);
  else {
    add({
      what: `srt ${SRT.split("@").at(-1)} wrapping the floor (built-in default settings)`,
      shown: "srt -- deno run --quiet empty.ts",
      cmd: join(peers, "node_modules/.bin/srt"),
      args: ["--", DENO, "run", "--quiet", "empty.ts"],
      cwd: work,
    });
  }
  const montyFailed = await npmInstall(peers, MONTY);
  if (montyFailed) skipped.push(`@pydantic/monty (${MONTY}): ${montyFailed}`);
  else {
    add({
      what: `@pydantic/monty ${MONTY.split("@").at(-1)}: Python \`1 + 1\`, fresh Node process`,
      shown: "node monty.mjs",
      cmd: "node",
      args: ["monty.mjs"],
      cwd: peers,
      expect: "2",
    });
  }
  const quickjsFailed = await npmInstall(peers, QUICKJS);
  if (quickjsFailed) skipped.push(`quickjs-emscripten (${QUICKJS}): ${quickjsFailed}`);
  else {
    add({
      what: `quickjs-emscripten ${QUICKJS.split("@").at(-1)}: JavaScript \`1 + 1\`, fresh Node process`,
      shown: "node quickjs.mjs",
      cmd: "node",
      args: ["quickjs.mjs"],
      cwd: peers,
      expect: "2",
    });
  }
  const mod = join(ROOT, "mod.ts");
  add({
    what: "IronClaw: cold `ironclaw run` of examples/hello",
    shown: "deno run -A --quiet mod.ts run hello/agent.toml --task x --config ironclaw.toml",
    cmd: DENO,
    args: ["run", "-A", "--quiet", mod, "run", hello, "--task", "x", "--config", join(work, "ironclaw.toml")],
    cwd: work,
  });
  add({
    what: "IronClaw: cold CodeAct JavaScript run of examples/codeact-data (scripted transcript)",
    shown:
      "deno run -A --quiet mod.ts run codeact-data/agent.toml --task x --config codeact-data/ironclaw.toml",
    cmd: DENO,
    args: [
      "run",
      "-A",
      "--quiet",
      mod,
      "run",
      join(codeact, "agent.toml"),
      "--task",
      "x",
      "--config",
      join(codeact, "ironclaw.toml"),
    ],
    cwd: work,
    expect: "Revenue per region",
  });

  // One warm-up each (fills the component cache and the OS caches); a variant that fails it is reported.
  const running: Variant[] = [];
  for (const v of variants) {
    try {
      await timeOnce(v);
      running.push(v);
    } catch (e) {
      if (v === floor) throw e;
      skipped.push(`${v.what}: could not run here: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  for (let i = 0; i < ROUNDS; i++) {
    for (const v of running) v.times.push(await timeOnce(v));
  }
  const loadAfter = await loadavg();

  const base = median(floor.times);
  const f = (x: number) => x.toFixed(0);
  const rows = running.map((v) => [
    v.what,
    `${f(median(v.times))} (${f(Math.min(...v.times))}–${f(Math.max(...v.times))})`,
    v === floor ? "1.00x" : `${(median(v.times) / base).toFixed(2)}x`,
  ]);
  const table = [
    "| what | median ms (range) | vs floor |",
    "| --- | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
  console.log(table);
  // The temporary folder's path says nothing about the peer; the results show it as <tmp>.
  for (let i = 0; i < skipped.length; i++) skipped[i] = skipped[i]!.replaceAll(work, "<tmp>");
  for (const s of skipped) console.log(`not measured: ${s}`);

  const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
  const commands = running.map((v) => `- ${v.what}: \`${v.shown}\``).join("\n");
  const notRun = skipped.length
    ? `\n\nNot measured:\n\n${skipped.map((s) => `- ${s}`).join("\n")}`
    : "\n\nEvery peer installed and ran.";
  const busiest = Math.max(Number(loadBefore.split(" ")[0]), Number(loadAfter.split(" ")[0]));
  const shared = busiest > navigator.hardwareConcurrency / 2
    ? ` The one-minute load reached ${busiest} on ${navigator.hardwareConcurrency} cores: the machine was ` +
      `not idle, so read the ratios as rough.`
    : "";
  const section =
    `${SECTION}\n\nCommand: \`deno task bench-peers\` (bench/peers_bench.ts; \`BENCH_ROUNDS\`, ` +
    `default 7). Run ${stamp} UTC, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ` +
    `${ROUNDS} rounds interleaved after one warm-up each, load average ${loadBefore} before and ` +
    `${loadAfter} after.${shared} Each figure is a whole process, spawn to exit; the npm peers were ` +
    `installed into a temporary folder at the pinned versions (${SRT}, ${MONTY}, ${QUICKJS}), the IronClaw runs used a ` +
    `temporary state folder. Commands, run from the temporary folder:\n\n${commands}\n\n${table}${notRun}\n`;

  const results = join(ROOT, "bench", "RESULTS.md");
  const old = await Deno.readTextFile(results).catch(() => "");
  const at = old.indexOf(SECTION);
  let text: string;
  if (at >= 0) {
    const next = old.indexOf("\n## ", at + SECTION.length);
    text = old.slice(0, at) + section + (next < 0 ? "" : old.slice(next));
  } else {
    const before = old.indexOf(`\n${BEFORE}`);
    text = before < 0
      ? `${old.trimEnd()}\n\n${section}`
      : `${old.slice(0, before + 1)}${section}\n${old.slice(before + 1)}`;
  }
  await Deno.writeTextFile(results, text);
} finally {
  await Deno.remove(work, { recursive: true });
}
