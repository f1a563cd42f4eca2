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

/** A live `ironclaw run --json` of a looping agent, started by {@linkcode startLoopingRun}. */
export interface LoopingRun {
  /** The CLI process. */
  child: Deno.ChildProcess;
  /** Reads the CLI's stdout until `marker` appears (null: to the end), and returns all read so far. */
  until(marker: string | null): Promise<string>;
  /** The run's `--channel=` argument (from its `run` event, once read): it names the sandbox process. */
  channelArg(): string;
  /** Stops reading the CLI's stdout. */
  release(): Promise<void>;
}

/**
 * Starts `ironclaw run MANIFEST --json --task '{"do":"loop"}'` (a probe that logs "looping" and spins).
 *
 * @param manifest The probe agent's manifest.
 * @param options Its folder (the CLI's working folder) and the per-user state folder (default the tests').
 */
export function startLoopingRun(manifest: string, options: { cwd: string; stateHome?: string }): LoopingRun {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${ROOT}mod.ts`, "run", manifest, "--json", "--task", '{"do":"loop"}'],
    cwd: options.cwd,
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1", XDG_STATE_HOME: options.stateHome ?? TEST_STATE_HOME },
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  return {
    child,
    async until(marker) {
      while (marker === null || !text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      return text;
    },
    channelArg() {
      const line = text.split("\n").find((l) => l.startsWith('{"') && l.includes('"type":"run"'))!;
      return (JSON.parse(line).command as string[]).find((a) => a.startsWith("--channel="))!;
    },
    release: () => reader.cancel().catch(() => {}),
  };
}

/** The ids of live processes whose arguments include `arg` exactly. */
export function processesWith(arg: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0").includes(arg)) {
        out.push(Number(entry.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

/** Waits (up to about ten seconds, far below any run's wall time) until no process has `arg`. */
export async function awaitNoProcessWith(arg: string): Promise<void> {
  for (let i = 0; i < 100 && processesWith(arg).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
}
