/**
 * Helpers of the gate's unit tests: a Policy from a few manifest lines (the
 * agent's folder is `/srv/a`, nothing on disk), a family context over it, and
 * the outcome of one op as data.
 *
 * @module
 */

import { type Policy, resolvePolicy } from "../../capabilities/policy.ts";
import { parseManifest } from "../../manifests/agent_manifest.ts";
import { defaultRuntimeConfig } from "../../manifests/runtime_config.ts";
import { GateError } from "./errors.ts";
import { type Args, type GateContext, grantsOf, type OpHandler } from "./family.ts";
import type { GateOpName } from "../../protocol/gate_ops.ts";

/**
 * The Policy of an agent in `/srv/a` (or `options.dir`) with these extra manifest lines; programs resolve to
 * `/usr/bin/<name>`.
 *
 * @param extra Manifest lines after `[agent]`.
 * @param options The agent's folder, when the test has a real one.
 * @returns The Policy.
 */
export function policyOf(extra = "", options: { dir?: string } = {}): Policy {
  const dir = options.dir ?? "/srv/a";
  const manifest = parseManifest(
    `[agent]\nname = "g"\nkind = "wasm"\nmodule = "g.wasm"\n${extra}`,
    { path: `${dir}/agent.toml` },
  );
  return resolvePolicy(manifest, defaultRuntimeConfig(options.dir === undefined ? "/srv" : dir), {
    realPath: (p) => p,
    findProgram: (name) => `/usr/bin/${name}`,
  });
}

/**
 * A family context over a Policy.
 *
 * @param policy The Policy.
 * @param options Whether to check (default true), and the plugin the gate acts for.
 * @returns The context.
 */
export function contextOf(policy: Policy, options: { checks?: boolean; actor?: string } = {}): GateContext {
  const actor = options.actor ?? null;
  return { policy, checks: options.checks ?? true, mine: (grants) => grantsOf(grants, actor) };
}

/** What one op came to: its value and rule, or its error's code and rule. */
export type Outcome =
  | { ok: true; value: unknown; rule: string }
  | { ok: false; code: string; rule: string; message: string; hint: string };

/**
 * Runs one op's handler and returns what it came to; anything but a GateError is rethrown.
 *
 * @param handler The handler.
 * @param args The arguments.
 * @returns The outcome.
 */
export async function outcomeOf<Op extends GateOpName>(handler: OpHandler<Op>, args: Args): Promise<Outcome> {
  try {
    const { value, rule } = await handler.run(args);
    return { ok: true, value, rule };
  } catch (e) {
    if (!(e instanceof GateError)) throw e;
    return { ok: false, code: e.code, rule: e.rule, message: e.message, hint: e.hint };
  }
}
