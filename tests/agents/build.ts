/**
 * Builds every WebAssembly agent of the repository from its source: the
 * examples and the test agents. `deno task build-agents`. JavaScript agents go
 * through `ironclaw build` (componentize-qjs); C agents through clang's
 * wasm32-wasi target (apt: clang lld wasi-libc libclang-rt-dev-wasm32).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildAgent } from "../../cli/build.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Every agent: source and output, relative to the repository. */
export const AGENTS: readonly { source: string; output: string }[] = [
  { source: "examples/hello/agent.js", output: "examples/hello/agent.wasm" },
  { source: "examples/wasi-wordcount/agent.c", output: "examples/wasi-wordcount/agent.wasm" },
  { source: "tests/agents/probe.js", output: "tests/agents/out/probe.wasm" },
  { source: "tests/agents/probe.c", output: "tests/agents/out/probe_c.wasm" },
];

async function newer(source: string, output: string): Promise<boolean> {
  try {
    const [s, o] = await Promise.all([Deno.stat(source), Deno.stat(output)]);
    return (s.mtime?.getTime() ?? 0) > (o.mtime?.getTime() ?? 0);
  } catch {
    return true;
  }
}

async function buildC(source: string, output: string) {
  await Deno.mkdir(dirname(output), { recursive: true });
  const out = await new Deno.Command("clang", {
    args: ["--target=wasm32-wasi", "-O2", "-Wall", "-Wl,--strip-all", "-o", output, source],
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((e) => {
    throw new Error(
      `clang is needed for the C agents (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32): ${e}`,
    );
  });
  if (!out.success) throw new Error(`clang failed on ${source}`);
}

if (import.meta.main) {
  const force = Deno.args.includes("--force");
  for (const { source, output } of AGENTS) {
    const src = join(ROOT, source);
    const dst = join(ROOT, output);
    if (!force && !(await newer(src, dst)) && !(await newer(join(ROOT, "wit/agent.wit"), dst))) continue;
    const started = performance.now();
    if (source.endsWith(".c")) await buildC(src, dst);
    else await buildAgent(src, dst);
    console.log(`built ${output} in ${Math.round(performance.now() - started)} ms`);
  }
}
