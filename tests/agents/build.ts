/**
 * Builds the WebAssembly agents of the repository from their source: the
 * examples and the test agents. JavaScript agents go through `ironclaw build`
 * (componentize-qjs); C agents through clang's wasm32-wasi target, so only the
 * tasks that build C agents need clang.
 *
 * ```sh
 * deno run -A tests/agents/build.ts                         # every agent (deno task build-agents)
 * deno run -A tests/agents/build.ts --only examples/hello   # the agents under a path (deno task demo)
 * deno run -A tests/agents/build.ts --js                    # the JavaScript agents only
 * ```
 *
 * Options: `--only <path>` (repeatable; a source file or a folder holding it),
 * `--js`, `--force` (rebuild even when up to date), `--out-dir <dir>` (write
 * the outputs under `<dir>` instead of the repository, for tests). Exit status:
 * 0 built or up to date, 1 a build failed (one line on stderr, such as what to
 * install when clang is missing), 2 usage error.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildAgent } from "../../cli/build.ts";
import { printable } from "../../manifests/errors.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** What to install for the C agents (Debian's package names). */
export const CLANG_PACKAGES = "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32";

/** Every agent: source and output, relative to the repository. */
export const AGENTS: readonly { source: string; output: string }[] = [
  { source: "examples/hello/agent.js", output: "examples/hello/agent.wasm" },
  { source: "examples/wasi-wordcount/agent.c", output: "examples/wasi-wordcount/agent.wasm" },
  { source: "tests/agents/probe.js", output: "tests/agents/out/probe.wasm" },
  { source: "tests/agents/probe.c", output: "tests/agents/out/probe_c.wasm" },
];

/** A build that failed for a reason stated in one line. */
class BuildError extends Error {
  /** Exit code: 1 a build failed, 2 usage error. */
  code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

/**
 * The agents a command line selects.
 *
 * @param only Paths (a source file or a folder above it), relative to the repository; empty: every agent.
 * @param jsOnly Whether to keep the JavaScript agents only.
 * @returns The selected agents, in build order.
 * @throws {BuildError} When a path selects no agent.
 */
function select(only: string[], jsOnly: boolean): { source: string; output: string }[] {
  const norm = (p: string) => p.replace(/^\.\//, "").replace(/\/+$/, "");
  for (const path of only.map(norm)) {
    if (!AGENTS.some((a) => a.source === path || a.source.startsWith(path + "/"))) {
      throw new BuildError(
        `No agent under "${path}": the agents are ${AGENTS.map((a) => a.source).join(", ")}`,
        2,
      );
    }
  }
  return AGENTS.filter((a) =>
    (only.length === 0 || only.map(norm).some((p) => a.source === p || a.source.startsWith(p + "/"))) &&
    (!jsOnly || !a.source.endsWith(".c"))
  );
}

async function newer(source: string, output: string): Promise<boolean> {
  try {
    const [s, o] = await Promise.all([Deno.stat(source), Deno.stat(output)]);
    return (s.mtime?.getTime() ?? 0) > (o.mtime?.getTime() ?? 0);
  } catch {
    return true;
  }
}

async function buildC(source: string, output: string, name: string): Promise<void> {
  await Deno.mkdir(dirname(output), { recursive: true });
  let out: Deno.CommandOutput;
  try {
    // Spawning throws at once (not through the promise) when clang is not on PATH.
    out = await new Deno.Command("clang", {
      args: ["--target=wasm32-wasi", "-O2", "-Wall", "-Wl,--strip-all", "-o", output, source],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BuildError(`clang is needed to build the C agent ${name}: ${CLANG_PACKAGES}`);
    }
    throw new BuildError(`Cannot run clang for ${name}: ${(e as Error).message}`);
  }
  if (!out.success) throw new BuildError(`clang failed on ${name}`);
}

/** Builds into a file beside the output, then renames it into place: a reader never sees half a module. */
async function buildJs(source: string, output: string): Promise<void> {
  const tmp = `${output}.${crypto.randomUUID()}.tmp`;
  try {
    await buildAgent(source, tmp);
    await Deno.rename(tmp, output);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

async function build(args: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        only: { type: "string", multiple: true },
        js: { type: "boolean" },
        force: { type: "boolean" },
        "out-dir": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new BuildError(`${(e as Error).message}: use --only <path>, --js, --force, --out-dir <dir>`, 2);
  }
  const outRoot = values["out-dir"] ?? ROOT;
  for (const { source, output } of select(values.only ?? [], values.js ?? false)) {
    const src = join(ROOT, source);
    const dst = join(outRoot, output);
    if (!values.force && !(await newer(src, dst)) && !(await newer(join(ROOT, "wit/agent.wit"), dst))) {
      continue;
    }
    const started = performance.now();
    if (source.endsWith(".c")) await buildC(src, dst, source);
    else await buildJs(src, dst);
    console.log(`built ${output} in ${Math.round(performance.now() - started)} ms`);
  }
}

if (import.meta.main) {
  try {
    await build(Deno.args);
  } catch (e) {
    // One line, never a stack: a missing tool is not a bug of this script.
    const code = e instanceof BuildError ? e.code : 1;
    const hint = e instanceof Error && "hint" in e && typeof e.hint === "string" ? ` (${e.hint})` : "";
    const message = (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
    console.error(`error: ${printable(message)}${hint}`);
    Deno.exit(code);
  }
}
