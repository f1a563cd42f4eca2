/**
 * The command line of the sandbox process.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { toDenoFlags } from "../capabilities/deno_flags.ts";
import type { Policy } from "../capabilities/policy.ts";

/** The sandbox process's entry module. */
export const SANDBOX_ENTRY: string = fileURLToPath(new URL("./sandbox.ts", import.meta.url));

/**
 * The full argv of the sandbox process: `deno run <flags> <entry>`.
 *
 * @param policy The run's Policy.
 * @param deno The Deno executable; default this process's own.
 * @returns The argv, program first.
 */
export function sandboxCommand(policy: Policy, deno: string = Deno.execPath()): string[] {
  return [deno, "run", ...toDenoFlags(policy), SANDBOX_ENTRY];
}
