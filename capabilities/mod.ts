/**
 * Grants, matchers, the Policy and the Deno flags it becomes. Pure: no I/O.
 *
 * @module
 */

export * from "./paths.ts";
export * from "./net.ts";
export * from "./commands.ts";
export * from "./policy.ts";
export * from "./approvals.ts";
export * from "./deno_flags.ts";
export * from "./mcp_flags.ts";
export type { Checked } from "./result.ts";
export * from "./worker_permissions.ts";
export * from "./grants_summary.ts";
export * from "./task_rule.ts";
