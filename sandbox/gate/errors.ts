/**
 * The gate's errors: {@linkcode GateError}, the short constructors the
 * families use, and the mapping of Deno's I/O errors (the process flags'
 * refusals become denials).
 *
 * @module
 */

import { type ErrorCode, type Failure, IronclawError, isErrorCode } from "../../manifests/errors.ts";
import type { ModelErrorCode } from "../../protocol/model_types.ts";
import { OP_TIMEOUT_MS } from "./family.ts";

/** The codes of the gate's own families; a model call adds the {@linkcode ModelErrorCode}s. */
export const GATE_ERROR_CODES = Object.freeze(
  [
    "ERR_CAPABILITY_DENIED",
    "ERR_NOT_FOUND",
    "ERR_LIMIT",
    "ERR_INVALID_ARGS",
    "ERR_UNSUPPORTED",
    "ERR_IO",
    "ERR_TOOL",
  ] as const satisfies readonly ErrorCode[],
);

/** Error codes a gate call can answer with. */
export type GateErrorCode = typeof GATE_ERROR_CODES[number] | ModelErrorCode;

/**
 * Whether a code that came from outside the gate (the broker's reply) is one a gate call may answer with.
 *
 * @param s Any value.
 * @returns True for a {@linkcode GateErrorCode}.
 */
export function isGateErrorCode(s: unknown): s is GateErrorCode {
  return isErrorCode(s) && ((GATE_ERROR_CODES as readonly string[]).includes(s) || /^ERR_MODEL_/.test(s));
}

/** A refused or failed gate call, as the guest receives it. */
export class GateError extends IronclawError {
  /** Stable code. */
  declare readonly code: GateErrorCode;
  /** The rule that decided, for the record. */
  readonly rule: string;

  /**
   * Makes a gate error.
   *
   * @param code Stable code.
   * @param message What happened.
   * @param hint What to change.
   * @param rule The rule that decided.
   */
  constructor(code: GateErrorCode, message: string, hint: string, rule: string) {
    super(code, message, { hint });
    this.name = "GateError";
    this.rule = rule;
  }

  /** The JSON error the guest receives. */
  toJSON(): Failure {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

/**
 * Malformed arguments.
 *
 * @param message What is wrong.
 * @param hint What to pass instead.
 * @returns The error.
 */
export function invalid(message: string, hint: string): GateError {
  return new GateError("ERR_INVALID_ARGS", message, hint, "args");
}

/**
 * Refused by the Policy.
 *
 * @param message What was refused.
 * @param why What to grant (`hint`) and the rule that refused (`rule`).
 * @returns The error.
 */
export function denied(message: string, why: { hint: string; rule: string }): GateError {
  return new GateError("ERR_CAPABILITY_DENIED", message, why.hint, why.rule);
}

/**
 * An op that must wait, asked by a guest that cannot.
 *
 * @param op The op.
 * @returns The error.
 */
export function unsupported(op: string): GateError {
  return new GateError(
    "ERR_UNSUPPORTED",
    `"${op}" must wait for its answer, which a WASI preview1 guest cannot do`,
    "build the agent as a component (ironclaw build) to use this op",
    "abi",
  );
}

/**
 * Runs file or process I/O, mapping Deno's errors to gate errors.
 *
 * @param fn The I/O.
 * @param what What it reaches, for the message.
 * @returns What `fn` returns.
 * @throws {GateError} When `fn` throws.
 */
export function io<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (e) {
    throw mapIoError(e, what);
  }
}

/**
 * {@linkcode io} for I/O that waits.
 *
 * @param fn The I/O.
 * @param what What it reaches, for the message.
 * @returns What `fn` resolves to.
 * @throws {GateError} When `fn` rejects.
 */
export async function ioAsync<T>(fn: () => Promise<T>, what: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapIoError(e, what);
  }
}

/**
 * The gate error for anything an op threw: gate errors as they are, the flags' refusals as denials.
 *
 * @param e What was thrown.
 * @param what What the op reached, for the message.
 * @returns The gate error.
 */
export function mapIoError(e: unknown, what: string): GateError {
  if (e instanceof GateError) return e;
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return new GateError(
      "ERR_CAPABILITY_DENIED",
      `The sandbox process may not reach "${what}"`,
      "grant it in the manifest's [capabilities]",
      "deno-flags",
    );
  }
  if (e instanceof Deno.errors.NotFound) {
    return new GateError(
      "ERR_NOT_FOUND",
      `"${what}" does not exist (${(e as Error).message})`,
      "check the path or name",
      "io",
    );
  }
  if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return new GateError(
      "ERR_LIMIT",
      `"${what}" took longer than ${OP_TIMEOUT_MS / 1000} s`,
      "ask for less",
      "timeout",
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  return new GateError("ERR_IO", `"${what}" failed: ${message}`, "", "io");
}
