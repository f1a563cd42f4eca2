/**
 * The `[mcp]` plugins of one run, on the supervisor's side: each local
 * server starts with the run (a Deno child with exactly its plugin's
 * permissions, see `mcp_server.ts`) and is stopped with it; the sandbox's
 * `tool.call` of such a plugin's tool arrives as an `mcp.call` request
 * (`{plugin, tool, input}`), as `model.complete` does, so the sandbox itself
 * never gets `--allow-run` nor the server's permissions. The input was
 * checked against the tool's schema in the sandbox; it is checked again here
 * (the sandbox is not trusted) with the same validator.
 *
 * @module
 */

import { join } from "node:path";
import type { Policy } from "../capabilities/policy.ts";
import { inputProblem } from "../plugins/json_schema.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { defaultCacheDir } from "./assets.ts";
import { McpError, McpServer } from "./mcp_server.ts";
import { mcpToolOutput } from "../protocol/mcp_http.ts";

/** The largest tool answer passed on to the sandbox, as JSON characters (the plugin host's own cap). */
export const MAX_MCP_RESULT = 1024 * 1024;

/** The Deno cache folder the MCP servers' npm packages are fetched into, under the cache folder. */
export function mcpDenoDir(cacheDir: string = defaultCacheDir()): string {
  return join(cacheDir, "mcp", "deno");
}

/** Options of {@linkcode McpHost}. */
export interface McpHostOptions {
  /** Records an event. */
  emit: (event: RunEvent) => void;
  /** The cache folder (its `mcp/deno` holds the servers' packages); default the runtime's. */
  cacheDir?: string;
}

/** A used plugin's server and what its calls need. */
interface Served {
  server: McpServer;
  timeoutMs: number;
  tools: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/** The run's MCP servers, by plugin name. */
export class McpHost {
  readonly #servers = new Map<string, Served>();

  /**
   * Starts the server of each used `[mcp]` plugin with a `command` (without waiting for it: its first call
   * waits). A remote server (`url`) is not run here.
   *
   * @param policy The run's Policy.
   * @param options Where events go, and the cache folder.
   */
  constructor(policy: Policy, options: McpHostOptions) {
    const denoDir = mcpDenoDir(options.cacheDir);
    for (const plugin of policy.plugins) {
      const plan = plugin.mcp;
      if (!plan || plan.command === null) continue;
      const server = new McpServer(plan, {
        plugin: plugin.name,
        dir: plugin.dir,
        denoDir,
        emit: options.emit,
      });
      const timeoutS = Math.min(plan.timeoutS, policy.limits.stepTimeoutS);
      this.#servers.set(plugin.name, {
        server,
        timeoutMs: timeoutS * 1000,
        tools: new Map(plugin.tools.map((t) => [t.name, t.input])),
      });
      server.start().catch(() => {}); // a failed start is reported by the first call
    }
  }

  /** Whether the run has any server. */
  get size(): number {
    return this.#servers.size;
  }

  /**
   * Answers an `mcp.call` request: one `tools/call` of a used plugin's server.
   *
   * @param args `{plugin, tool, input}`.
   * @returns `{output}`: the tool's text, or its content when it is not all text.
   * @throws {McpError} ERR_MCP_*, ERR_CAPABILITY_DENIED (a tool not granted, or refused by the server's
   *   flags), ERR_INVALID_ARGS (input that does not fit its schema), ERR_LIMIT (an answer too large).
   */
  async call(args: Record<string, unknown>): Promise<{ output: unknown }> {
    const { plugin, tool, input } = args;
    const served = typeof plugin === "string" ? this.#servers.get(plugin) : undefined;
    const schema = typeof tool === "string" ? served?.tools.get(tool) : undefined;
    if (!served || !schema) {
      throw new McpError(
        "ERR_CAPABILITY_DENIED",
        `No MCP tool "${String(plugin)}.${String(tool)}" in this run`,
        "use a tool of an [mcp] plugin the manifest uses",
      );
    }
    const problem = inputProblem(schema as Record<string, unknown>, input);
    if (problem) {
      throw new McpError("ERR_INVALID_ARGS", `The input of "${plugin}.${tool}" is invalid: ${problem}`, "");
    }
    let result: unknown;
    try {
      result = await served.server.request("tools/call", { name: tool, arguments: input }, served.timeoutMs);
    } catch (e) {
      // A JSON-RPC error answer: the same reading as an isError result.
      if (e instanceof McpError && e.code === "ERR_MCP_TOOL") {
        result = { isError: true, content: [{ type: "text", text: e.message }] };
      } else throw e;
    }
    return { output: toolOutput(`${plugin}.${tool}`, result) };
  }

  /** Stops every server (its process group is killed) and waits for them to be gone. */
  async close(): Promise<void> {
    const servers = [...this.#servers.values()].map((s) => s.server);
    await Promise.all(servers.map((s) => s.close()));
  }
}

/** A `tools/call` result as the agent gets it (a refusal by Deno's flags inside the server is ERR_CAPABILITY_DENIED). */
function toolOutput(name: string, result: unknown): unknown {
  return mcpToolOutput(name, result, {
    maxChars: MAX_MCP_RESULT,
    // Deno's own refusal inside the server: its flags (the plugin's permissions) held.
    refusal: {
      test: (why) => /NotCapable|Requires \w+ access/.test(why),
      hint: "the plugin's [permissions] do not grant it; an operator may widen them in its plugin.toml",
    },
  });
}
