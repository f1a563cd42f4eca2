/**
 * The environment op: `env.get`, for granted names (or names under a granted `PREFIX*`).
 *
 * @module
 */

import { matchEnv } from "../../capabilities/commands.ts";
import { denied, invalid, io } from "./errors.ts";
import type { FamilyOps, GateContext } from "./family.ts";

/** The environment calls `env.get` makes (Deno's, or a test's fakes). */
export interface EnvIo {
  /** Like `Deno.env.get`. */
  get(name: string): string | undefined;
}

/** The real environment. */
export const DENO_ENV: EnvIo = { get: (name) => Deno.env.get(name) };

/**
 * The environment op of one gate.
 *
 * @param ctx The gate's Policy, checks and grants.
 * @param env The environment calls.
 * @returns The handler of `env.get`.
 */
export function envOps(ctx: GateContext, env: EnvIo = DENO_ENV): FamilyOps<"env"> {
  return {
    "env.get": {
      run: (args) => {
        const name = args.name;
        if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          throw invalid('"name" must be a variable name', 'pass {"name": "TZ"}');
        }
        if (ctx.checks && !matchEnv(ctx.mine(ctx.policy.env).map((e) => e.name), name)) {
          throw denied(`Reading "${name}" is not granted`, {
            hint: `add "${name}" to [capabilities.env] allow in the manifest`,
            rule: "env",
          });
        }
        const value = io(() => env.get(name) ?? null, name);
        return { value: { value }, rule: ctx.checks ? `env:${name}` : "unchecked" };
      },
    },
  };
}
