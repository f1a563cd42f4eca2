/**
 * What a family module of the gate is given (the run's Policy, whether to
 * check, the grants this gate may use) and what it gives back (one handler
 * per op of its family), and the caps the families share.
 *
 * @module
 */

import type { GateOpName, GateOpResult, GateOpsOf } from "../../protocol/gate_ops.ts";
import type { GateFamily } from "../../protocol/gate_ops.ts";
import type { EnforcedGrant } from "../../protocol/grant.ts";

/** The largest file `fs.read` returns and `fs.write` writes, in bytes. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
/** The largest HTTP response body `http.fetch` returns, in bytes. */
export const MAX_HTTP_BYTES = 8 * 1024 * 1024;
/** The most output `proc.run` keeps of each stream, in bytes. */
export const MAX_PROC_BYTES = 1024 * 1024;
/** The longest `http.fetch` or `proc.run` may take, in milliseconds. */
export const OP_TIMEOUT_MS = 30_000;

/** A request's arguments, as the guest sent them (a JSON object, not yet checked). */
export type Args = Record<string, unknown>;

/** A grant, with where it came from (the manifest, or a plugin). */
export interface Sourced {
  /** The grant's origins. */
  readonly from: readonly { readonly source: string }[];
}

/** What every family is given. */
export interface GateContext {
  /** The run's grant (a Policy satisfies it too). */
  readonly policy: EnforcedGrant;
  /** False only in tests that prove the process flags hold alone: then nothing is checked. */
  readonly checks: boolean;
  /**
   * The grants this gate may use: the manifest's, and its plugin's own.
   *
   * @param grants Grants of one kind.
   * @returns Those this gate may use.
   */
  mine<T extends Sourced>(grants: readonly T[]): T[];
}

/** An op's value, and the rule that allowed it (for the record). */
export interface Decided<T> {
  /** The result. */
  value: T;
  /** The rule that allowed it. */
  rule: string;
}

/** How a family runs one op. */
export interface OpHandler<Op extends GateOpName> {
  /**
   * Checks and runs the op.
   *
   * @param args The guest's arguments.
   * @returns The result and the rule.
   * @throws {GateError} When refused or failed.
   */
  run(args: Args): Decided<GateOpResult<Op>> | Promise<Decided<GateOpResult<Op>>>;
  /**
   * The checks that need no waiting and change nothing: so that a guest that cannot wait still learns whether
   * a waiting op is granted at all, and so that a call that needs a person's approval is asked about only once
   * its grants allowed it.
   *
   * @param args The guest's arguments.
   * @throws {GateError} When refused.
   */
  precheck?(args: Args): void;
  /**
   * The arguments as the record keeps them, when the default summary does not fit.
   *
   * @param args The guest's arguments.
   * @returns The summary.
   */
  summarize?(args: Args): Record<string, unknown>;
}

/** The handlers of one family's ops. */
export type FamilyOps<F extends GateFamily> = { [Op in GateOpsOf<F>]: OpHandler<Op> };

/**
 * The grants the gate of `actor` may use: the manifest's, and the plugin's own.
 *
 * @param grants Grants of one kind.
 * @param actor The plugin the gate acts for, or null for the agent.
 * @returns Those the gate may use.
 */
export function grantsOf<T extends Sourced>(grants: readonly T[], actor: string | null): T[] {
  const plugin = actor === null ? null : `plugin ${actor}`;
  return grants.filter((g) => g.from.some((o) => o.source === "manifest" || o.source === plugin));
}
