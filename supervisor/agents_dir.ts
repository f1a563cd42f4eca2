/**
 * A folder of agents, by name: the manifests an operator put there
 * (`DIR/NAME.toml`, or `DIR/SUB/agent.toml`), read to learn each one's
 * `[agent] name`. Workers (and `serve`) run agents found this way on their
 * own machine: a queued run names its agent, never a manifest to trust.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { IronclawError } from "../manifests/errors.ts";
import { loadManifest } from "./load.ts";

/** The agents of a folder, by name: each one's manifest, absolute. */
export type AgentsByName = ReadonlyMap<string, string>;

/** The manifests a folder holds: `*.toml` in it (not `ironclaw.toml`) and `*\/agent.toml` one level down. */
async function manifestsIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    throw new IronclawError("ERR_IO", `Cannot read the agents folder "${dir}": ${(e as Error).message}`, {
      hint: "give --agents a folder that holds agent manifests (NAME.toml, or NAME/agent.toml)",
      cause: e,
    });
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.isFile && e.name.endsWith(".toml") && e.name !== "ironclaw.toml") found.push(join(dir, e.name));
    if (e.isDirectory) {
      const inner = join(dir, e.name, "agent.toml");
      const info = await Deno.stat(inner).catch(() => null);
      if (info?.isFile) found.push(inner);
    }
  }
  return found;
}

/**
 * Finds the agents of a folder by their `[agent] name`.
 *
 * @param dir The folder.
 * @returns Each agent's manifest, by name.
 * @throws {IronclawError} `ERR_IO` when the folder cannot be read, `ERR_CONFLICT` when two manifests share a
 *   name, or the manifest's own error when one cannot be parsed.
 */
export async function findAgents(dir: string): Promise<AgentsByName> {
  const agents = new Map<string, string>();
  for (const path of await manifestsIn(resolve(dir))) {
    const { agent } = await loadManifest(path);
    const before = agents.get(agent.name);
    if (before !== undefined) {
      throw new IronclawError("ERR_CONFLICT", `Two manifests name the agent "${agent.name}"`, {
        hint: `rename one: "${before}" and "${path}"`,
      });
    }
    agents.set(agent.name, path);
  }
  return agents;
}
