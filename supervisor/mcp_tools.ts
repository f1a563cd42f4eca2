/**
 * An `[mcp]` plugin's tools, listed when plugins are indexed: its npm package
 * is fetched once into the MCP servers' Deno cache folder (a progress line
 * says so; the network reached is the npm registry's), the server is started
 * with its flags, asked `tools/list`, and stopped. The answer is cached in the
 * cache folder by the plugin's name, version and `[mcp]` table, so later runs
 * and `ironclaw plugins show` start nothing. A tool whose name IronClaw
 * cannot offer (not lowercase letters, digits and `_`) is left out.
 *
 * @module
 */

import { join } from "node:path";
import { IronclawError } from "../manifests/errors.ts";
import { mcpServerPlan } from "../capabilities/mcp_flags.ts";
import type { PluginManifest, PluginToolSpec } from "../plugins/plugin_manifest.ts";
import { pluginGrants } from "../plugins/plugin_index.ts";
import { defaultCacheDir } from "./assets.ts";
import { mcpDenoDir } from "./mcp_host.ts";
import { McpServer } from "./mcp_server.ts";
import type { SecretConfig } from "../manifests/runtime_config.ts";

/** How long the fetch and the listing of one server may take at index time, in milliseconds. */
const LIST_TIMEOUT_MS = 120_000;
/** A tool name IronClaw can offer as `plugin.tool` and `plugin__tool`. */
const TOOL_NAME = /^[a-z][a-z0-9_]{0,47}$/;

/** Options of {@linkcode listMcpTools}. */
export interface ListMcpToolsOptions {
  /** The cache folder; default the runtime's. */
  cacheDir?: string;
  /** Where the progress line of a fetch goes; default standard error. */
  progress?: (line: string) => void;
  /** The runtime config's `[secrets]`: a remote server's `[mcp] secret` is one of them. */
  secrets?: Readonly<Record<string, SecretConfig>>;
}

/**
 * The tools of an `[mcp]` plugin's server, from the cache or from its `tools/list`.
 *
 * @param manifest The plugin.
 * @param options The cache folder and where progress goes.
 * @returns Its tools.
 * @throws {IronclawError} `ERR_MCP_START` when the package cannot be fetched or the server cannot list its tools.
 */
export async function listMcpTools(
  manifest: PluginManifest,
  options: ListMcpToolsOptions = {},
): Promise<PluginToolSpec[]> {
  const mcp = manifest.mcp;
  if (!mcp) return [];
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const key = await cacheKey(manifest);
  const file = join(cacheDir, "mcp", "tools", `${manifest.name}-${manifest.version}-${key}.json`);
  try {
    return JSON.parse(await Deno.readTextFile(file)) as PluginToolSpec[];
  } catch { /* not listed yet */ }
  const tools = mcp.command === null
    ? await askRemote(manifest, options)
    : await askLocal(manifest, mcp.command, { cacheDir, progress: options.progress });
  await Deno.mkdir(join(cacheDir, "mcp", "tools"), { recursive: true });
  const tmp = `${file}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(tools));
  await Deno.rename(tmp, file);
  return tools;
}

/** Fetches a local server's package if it is one from npm, then asks it. */
async function askLocal(
  manifest: PluginManifest,
  command: string,
  options: { cacheDir: string; progress: ((line: string) => void) | undefined },
): Promise<PluginToolSpec[]> {
  const denoDir = mcpDenoDir(options.cacheDir);
  const progress = options.progress ??
    ((line) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")));
  if (command.startsWith("npm:")) {
    progress(`ironclaw: fetching ${command} for plugin "${manifest.name}" (once)`);
    await fetchPackage(command, denoDir);
  }
  const { plan, issues } = mcpServerPlan(pluginGrants(manifest), {});
  if (!plan) return [];
  if (issues.length) throw new IronclawError(issues[0]!.code, issues[0]!.message, { hint: issues[0]!.hint });
  const server = new McpServer(plan, { plugin: manifest.name, dir: manifest.dir, denoDir });
  try {
    return await askTools(manifest, (method, params) => server.request(method, params, LIST_TIMEOUT_MS));
  } finally {
    await server.close();
  }
}

/**
 * Asks a remote server through the supervisor's equivalent of the gate (see `mcp_remote_list.ts`): a URL its
 * `[permissions.net]` does not allow is refused before anything is sent.
 */
async function askRemote(manifest: PluginManifest, options: ListMcpToolsOptions): Promise<PluginToolSpec[]> {
  const { issues } = mcpServerPlan(pluginGrants(manifest), {});
  if (issues.length) throw new IronclawError(issues[0]!.code, issues[0]!.message, { hint: issues[0]!.hint });
  const { remoteMcpClient } = await import("./mcp_remote_list.ts");
  const { client } = await remoteMcpClient(manifest, options.secrets ? { secrets: options.secrets } : {});
  return await askTools(manifest, (method, params) => client.request(method, params));
}

/** A short hash of what makes the list: the `[mcp]` table and the permissions (a server may list by them). */
async function cacheKey(manifest: PluginManifest): Promise<string> {
  const text = JSON.stringify([manifest.mcp, manifest.permissions]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].slice(0, 8).map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `deno cache` of the package into the servers' cache folder, with no config and no lock file of the caller's. */
async function fetchPackage(specifier: string, denoDir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--no-config", "--quiet", specifier],
    env: { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
  }).output().catch((e: Error) => ({ success: false, stderr: new TextEncoder().encode(e.message) }));
  if (!out.success) {
    throw new IronclawError(
      "ERR_MCP_START",
      `Cannot fetch the MCP server "${specifier}": ${
        new TextDecoder().decode(out.stderr).trim().slice(-500)
      }`,
      { hint: "check the package name and version (npm view <package> versions), and that npm is reachable" },
    );
  }
}

/** Asks a server `tools/list` (following its pages). */
async function askTools(
  manifest: PluginManifest,
  request: (method: string, params: Record<string, unknown>) => Promise<unknown>,
): Promise<PluginToolSpec[]> {
  const tools: PluginToolSpec[] = [];
  try {
    let cursor: string | undefined;
    for (let page = 0; page < 32; page++) {
      const result = await request("tools/list", cursor ? { cursor } : {}) as {
        tools?: unknown;
        nextCursor?: unknown;
      };
      for (const t of Array.isArray(result?.tools) ? result.tools : []) {
        const { name, description, inputSchema } = t as Record<string, unknown>;
        if (typeof name !== "string" || !TOOL_NAME.test(name) || tools.some((x) => x.name === name)) continue;
        const input = typeof inputSchema === "object" && inputSchema !== null && !Array.isArray(inputSchema)
          ? inputSchema as Record<string, unknown>
          : { type: "object" };
        tools.push({ name, description: typeof description === "string" ? description : name, input });
      }
      cursor = typeof result?.nextCursor === "string" ? result.nextCursor : undefined;
      if (!cursor) break;
    }
  } catch (e) {
    const err = e as { code?: string; message?: string; hint?: string };
    // A refusal of the checks says what to grant, with its own code.
    if (e instanceof IronclawError && e.code !== "ERR_MCP_START") throw e;
    throw new IronclawError(
      "ERR_MCP_START",
      `Cannot list the tools of plugin "${manifest.name}": ${err.message}`,
      {
        hint: err.hint || "run its server by hand to see why it fails",
      },
    );
  }
  return tools.slice(0, 64);
}
