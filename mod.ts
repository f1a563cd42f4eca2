/**
 * IronClaw: a Deno-native sandbox runtime for AI agents. An agent manifest
 * (`agent.toml`) becomes a frozen Policy, and the Policy becomes the exact
 * Deno permission flags of the process the agent runs in.
 *
 * Run it as a CLI (`deno run -A jsr:@ironclaw/cli check agent.toml`) or import it:
 *
 * @example Resolve a manifest's Policy and its sandbox flags
 * ```ts
 * import { defaultRuntimeConfig, parseManifest, resolvePolicy, toDenoFlags } from "./mod.ts";
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

export * from "./manifests/mod.ts";
export * from "./capabilities/mod.ts";
export { type LoadConfigOptions, loadManifest, loadPolicy, loadRuntimeConfig } from "./supervisor/load.ts";
export { main, VERSION } from "./cli/main.ts";
export type { Io } from "./cli/output.ts";
export { runAgent, type RunAgentOptions } from "./supervisor/run.ts";
export {
  type EndState,
  EXIT_CODES,
  type ModelClient,
  type ModelUsageReport,
  type RunHandle,
  type RunOptions,
  type RunOutcome,
  startRun,
} from "./supervisor/supervisor.ts";
export {
  GATE_ABI_VERSION,
  GateError,
  type GateErrorCode,
  type GateReply,
  HostGate,
  type HostGateOptions,
} from "./sandbox/gate.ts";
export { listRuns, type RunSummary, showRun } from "./supervisor/records.ts";
export {
  type AgentModule,
  PROTOCOL_VERSION,
  type RunEvent,
  type SandboxAssets,
  type SecretValue,
} from "./protocol/protocol.ts";
export {
  type AssetOptions,
  defaultCacheDir,
  ensureSandboxEntry,
  type PackageSource,
  packageSource,
  type SandboxEntry,
  sandboxEntry,
} from "./supervisor/assets.ts";
export {
  sandboxCommand,
  type SandboxCommandOptions,
  type SandboxMode,
} from "./supervisor/sandbox_command.ts";
export * from "./plugins/mod.ts";

export * from "./supervisor/models/mod.ts";

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
