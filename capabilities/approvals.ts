/**
 * `[approvals]` of a manifest, resolved: which gate calls wait for a person's
 * decision, and how long they wait. Pure: data in, data out.
 *
 * An approval is asked for only after the call's grants allowed it: an
 * approval never widens a grant.
 *
 * @module
 */

import type { Issue, SourcePos } from "../manifests/errors.ts";
import { closest } from "../manifests/schema.ts";

/**
 * The gate ops an approval may be required for (the names of the gate's ops table; a protocol test keeps them
 * equal).
 */
export const APPROVABLE_OPS: readonly string[] = Object.freeze([
  "fs.read",
  "fs.write",
  "fs.list",
  "http.fetch",
  "proc.run",
  "env.get",
  "model.complete",
  "tool.call",
]);

/** One call kind that needs approval: an op, and for `http.fetch` optionally one method. */
export interface ApprovalRule {
  /** The gate op, such as `fs.write`. */
  readonly op: string;
  /** For `http.fetch`: only requests of this method (upper case); absent: every call of the op. */
  readonly method?: string;
}

/** `[approvals]`, resolved. */
export interface ApprovalPolicy {
  /** The calls that need a person's decision; empty when none. */
  readonly require: readonly ApprovalRule[];
  /** How long a call waits for a decision, in seconds; then it is denied (expired). */
  readonly timeoutS: number;
}

/**
 * Resolves `[approvals] require`: each entry is an op, or `http.fetch:METHOD`.
 *
 * @example
 * ```ts
 * import { resolveApprovals } from "./approvals.ts";
 * import type { Issue } from "../manifests/errors.ts";
 * const issues: Issue[] = [];
 * const a = resolveApprovals({ require: ["fs.write", "http.fetch:POST"], timeoutS: 300 }, {
 *   at: () => ({ file: "agent.toml", line: 1, column: 1, key: "approvals" }),
 *   issues,
 * });
 * if (a.require.length !== 2 || a.require[1]?.method !== "POST" || issues.length) throw new Error("wrong");
 * ```
 *
 * @param written The entries as written, and the timeout.
 * @param context Where each entry sits, and where problems go (an unknown op: with the closest op).
 * @returns The approvals.
 */
export function resolveApprovals(
  written: { require: readonly string[]; timeoutS: number },
  context: { at: (n: number) => SourcePos; issues: Issue[] },
): ApprovalPolicy {
  const require: ApprovalRule[] = [];
  written.require.forEach((entry, n) => {
    const [op = "", method, ...rest] = entry.split(":");
    if (!APPROVABLE_OPS.includes(op)) {
      const near = closest(op, APPROVABLE_OPS);
      context.issues.push({
        code: "ERR_VALUE",
        message: `Unknown op "${op}" in [approvals] require`,
        hint: near ? `did you mean "${near}"?` : `the ops are ${APPROVABLE_OPS.join(", ")}`,
        pos: context.at(n),
      });
      return;
    }
    if (rest.length > 0 || (method !== undefined && (op !== "http.fetch" || !/^[A-Za-z]+$/.test(method)))) {
      context.issues.push({
        code: "ERR_VALUE",
        message: `"${entry}" in [approvals] require is not an op or http.fetch:METHOD`,
        hint: 'write an op such as "fs.write", or "http.fetch:POST" for one method of http.fetch',
        pos: context.at(n),
      });
      return;
    }
    require.push(method === undefined ? { op } : { op, method: method.toUpperCase() });
  });
  return { require, timeoutS: written.timeoutS };
}

/**
 * Whether a call needs approval.
 *
 * @example
 * ```ts
 * import { needsApproval } from "./approvals.ts";
 * const require = [{ op: "http.fetch", method: "POST" }];
 * if (needsApproval(require, { op: "http.fetch", args: { method: "GET" } })) throw new Error("GET needs none");
 * if (!needsApproval(require, { op: "http.fetch", args: { method: "post" } })) throw new Error("POST does");
 * ```
 *
 * @param require The rules.
 * @param call The op, and its arguments (for `http.fetch`, its `method`: GET when absent).
 * @returns True when a person must approve it.
 */
export function needsApproval(
  require: readonly ApprovalRule[],
  call: { op: string; args: Readonly<Record<string, unknown>> },
): boolean {
  const { op, args } = call;
  return require.some((r) => {
    if (r.op !== op) return false;
    if (r.method === undefined) return true;
    const method = typeof args.method === "string" ? args.method.toUpperCase() : "GET";
    return method === r.method;
  });
}

/**
 * The rules as written: `op` or `op:METHOD`.
 *
 * @param require The rules.
 * @returns One string per rule.
 */
export function approvalRuleNames(require: readonly ApprovalRule[]): string[] {
  return require.map((r) => (r.method ? `${r.op}:${r.method}` : r.op));
}
