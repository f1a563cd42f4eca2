/**
 * The types of the host gate's API: its options and its replies.
 *
 * @module
 */

import type { RunEvent, SecretValue } from "../../protocol/protocol.ts";
import type { Failure } from "../../manifests/errors.ts";

/** Options of `HostGate`. */
export interface HostGateOptions {
  /** Receives every event (decisions, counts). */
  emit(event: RunEvent): void;
  /** False only in tests that prove the process flags hold alone: then nothing is checked here. */
  checks?: boolean;
  /** Resolves a host name to its addresses (the supervisor does it: the sandbox cannot reach a name server). */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Asks the supervisor's model broker for a completion (`model.complete`). */
  complete?: (request: Record<string, unknown>) => Promise<unknown>;
  /** Runs a plugin tool (`tool.call`): checks its input and runs its handler, or throws a GateError. */
  tools?: (name: string, input: unknown) => Promise<unknown>;
  /** The plugin this gate acts for (see `HostGate.forPlugin`); absent for the agent. */
  actor?: string;
  /** A call count shared with the gates of the same run. */
  counter?: { calls: number };
  /**
   * Asks the supervisor for a person's approval of a call that `[approvals] require` names, after its grants
   * allowed it; resolves when approved, rejects (with `code` `ERR_APPROVAL_DENIED`) when denied or expired.
   * Without it such calls are refused.
   */
  approve?: (op: string, args: Record<string, unknown>) => Promise<unknown>;
  /** Secret values to inject as headers into requests to their hosts, and to redact from what comes back. */
  secrets?: readonly SecretValue[];
}

/** The answer to one gate call: the result as JSON text, or the error. */
export type GateReply =
  | { ok: true; json: string }
  | { ok: false; error: Failure };
