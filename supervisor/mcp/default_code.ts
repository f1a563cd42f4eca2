/**
 * The CodeAct manifest of `run_javascript` and `run_python` when the
 * operator gives none (`ironclaw mcp` without `--code`, and `ironclaw serve`).
 *
 * @module
 */

import { join } from "node:path";
import { IronclawError } from "../../manifests/errors.ts";

/**
 * The built-in manifest of the code tools. It GRANTS NOTHING: no [capabilities] table, so the code reaches no
 * file, no network, no environment variable, no program and no tool; it can only compute and print. Give
 * `--code MANIFEST` (a CodeAct manifest of your own) to grant more.
 */
export const DEFAULT_CODE_MANIFEST =
  `# The built-in manifest of the MCP code tools (run_javascript, run_python).
# It grants nothing: no [capabilities] at all, so the code can only compute and print.
[agent]
name = "mcp-code"
version = "0.1.0"
description = "Sandboxed JavaScript and Python steps for an MCP client, with no grants"
kind = "codeact"
instructions = "The MCP client writes every step."

# Required of every CodeAct manifest, never called: the MCP client writes the code.
[model]
provider = "ollama"
name = "mcp-client"

[limits]
memory_mb = 256     # Pyodide needs about 40 MiB of WebAssembly memory to start
timeout_s = 600     # the life of one session's sandbox; a call after it starts a new one
max_steps = 200     # calls in one sandbox
step_timeout_s = 30 # the longest one call may run
max_output_kb = 1024
`;

/**
 * Writes the built-in manifest into the state folder (where a manifest file is read from), once.
 *
 * @param stateDir The runtime's state folder.
 * @returns The manifest's path.
 * @throws {IronclawError} `ERR_IO` when it cannot be written.
 */
export async function defaultCodeManifest(stateDir: string): Promise<string> {
  const dir = join(stateDir, "mcp");
  const path = join(dir, "code.toml");
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const now = await Deno.readTextFile(path).catch(() => null);
    if (now !== DEFAULT_CODE_MANIFEST) await Deno.writeTextFile(path, DEFAULT_CODE_MANIFEST, { mode: 0o600 });
    return path;
  } catch (e) {
    throw new IronclawError(
      "ERR_IO",
      `Cannot write the code tools' manifest "${path}": ${(e as Error).message}`,
      {
        hint: "check that the state folder is writable, or give --code MANIFEST",
        cause: e,
      },
    );
  }
}
