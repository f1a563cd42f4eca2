/** Spawning the real CLI in tests. */

import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/**
 * The per-user state folder the CLI gets in tests unless a test names its own: one temporary folder for
 * this test process, so runs without a config never land in the real `~/.local/state/ironclaw`.
 */
export const TEST_STATE_HOME: string = Deno.makeTempDirSync({ prefix: "ironclaw-test-state-" });
globalThis.addEventListener("unload", () => Deno.removeSync(TEST_STATE_HOME, { recursive: true }));

/** What a CLI run printed and how it ended. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ironclaw ...args` as a real process, as a user would with `deno run -A mod.ts`. */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return runDeno(["run", "-A", "--quiet", `${ROOT}mod.ts`, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { XDG_STATE_HOME: TEST_STATE_HOME, ...options.env },
  });
}

/** Runs `deno ...args` (this process's Deno) with stdin closed, and collects what it printed. */
export async function runDeno(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
