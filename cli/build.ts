/** `ironclaw build agent.js -o agent.wasm`: a JavaScript or TypeScript agent becomes a component. */

import { basename, dirname, extname, join, resolve } from "node:path";
import { packageFile, WIT_FILE } from "../supervisor/assets.ts";
import { IronclawError } from "../manifests/errors.ts";
import { type Io, parseCommandArgs, reportError, UsageError } from "./output.ts";
import { progressEnabled, startProgress } from "./_progress.ts";

/** Help of `ironclaw build`. */
export const BUILD_HELP = `Build a JavaScript or TypeScript agent into a WebAssembly component

Examples:
  ironclaw build examples/hello/agent.js -o examples/hello/agent.wasm
  ironclaw build agent.ts

Usage: ironclaw build <agent.js|agent.ts> [-o agent.wasm]

The agent imports { call, log } from "ironclaw:agent/host@0.1.0" and exports
run(task), which returns a string (its answer) or throws (its failure). The
component is built against wit/agent.wit with every WASI import stubbed out:
inside it there is no clock, no file, no network and no randomness except
through the host gate. Its top-level code runs once, at build time.

Options:
  -o, --output <file>   Where to write the component (default: beside the source, .wasm)
  -h, --help            Show this help
`;

/**
 * Builds a component from an agent's source.
 *
 * @param source The agent's JavaScript (or TypeScript, type-stripped) source file.
 * @param output Where to write the component.
 * @returns Its size in bytes.
 * @throws {IronclawError} `ERR_BUILD` with the compiler's message.
 */
export async function buildAgent(source: string, output: string): Promise<number> {
  let jsSource: string;
  try {
    jsSource = await Deno.readTextFile(source);
  } catch (e) {
    throw new IronclawError("ERR_NOT_FOUND", `Cannot read "${source}": ${(e as Error).message}`, {
      hint: "check the path",
    });
  }
  if (extname(source) === ".ts") jsSource = await stripTypes(jsSource, source);
  const { componentize } = await import("componentize-qjs");
  let component: Uint8Array;
  try {
    ({ component } = await componentize({
      witPath: await packageFile(WIT_FILE),
      jsSource,
      jsPath: source,
      stubWasi: true,
      optSize: true,
    }));
  } catch (e) {
    throw new IronclawError("ERR_BUILD", `Cannot build "${source}": ${(e as Error).message ?? e}`, {
      hint: 'import { call, log } from "ironclaw:agent/host@0.1.0" and export function run(task)',
      cause: e,
    });
  }
  await Deno.mkdir(dirname(output), { recursive: true });
  await Deno.writeFile(output, component);
  return component.length;
}

/** Erases TypeScript's types (TypeScript's own transpiler, loaded only for .ts sources). */
async function stripTypes(text: string, path: string): Promise<string> {
  const ts = (await import("typescript")).default;
  const out = ts.transpileModule(text, {
    fileName: path,
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: false,
    },
  });
  const problems = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (problems.length > 0) {
    const d = problems[0]!;
    throw new IronclawError(
      "ERR_BUILD",
      `Cannot read "${path}": ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`,
      {
        hint: "fix the TypeScript syntax",
      },
    );
  }
  return out.outputText;
}

/**
 * Runs `ironclaw build`.
 *
 * @param args The arguments after `build`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function buildCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: { output: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }, "build");
    if (values.help) {
      io.out(BUILD_HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError("Expected one agent source file", "ironclaw build agent.js -o agent.wasm");
    }
    const source = resolve(positionals[0]!);
    const output = resolve(
      values.output ?? join(dirname(source), basename(source, extname(source)) + ".wasm"),
    );
    const started = performance.now();
    const progress = startProgress(`building ${basename(source)}`, {
      enabled: progressEnabled(),
      write: io.err,
    });
    let size: number;
    try {
      size = await buildAgent(source, output);
    } finally {
      progress.stop();
    }
    io.err(
      `built ${output} (${(size / 1024).toFixed(0)} KiB) in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s\n`,
    );
    return 0;
  } catch (e) {
    return reportError(io, e);
  }
}
