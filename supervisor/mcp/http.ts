/**
 * MCP over Streamable HTTP, for `/mcp` of `ironclaw serve` (which checks
 * the bearer token first): one MCP session per `initialize`, named by the
 * `Mcp-Session-Id` header the SDK's transport hands out; each session has
 * its own server and code sandboxes, ended by a DELETE or when the server
 * stops.
 *
 * @module
 */

import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { IronclawError } from "../../manifests/errors.ts";
import type { McpEndpoint } from "./endpoint.ts";
import type { McpHost } from "./host.ts";
import { type McpSession, mcpSession } from "./server.ts";

/** The most MCP sessions open at once; an `initialize` beyond them is refused (503). */
export const MAX_MCP_SESSIONS = 256;
/**
 * A session without a request for this long is ended when a new one opens, in ms: a client that went away
 * without a DELETE frees its place (its sandboxes' runs end `ok`).
 */
export const MCP_SESSION_IDLE_MS = 60 * 60 * 1000;

/** An open session: its transport, its server and when a request last came. */
interface OpenSession {
  transport: WebStandardStreamableHTTPServerTransport;
  mcp: McpSession;
  used: number;
}

/** A JSON-RPC error response without an id, as the transport answers its own errors. */
function rpcError(status: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }, { status });
}

/**
 * Makes the `/mcp` endpoint over the server's store, worker and agents.
 *
 * @param host What the tools answer from.
 * @returns The endpoint.
 */
export function mcpEndpoint(host: McpHost): McpEndpoint {
  const sessions = new Map<string, OpenSession>();
  /** Ends a session: its transport closes (the SDK aborts its running calls, whose runs are cancelled), then its sandboxes. */
  const end = async (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    await s.transport.close().catch(() => {});
    await s.mcp.close();
  };
  const open = async (req: Request, body: unknown): Promise<Response> => {
    for (const [id, s] of sessions) if (Date.now() - s.used > MCP_SESSION_IDLE_MS) await end(id);
    if (sessions.size >= MAX_MCP_SESSIONS) return rpcError(503, "Too many MCP sessions are open");
    const mcp = mcpSession(host, { label: "http" });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (id: string) => void sessions.set(id, { transport, mcp, used: Date.now() }),
      onsessionclosed: (id: string) => void end(id), // a DELETE: answered without waiting for the runs
    });
    transport.onclose = () => void (transport.sessionId && end(transport.sessionId));
    await mcp.server.connect(transport);
    return await transport.handleRequest(req, { parsedBody: body });
  };
  return {
    async handle(req) {
      const id = req.headers.get("mcp-session-id");
      if (id !== null) {
        const s = sessions.get(id);
        if (!s) return rpcError(404, "No such MCP session: initialize a new one");
        s.used = Date.now();
        return await s.transport.handleRequest(req);
      }
      if (req.method !== "POST") return rpcError(400, "No Mcp-Session-Id header: initialize a session first");
      let body: unknown;
      try {
        body = await req.json();
      } catch (e) {
        throw new IronclawError("ERR_INVALID_ARGS", "The request body is not JSON", {
          hint: "send a JSON-RPC initialize request",
          cause: e,
        });
      }
      if (!isInitializeRequest(body)) {
        return rpcError(400, "No Mcp-Session-Id header: initialize a session first");
      }
      return await open(req, body);
    },
    async close() {
      await Promise.all([...sessions.keys()].map(end));
    },
  };
}
