/**
 * What the MCP tools are made of, read once at start: the agents of a
 * folder and the CodeAct Policy of the code tools.
 *
 * @module
 */

import type { Policy } from "../../capabilities/policy.ts";
import { IronclawError } from "../../manifests/errors.ts";
import type { RuntimeConfig } from "../../manifests/runtime_config.ts";
import { findAgents } from "../agents_dir.ts";
import { loadAgent } from "../load.ts";
import type { AgentCallContext, McpAgent } from "./agent_call.ts";
import { defaultCodeManifest } from "./default_code.ts";

/** What the MCP tools answer from: the store, the worker, the agents and the code tools' Policy. */
export interface McpHost extends AgentCallContext {
  /** The runtime config in force. */
  config: RuntimeConfig;
  /** The agents offered as tools, by name. */
  agents: ReadonlyMap<string, McpAgent>;
  /** The CodeAct Policy of `run_javascript` and `run_python`. */
  code: Policy;
}

/**
 * The agents of a folder, each one's Policy resolved now (a manifest with problems stops the start).
 *
 * @param dir The folder (NAME.toml, NAME/agent.toml).
 * @param config The runtime config in force.
 * @returns The agents by name.
 * @throws {IronclawError} As {@linkcode findAgents} and {@linkcode loadAgent} do.
 */
export async function mcpAgents(dir: string, config: RuntimeConfig): Promise<Map<string, McpAgent>> {
  const agents = new Map<string, McpAgent>();
  for (const [name, manifest] of await findAgents(dir)) {
    agents.set(name, { manifest, policy: (await loadAgent(manifest, config)).policy });
  }
  return agents;
}

/**
 * The Policy of the code tools: the given CodeAct manifest's, or the built-in one's (it grants nothing).
 *
 * @param config The runtime config in force.
 * @param options `manifest`: the operator's CodeAct manifest.
 * @returns The Policy.
 * @throws {IronclawError} `ERR_USAGE` when the manifest is not of a CodeAct agent, or its own errors.
 */
export async function codePolicy(
  config: RuntimeConfig,
  options: { manifest?: string } = {},
): Promise<Policy> {
  const path = options.manifest ?? await defaultCodeManifest(config.runtime.state_dir);
  const { policy } = await loadAgent(path, config);
  if (policy.agent.kind !== "codeact") {
    throw new IronclawError("ERR_USAGE", `The manifest "${path}" is not of a CodeAct agent`, {
      hint: 'the code tools run under a manifest with kind = "codeact" under [agent]',
    });
  }
  return policy;
}
