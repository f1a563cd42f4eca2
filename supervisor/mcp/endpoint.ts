/**
 * The `/mcp` endpoint of `ironclaw serve`, loaded on its first request: a
 * server that no MCP client talks to never loads the MCP SDK.
 *
 * @module
 */

import type { McpHost } from "./host.ts";

/** The `/mcp` endpoint of a server. */
export interface McpEndpoint {
  /** Answers one request to `/mcp` (already authorized). */
  handle(req: Request): Promise<Response>;
  /** Ends every session (their code sandboxes' runs end). */
  close(): Promise<void>;
}

/**
 * The `/mcp` endpoint, made (and the SDK loaded) on the first request.
 *
 * @param host What the tools answer from: the server's store, worker, agents and code Policy.
 * @returns The endpoint.
 */
export function lazyMcpEndpoint(host: McpHost): McpEndpoint {
  let endpoint: Promise<McpEndpoint> | null = null;
  return {
    async handle(req) {
      endpoint ??= import("./http.ts").then((m) => m.mcpEndpoint(host));
      return await (await endpoint).handle(req);
    },
    async close() {
      if (endpoint) await (await endpoint).close();
    },
  };
}
