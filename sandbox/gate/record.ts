/**
 * What the run's record keeps of each gate call: the decision, the rule, and a
 * safe summary of the arguments.
 *
 * @module
 */

import type { RunEvent } from "../../protocol/protocol.ts";
import type { GateError } from "./errors.ts";

/**
 * A short, safe summary of a request's arguments for the event log (no file contents or bodies).
 *
 * @example
 * ```ts
 * import { summarize } from "./record.ts";
 * const s = summarize({ path: "out/a.txt", data: "private" });
 * if (JSON.stringify(s) !== '{"path":"out/a.txt","data":"<7 chars>"}') throw new Error(JSON.stringify(s));
 * ```
 *
 * @param args The arguments.
 * @returns The summary.
 */
export function summarize(args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (k === "data" || k === "body" || k === "stdin") {
      out[k] = typeof v === "string" ? `<${v.length} chars>` : typeof v;
    } else if (k === "headers" && typeof v === "object" && v) out[k] = Object.keys(v);
    else out[k] = typeof v === "string" && v.length > 200 ? v.slice(0, 200) + "..." : v;
  }
  return out;
}

/**
 * The record of an allowed call.
 *
 * @param op The op.
 * @param call The rule that allowed it (`rule`), the summary of its arguments (`args`) and when it started
 *   (`started`, from `performance.now()`).
 * @returns The event.
 */
export function allowedEvent(
  op: string,
  { rule, args, started }: { rule: string; args: Record<string, unknown>; started: number },
): RunEvent {
  return {
    type: "gate",
    op,
    decision: "allow",
    rule,
    args,
    us: Math.round((performance.now() - started) * 1000),
  };
}

/** The codes of a refusal (by a grant, a limit or a person), as opposed to a failure. */
const DENIALS: ReadonlySet<string> = new Set(["ERR_CAPABILITY_DENIED", "ERR_LIMIT", "ERR_APPROVAL_DENIED"]);

/**
 * The record of a refused or failed call: refusals (by a grant, a limit or a person) are "deny", failures "error".
 *
 * @param op The op.
 * @param call Its arguments as sent (`argsJson`; the first 300 characters are kept), why (`error`) and when
 *   it started (`started`, from `performance.now()`).
 * @returns The event.
 */
export function deniedEvent(
  op: string,
  { argsJson, error, started }: { argsJson: string; error: GateError; started: number },
): RunEvent {
  return {
    type: "gate",
    op,
    decision: DENIALS.has(error.code) ? "deny" : "error",
    rule: error.rule,
    code: error.code,
    message: error.message,
    hint: error.hint,
    args: argsJson.length > 300 ? argsJson.slice(0, 300) + "..." : argsJson,
    us: Math.round((performance.now() - started) * 1000),
  };
}
