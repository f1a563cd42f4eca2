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
    "ERR_APPROVAL_DENIED",
    "ERR_MCP_START",
    "ERR_MCP_TIMEOUT",
    "ERR_MCP_PROTOCOL",
    "ERR_MCP_EXITED",
    "ERR_MCP_TOOL",
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

/** The hint of an ERR_IO whose maker gave none. */
const IO_HINT = "try again; if it keeps failing, look at the run's record (ironclaw runs show) for the cause";

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
    // No ERR_IO leaves the gate without a hint.
    super(code, message, { hint: hint || (code === "ERR_IO" ? IO_HINT : hint) });
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
 * The gate error for anything an op threw: gate errors as they are, the flags' refusals as denials, and every
 * other error said in IronClaw's words with a hint (the operating system's text may follow, never alone).
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
  const os = e instanceof Error ? e.message : String(e);
  if (e instanceof Deno.errors.NotFound) {
    return new GateError("ERR_NOT_FOUND", `"${what}" does not exist (${os})`, "check the path or name", "io");
  }
  if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return new GateError(
      "ERR_LIMIT",
      `"${what}" took longer than ${OP_TIMEOUT_MS / 1000} s`,
      "ask for less",
      "timeout",
    );
  }
  const [said, hint] = IO_FAILURES.find(([test]) => test(e))?.slice(1) as [string, string] | undefined ??
    [
      "failed with an I/O error the gate has no name for",
      "check that it exists and can be used, then try again",
    ];
  return new GateError("ERR_IO", `"${what}" ${said} (the system said: ${os})`, hint, "io");
}

const errorCodeIs = (...codes: string[]) => (e: unknown): boolean =>
  codes.includes(String((e as { code?: unknown } | null)?.code));
const isA = (...kinds: (new (...args: never[]) => Error)[]) => (e: unknown): boolean =>
  kinds.some((k) => e instanceof k);

/** Deno's I/O errors, each with what it means in IronClaw's words and what to do about it. */
const IO_FAILURES: readonly [test: (e: unknown) => boolean, said: string, hint: string][] = [
  [isA(Deno.errors.AlreadyExists), "already exists", "choose another name, or remove it first"],
  [
    isA(Deno.errors.IsADirectory),
    "is a folder, not a file",
    "use fs.list for a folder, or name a file in it",
  ],
  [
    isA(Deno.errors.NotADirectory),
    "has a file where a folder must be (a part of the path before the last is not a folder)",
    "check the path: every part before the last must be a folder",
  ],
  [
    isA(Deno.errors.FilesystemLoop),
    "leads through too many symbolic links (a loop)",
    "remove the loop of links, or use the real path",
  ],
  [errorCodeIs("ENOSPC", "EDQUOT"), "cannot be written: the disk is full", "free some space, or write less"],
  [errorCodeIs("EROFS"), "is on a read-only disk", "write somewhere else"],
  [errorCodeIs("ENAMETOOLONG"), "has a name that is too long", "use a shorter name"],
  [
    isA(
      Deno.errors.ConnectionRefused,
      Deno.errors.ConnectionReset,
      Deno.errors.ConnectionAborted,
      Deno.errors.NotConnected,
      Deno.errors.NetworkUnreachable,
      Deno.errors.AddrNotAvailable,
      Deno.errors.AddrInUse,
      Deno.errors.Http,
    ),
    "could not be reached over the network",
    "check that the host is up and its address and port are right, then try again",
  ],
  [
    isA(
      Deno.errors.TimedOut,
      Deno.errors.Interrupted,
      Deno.errors.BrokenPipe,
      Deno.errors.UnexpectedEof,
      Deno.errors.WouldBlock,
      Deno.errors.Busy,
    ),
    "was cut off before it finished",
    "try again; if it keeps failing, something else is using it",
  ],
  [
    isA(Deno.errors.InvalidData),
    "gave data that cannot be read",
    "check what it holds and the encoding asked for",
  ],
  [
    isA(Deno.errors.NotSupported),
    "asks for something this system does not support",
    "use a regular file or folder",
  ],
];
