/**
 * A hostile-code probe for `pyodide_session_test.ts`: run in a restricted child
 * process, it starts a Python session and tries to leave the process's Deno
 * permissions from Python, then prints one JSON line `{ name: CodeStepResult }`.
 *
 * Usage: bundled (as the sandbox is), `deno run --no-prompt --cached-only --no-config
 * --allow-read=<pyodide>,<granted> probe.js <json>` where `<json>` is `{ secretFile, grantedFile, port,
 * envName, indexURL }`.
 *
 * @module
 */

import { type CodeStepResult, createPyodideSession } from "./pyodide_session.ts";

/** What the test hands the probe. */
export interface ProbeArgs {
  /** A file outside the grants. */
  secretFile: string;
  /** A file inside the read grant (the positive control). */
  grantedFile: string;
  /** A port on 127.0.0.1 where the test listens. */
  port: number;
  /** A variable set in the child's environment. */
  envName: string;
  /** Pyodide's folder (the probe runs bundled, as the sandbox does, and cannot look it up). */
  indexURL?: string;
}

/**
 * The Python attacks, by name.
 *
 * @param args The targets.
 * @returns Python code for each attack.
 */
export function probeAttacks(args: ProbeArgs): Record<string, string> {
  const q = (s: string): string => JSON.stringify(s);
  const url = `http://127.0.0.1:${args.port}/`;
  return {
    readGranted: `import js\njs.Deno.readTextFileSync(${q(args.grantedFile)})`,
    readJs: `import js\njs.Deno.readTextFileSync(${q(args.secretFile)})`,
    readRunJs: `from pyodide.code import run_js\nrun_js(${
      q(`Deno.readTextFileSync(${q(args.secretFile)})`)
    })`,
    readPython: `open(${q(args.secretFile)}).read()`,
    writeJs: `import js\njs.Deno.writeTextFileSync(${q(`${args.grantedFile}.written`)}, "x")`,
    envJs: `import js\njs.Deno.env.get(${q(args.envName)})`,
    envPython: `import os\nos.environ.get(${q(args.envName)})`,
    fetchJs: `import js\nawait js.fetch(${q(url)})`,
    connectRunJs: `from pyodide.code import run_js\nawait run_js(${
      q(`Deno.connect({ hostname: "127.0.0.1", port: ${args.port} })`)
    })`,
    runJs: `from pyodide.code import run_js\nrun_js('new Deno.Command("id").outputSync()')`,
  };
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0] ?? "{}") as ProbeArgs;
  const session = await createPyodideSession({
    tools: {},
    memoryBytes: 256 * 2 ** 20,
    stepDeadlineMs: 5000,
    maxOutputBytes: 4096,
    ...(args.indexURL ? { indexURL: args.indexURL } : {}),
  });
  const results: Record<string, CodeStepResult> = {};
  for (const [name, code] of Object.entries(probeAttacks(args))) results[name] = await session.run(code);
  session.dispose();
  console.log(JSON.stringify(results));
}
