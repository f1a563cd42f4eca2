/**
 * A remote `[mcp]` plugin's tools, run in the sandbox's main thread: each
 * HTTP request of its MCP session is an `http.fetch` through the gate as the
 * plugin (`HostGate.forPlugin`), so the gate's network rules hold for it as
 * for any plugin's fetch: the plugin's own `[permissions.net]`, the addresses
 * the run pinned at its start, the refusal of private and loopback addresses
 * not granted as such, the run's call limit and approvals, the record; and its
 * secret is injected there, at egress, and redacted from what comes back.
 * The session (its `mcp-session-id`) lives as long as the run.
 *
 * @module
 */

import {
  type McpHttpAnswer,
  McpHttpClient,
  McpHttpError,
  type McpHttpRequest,
  mcpToolOutput,
} from "../protocol/mcp_http.ts";
import type { ErrorCode } from "../manifests/errors.ts";
import { GateError, isGateErrorCode } from "./gate/errors.ts";
import type { PluginHostContext } from "./plugin_host.ts";

/** The largest tool answer passed on, as JSON characters (the plugin host's own cap). */
const MAX_RESULT = 1024 * 1024;

/** Runs one tool of the plugin: `{output}`, or a GateError. */
export type RemoteMcpRunner = (tool: string, input: unknown) => Promise<{ output: unknown }>;

/**
 * The runner of a remote `[mcp]` plugin's tools.
 *
 * @param context The run: its grant and the agent's gate (the plugin gets its own view of it).
 * @param plugin The plugin's name, its server's URL and how long one call may take.
 * @returns The runner.
 */
export function remoteMcpRunner(
  context: Pick<PluginHostContext, "gate">,
  plugin: { name: string; url: string; timeoutMs: number },
): RemoteMcpRunner {
  const gate = context.gate.forPlugin(plugin.name);
  const send = async (request: McpHttpRequest): Promise<McpHttpAnswer> => {
    const reply = await gate.call(
      "http.fetch",
      JSON.stringify({
        url: plugin.url,
        method: request.method,
        headers: request.headers,
        body: request.body,
      }),
    );
    if (!reply.ok) {
      // A connection that fails is the server's failure; the gate's own time limit on a request is its timeout.
      const code = reply.error.code as ErrorCode;
      const late = code === "ERR_LIMIT" && / took longer than \d+ s$/.test(reply.error.message);
      throw new McpHttpError(
        code === "ERR_IO" ? "ERR_MCP_PROTOCOL" : late ? "ERR_MCP_TIMEOUT" : code,
        `The MCP server of plugin "${plugin.name}" cannot be reached: ${reply.error.message}`,
        reply.error.hint ?? "",
      );
    }
    const answer = JSON.parse(reply.json) as {
      status: number;
      headers: Record<string, string>;
      body: string;
    };
    const headers = Object.fromEntries(Object.entries(answer.headers).map(([k, v]) => [k.toLowerCase(), v]));
    return { status: answer.status, headers, body: answer.body };
  };
  const client = new McpHttpClient({ plugin: plugin.name, send });
  return async (tool, input) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() =>
        reject(
          new GateError(
            "ERR_MCP_TIMEOUT",
            `The MCP server of plugin "${plugin.name}" gave no answer to tools/call within ${
              plugin.timeoutMs / 1000
            } s`,
            "raise timeout_s in the plugin's [mcp], or ask it for less",
            "tool.timeout",
          ),
        ), plugin.timeoutMs);
    });
    try {
      const result = await Promise.race([
        client.request("tools/call", { name: tool, arguments: input }),
        late,
      ]);
      return { output: mcpToolOutput(`${plugin.name}.${tool}`, result, { maxChars: MAX_RESULT }) };
    } catch (e) {
      throw asGateError(e);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** A failure as the guest gets it: its code when a gate call may carry it, else `ERR_TOOL`. */
function asGateError(e: unknown): GateError {
  if (e instanceof GateError) return e;
  const err = e as { code?: unknown; message?: string; hint?: string };
  const code = isGateErrorCode(err?.code) ? err.code : "ERR_TOOL";
  return new GateError(code, err?.message ?? String(e), err?.hint ?? "", "tool.error");
}
