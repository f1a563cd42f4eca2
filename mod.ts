/**
 * IronClaw: a Deno-native sandbox runtime for AI agents. An agent manifest
 * (`agent.toml`) becomes a frozen Policy, and the Policy becomes the exact
 * Deno permission flags of the process the agent runs in.
 *
 * Run it as a CLI (`deno run -A jsr:@ironclaw/cli check agent.toml`) or import it:
 *
 * @example Resolve a manifest's Policy and its sandbox flags
 * ```ts
 * import { defaultRuntimeConfig, parseManifest, resolvePolicy, toDenoFlags } from "./policy.ts";
 *
 * const manifest = parseManifest(
 *   `[agent]
 * name = "notes-summarizer"
 * kind = "wasm"
 * module = "agent.wasm"
 *
 * [capabilities.fs]
 * read = ["notes"]
 * `,
 *   { path: "/srv/agents/notes/agent.toml" },
 * );
 * const policy = resolvePolicy(manifest, defaultRuntimeConfig("/srv"));
 * const flags = toDenoFlags(policy);
 * if (!flags.includes("--allow-read=/srv/agents/notes/notes,/srv/agents/notes/agent.wasm")) {
 *   throw new Error(flags.join(" "));
 * }
 * ```
 *
 * @module
 */

// The policy half (parse, resolve, flags) is `@ironclaw/cli/policy`; plugins are `@ironclaw/cli/plugin`;
// test helpers are `@ironclaw/cli/testing`. This entry is the CLI and the run API.
export { main, VERSION } from "./cli/main.ts";
export type { Io } from "./cli/output.ts";
export {
  ERROR_CODES,
  type ErrorCode,
  errorCodeOf,
  type Failure,
  failureOf,
  formatIssue,
  InvalidDocumentError,
  IronclawError,
  type IronclawErrorOptions,
  isErrorCode,
  isIssueCode,
  type Issue,
  ISSUE_CODES,
  type IssueCode,
  type SourcePos,
} from "./manifests/errors.ts";
// The types of the policy half, which the run API's signatures use (its functions are in ./policy.ts).
export type * from "./manifests/mod.ts";
export type * from "./capabilities/mod.ts";
export type * from "./protocol/model_types.ts";
export {
  loadAgent,
  type LoadConfigOptions,
  type LoadedAgent,
  loadManifest,
  loadPolicy,
  loadRuntimeConfig,
} from "./supervisor/load.ts";
export {
  PLACEHOLDER_RUN_ID,
  planAgent,
  type PlanOptions,
  planRun,
  type PlanSource,
  type RunPaths,
  type RunPlan,
} from "./supervisor/plan.ts";
export { runAgent, type RunAgentOptions, runPlanned, type RunPlannedOptions } from "./supervisor/run.ts";
export {
  checkTaskBytes,
  type EndState,
  EXIT_CODES,
  type ModelClient,
  type ModelUsageReport,
  type RunHandle,
  type RunOptions,
  type RunOutcome,
  startRun,
} from "./supervisor/supervisor.ts";
export { followRun, listRuns, showRun } from "./supervisor/records.ts";
export {
  runWorker,
  startWorker,
  type WorkerEvent,
  type WorkerHandle,
  type WorkerOptions,
  type WorkerSummary,
} from "./supervisor/worker.ts";
export { type AgentsByName, findAgents } from "./supervisor/agents_dir.ts";
export { isLoopback, type ServeHandle, type ServeOptions, startServer } from "./supervisor/serve/mod.ts";
export { type PoolEvent, type PoolOptions, type PoolStats, SandboxPool } from "./supervisor/pool.ts";
export type { WarmSandbox } from "./supervisor/warm_sandbox.ts";
export type { SandboxProcess, SpawnOptions } from "./supervisor/spawn.ts";
export type { McpHost, McpHostOptions } from "./supervisor/mcp_host.ts";
export {
  type Approval,
  type ApprovalDecision,
  type ApprovalFilter,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalStore,
  type ClaimedRun,
  type ClaimOptions,
  type DecideApproval,
  type NewRun,
  openConfiguredStore,
  openStore,
  type QueuedRun,
  type RunClose,
  type RunFilter,
  type RunLease,
  type RunOwner,
  type RunRecordView,
  type RunStore,
  type RunSummary,
  SqliteRunStore,
  type SqliteStoreOptions,
  type StateAnswer,
  type StateOp,
  type StateScope,
} from "./supervisor/store/mod.ts";
export {
  type ApprovalAnswer,
  approvalDigest,
  type ApprovalPrompt,
  decideApproval,
  deciderName,
} from "./supervisor/approver.ts";
export { RUN_EVENTS, type RunEventType } from "./protocol/events.ts";
export type { AgentModule, RunEvent, SandboxAssets, SecretValue } from "./protocol/protocol.ts";
export type { SandboxEntry } from "./supervisor/assets.ts";
export type { SandboxMode } from "./supervisor/sandbox_command.ts";

if (import.meta.main) {
  if (Deno.args[0] === "__sandbox") {
    // A compiled binary has no separate deno to spawn: it runs itself as the sandbox process
    // (supervisor/sandbox_command.ts), which speaks the protocol on stdio and runs the agent in a Worker.
    await import("./sandbox/sandbox.ts");
  } else {
    const { main } = await import("./cli/main.ts");
    Deno.exit(await main(Deno.args));
  }
}
