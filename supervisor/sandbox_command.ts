/**
 * The command line of the sandbox process.
 *
 * @module
 */

import { toDenoFlags } from "../capabilities/deno_flags.ts";
import type { PinnedAddresses } from "../capabilities/net.ts";
import type { Policy, RuntimePaths } from "../capabilities/policy.ts";
import { type SandboxEntry, sandboxEntry } from "./assets.ts";

/** How the sandbox's second wall is built. */
export type SandboxMode = "process" | "worker";

/** Options of {@linkcode sandboxCommand}. */
export interface SandboxCommandOptions {
  /** The runtime's own paths of the run, granted next to the Policy's; default none. */
  runtime?: RuntimePaths;
  /** The Deno executable; default this process's own. */
  deno?: string;
  /** The sandbox's entry; default {@linkcode sandboxEntry}'s. */
  entry?: SandboxEntry;
  /**
   * `process` (default): the Policy's Deno flags on the sandbox process.
   * `worker`: the same flags (and read access to the entry file, for the main
   * thread to make the Worker from it), and the agent side in a Worker whose
   * permissions are the Policy's. A compiled binary always uses `worker`.
   */
  mode?: SandboxMode;
  /**
   * Test-only, worker mode: give the process `--allow-all` (what a compiled
   * binary has), so tests prove that the Worker's permissions hold alone.
   */
  unsafeWidenProcessFlags?: boolean;
  /**
   * The run's pinned addresses: `--allow-net` lists them in place of the granted names. Absent only for the
   * command `ironclaw check` shows, which names the hosts as granted.
   */
  pinned?: PinnedAddresses;
}

/** The flags of a sandbox process that has every permission: a compiled binary's, or a test's. */
const WIDE_FLAGS = ["--no-prompt", "--cached-only", "--no-config", "--allow-all"];

/**
 * The full argv of the sandbox process: `deno run <flags> <entry>`, or for a
 * compiled binary the binary itself with its hidden sandbox sub-command.
 *
 * @param policy The run's Policy.
 * @param options The run's runtime paths, the Deno executable, the entry and the mode.
 * @returns The argv, program first.
 */
export function sandboxCommand(policy: Policy, options: SandboxCommandOptions = {}): string[] {
  const entry = options.entry ?? sandboxEntry();
  if (entry.kind === "self") return [entry.path, SANDBOX_SUBCOMMAND, "--mode=worker"];
  const deno = options.deno ?? Deno.execPath();
  const flagOptions = {
    ...(options.runtime ? { runtime: options.runtime } : {}),
    ...(options.pinned ? { pinned: options.pinned } : {}),
  };
  if ((options.mode ?? "process") === "process") {
    // Guests run in Workers whose permissions are narrower than the process's (Deno's Worker options).
    return [deno, "run", ...toDenoFlags(policy, flagOptions), "--unstable-worker-options", entry.path];
  }
  // The main thread makes the Worker from the entry's own file, whose module graph (the bundle's chunks)
  // Deno checks against the process's read permission, not the Worker's: grant the entry's folder.
  const flags = options.unsafeWidenProcessFlags
    ? WIDE_FLAGS
    : [...toDenoFlags(policy, flagOptions), `--allow-read=${entry.dir}`];
  return [deno, "run", ...flags, "--unstable-worker-options", entry.path, "--mode=worker"];
}

/** The hidden sub-command by which a compiled binary runs as its own sandbox process. */
export const SANDBOX_SUBCOMMAND = "__sandbox";
