/**
 * The six op families, wired to the real I/O and to a gate's options: one
 * handler for every op of `GATE_OPS`, which the type makes sure of.
 *
 * @module
 */

import type { GateOpName } from "../../protocol/gate_ops.ts";
import { envOps } from "./env.ts";
import type { GateContext, OpHandler } from "./family.ts";
import { fsOps } from "./fs.ts";
import { modelOps } from "./model.ts";
import { denoNetIo, netOps } from "./net.ts";
import { procOps } from "./proc.ts";
import { toolOps } from "./tool.ts";
import type { HostGateOptions } from "./options.ts";

/** A handler for every op. */
export type GateHandlers = { readonly [Op in GateOpName]: OpHandler<Op> };

/**
 * The handlers of a gate.
 *
 * @param ctx The gate's Policy, checks and grants.
 * @param options The gate's options (name resolution, model broker, plugin tools, secrets).
 * @returns A handler for every op.
 */
export function familyHandlers(ctx: GateContext, options: HostGateOptions): GateHandlers {
  return {
    ...fsOps(ctx),
    ...envOps(ctx),
    ...netOps(ctx, denoNetIo(options.resolveHost), {
      secrets: options.secrets ?? [],
      actor: options.actor ?? null,
    }),
    ...procOps(ctx),
    ...modelOps(ctx, { complete: options.complete }),
    ...toolOps(ctx, { run: options.tools }),
  };
}
