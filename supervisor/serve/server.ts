/**
 * `ironclaw serve` as a library: a long-lived supervisor over the run store
 * that serves the agents of one folder over HTTP. The HTTP front only queues
 * runs (`enqueueRun`); an in-process worker, limited to the served agents
 * and to `concurrency` runs at once, takes and runs them, so admission is
 * the queue: runs beyond the concurrency wait `queued`, and waiting does not
 * count against their `timeout_s`.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { IronclawError } from "../../manifests/errors.ts";
import type { RuntimeConfig } from "../../manifests/runtime_config.ts";
import type { Policy } from "../../capabilities/policy.ts";
import { findAgents } from "../agents_dir.ts";
import { loadAgent } from "../load.ts";
import { openConfiguredStore, type RunStore } from "../store/mod.ts";
import { startWorker, type WorkerEvent } from "../worker.ts";
import { type PoolEvent, SandboxPool } from "../pool.ts";
import { EventBell } from "./sse.ts";
import { codePolicy } from "../mcp/host.ts";
import { lazyMcpEndpoint } from "../mcp/endpoint.ts";
import { errorResponse } from "./_http.ts";
import { bearerMatches, serveToken } from "./auth.ts";
import { dashboardResponse } from "./dashboard.ts";
import { checkSameOrigin, isCrossSite, SessionTable } from "./session.ts";
import { type Handler, ROUTES, type ServeContext, type ServedAgent } from "./routes.ts";

/** Options of {@linkcode startServer}. */
export interface ServeOptions {
  /** The runtime config in force: its store, state folder and `[serve]` defaults. */
  config: RuntimeConfig;
  /** The folder of the served agents' manifests; default the config's `[serve] agents`. */
  agentsDir?: string;
  /** The address to listen on; default the config's `[serve] host` (127.0.0.1). */
  host?: string;
  /** The port (0: any free one); default the config's `[serve] port` (7341). */
  port?: number;
  /** Runs at once; default the config's `[serve] concurrency`, else twice the number of cores. */
  concurrency?: number;
  /** The bearer token; default the one in `<state_dir>/serve.token` (made on the first start). */
  token?: string;
  /** Told of each run the worker takes, hands back and ends, and of problems with the store. */
  onEvent?: (event: WorkerEvent) => void;
  /** Sandboxes kept warm per served agent; default the config's `[serve] pool` (0: none). */
  pool?: number;
  /** Told when a pooled sandbox is ready, and when one fails to start. */
  onPoolEvent?: (event: PoolEvent) => void;
  /** Told of each error the server did not raise on purpose (the client got a 500 `ERR_INTERNAL`). */
  onError?: (error: unknown) => void;
  /** How often a quiet event stream sends a comment, in ms; default 15 000. */
  heartbeatMs?: number;
  /** The CodeAct manifest of the MCP code tools at `/mcp`; default the built-in one, which grants nothing. */
  code?: string;
}

/** A running server. */
export interface ServeHandle {
  /** Its base URL, such as `http://127.0.0.1:7341`. */
  url: string;
  /** The bearer token every request needs. */
  token: string;
  /** The file that holds the token, or null when it was given. */
  tokenFile: string | null;
  /** The served agents' names. */
  agents: string[];
  /** How many runs it runs at once. */
  concurrency: number;
  /** The warm sandboxes of its agents, or null without `[serve] pool`. */
  pool: SandboxPool | null;
  /**
   * Stops: takes no more requests, ends the event streams, lets the running runs end (or, with `stop`, stops
   * them: they end `interrupted`), and closes the store. Queued runs stay queued.
   */
  close(options?: { stop?: boolean }): Promise<void>;
}

/**
 * Whether a host name or address is this machine's loopback.
 *
 * @param host The host.
 * @returns True for `localhost`, `127.x.x.x` and `::1`.
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The served agents of a folder, each one's Policy resolved now (a manifest with problems stops the start). */
async function servedAgents(dir: string, config: RuntimeConfig): Promise<Map<string, ServedAgent>> {
  const served = new Map<string, ServedAgent>();
  for (const [name, manifest] of await findAgents(dir)) {
    const { policy } = await loadAgent(manifest, config);
    served.set(name, { manifest, policy });
  }
  if (served.size === 0) {
    throw new IronclawError("ERR_NOT_FOUND", `The agents folder "${dir}" holds no agent manifest`, {
      hint: "put the manifests of the agents to serve there: NAME.toml, or NAME/agent.toml",
    });
  }
  return served;
}

/** The routes as URL patterns (`{id}` becomes `:id`). */
const MATCHERS = ROUTES.map((r) => ({
  pattern: new URLPattern({ pathname: r.path.replace(/\{(\w+)\}/g, ":$1") }),
  methods: r.methods,
}));

/** A path's parameters, decoded; a malformed escape is the client's error. */
function decoded(groups: Record<string, string | undefined>): Record<string, string> {
  try {
    return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, decodeURIComponent(v ?? "")]));
  } catch {
    throw new IronclawError("ERR_INVALID_ARGS", "The path holds a malformed %-escape", {
      hint: "escape the path's parts as UTF-8 (encodeURIComponent)",
    });
  }
}

/** The challenge of a 401. */
const BEARER_CHALLENGE = { "www-authenticate": 'Bearer realm="ironclaw"' };

function unauthorized(): IronclawError {
  return new IronclawError("ERR_UNAUTHORIZED", "The request has no valid bearer token", {
    hint: "send Authorization: Bearer <token> (the token is in <state_dir>/serve.token, or IRONCLAW_TOKEN)",
  });
}

/** The methods that change nothing: a cookie-authenticated request of another method must come from the page. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

/**
 * How a request is authenticated: its bearer token, else a dashboard session's cookie (a change only from the
 * dashboard's own origin, with its CSRF value); null when neither.
 */
async function authOf(ctx: ServeContext, req: Request): Promise<"bearer" | "session" | null> {
  if (await bearerMatches(req.headers.get("authorization"), ctx.token)) return "bearer";
  const session = await ctx.sessions.find(req);
  if (!session) return null;
  if (!SAFE_METHODS.has(req.method)) checkSameOrigin(req, session);
  return "session";
}

/** Answers one request: the dashboard's files, else checks its token and finds its route; errors become JSON. */
async function answer(
  ctx: ServeContext & { mcp: (req: Request) => Promise<Response>; onError?: (e: unknown) => void },
  req: Request,
) {
  try {
    const url = new URL(req.url);
    const file = await dashboardResponse(url.pathname, req.method);
    if (file) return file;
    const auth = url.pathname === "/v1/session" ? null : await authOf(ctx, req);
    if (auth === null && url.pathname !== "/v1/session") {
      return errorResponse(unauthorized(), { headers: BEARER_CHALLENGE });
    }
    // MCP over Streamable HTTP (supervisor/mcp/): for clients with the bearer token, never by the page's cookie.
    if (url.pathname === "/mcp") {
      if (auth !== "bearer") return errorResponse(unauthorized(), { headers: BEARER_CHALLENGE });
      return await ctx.mcp(req);
    }
    for (const m of MATCHERS) {
      const found = m.pattern.exec({ pathname: url.pathname });
      if (!found) continue;
      const handler: Handler | undefined = m.methods[req.method];
      if (!handler) {
        const allow = Object.keys(m.methods).join(", ");
        const e = new IronclawError("ERR_USAGE", `${req.method} is not a method of ${url.pathname}`, {
          hint: `use ${allow}`,
        });
        return errorResponse(e, { status: 405, headers: { allow } });
      }
      const params = decoded(found.pathname.groups);
      return await handler(ctx, { req, url, params, ...(auth !== null ? { auth } : {}) });
    }
    throw new IronclawError("ERR_NOT_FOUND", `No route ${url.pathname}`, {
      hint: "GET /v1/openapi.json lists the routes",
    });
  } catch (e) {
    if (!(e instanceof IronclawError)) ctx.onError?.(e);
    return errorResponse(e, isCrossSite(e) ? { status: 403 } : {}); // a cross-site change with the cookie
  }
}

/**
 * Starts `ironclaw serve`: reads the agents folder, opens the store, starts the worker and listens.
 *
 * @param options The config, the agents folder, where to listen, how many runs at once, the token.
 * @returns The server: its URL and token, and how to stop it.
 * @throws {IronclawError} `ERR_USAGE` without an agents folder, `ERR_NOT_FOUND` for a folder without agents,
 *   `ERR_STORE` when the store cannot be opened, `ERR_IO` when the address cannot be bound.
 * @example
 * ```ts ignore
 * const server = await startServer({ config, agentsDir: "agents", port: 0 });
 * const res = await fetch(`${server.url}/v1/health`, { headers: { authorization: `Bearer ${server.token}` } });
 * await server.close();
 * ```
 */
export async function startServer(options: ServeOptions): Promise<ServeHandle> {
  const { config } = options;
  const dir = options.agentsDir ?? config.serve.agents;
  if (dir === null) {
    throw new IronclawError("ERR_USAGE", "No agents folder to serve", {
      hint: "give --agents DIR, or set agents under [serve] in ironclaw.toml",
    });
  }
  const agents = await servedAgents(dir, config);
  const { token, file } = await serveToken(config.runtime.state_dir, {
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  const concurrency = options.concurrency ?? config.serve.concurrency ?? 2 * navigator.hardwareConcurrency;
  const code = await codePolicy(config, options.code !== undefined ? { manifest: options.code } : {}); // /mcp
  const store = await openConfiguredStore(config);
  try {
    return listen(options, { agents, store, token, file, concurrency, code });
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** The warm sandboxes of the served agents, or null without `[serve] pool`. */
function startPool(options: ServeOptions, manifests: ReadonlyMap<string, string>): SandboxPool | null {
  const size = options.pool ?? options.config.serve.pool;
  if (size <= 0) return null;
  return new SandboxPool({
    config: options.config,
    agents: manifests,
    size,
    ...(options.onPoolEvent ? { onEvent: options.onPoolEvent } : {}),
  });
}

/** Starts the worker and the HTTP server over an open store. */
function listen(
  options: ServeOptions,
  parts: {
    agents: Map<string, ServedAgent>;
    store: RunStore;
    token: string;
    file: string | null;
    concurrency: number;
    code: Policy;
  },
): ServeHandle {
  const { config } = options;
  const { agents, store, token, concurrency } = parts;
  const drain = new AbortController();
  const stop = new AbortController();
  const closing = new AbortController();
  const host = options.host ?? config.serve.host;
  const server = serveOn(host, options.port ?? config.serve.port, (req) => answer(ctx, req));
  const manifests = new Map([...agents].map(([name, a]) => [name, a.manifest]));
  const pool = startPool(options, manifests);
  const bell = new EventBell();
  const worker = startWorker({
    config,
    store,
    concurrency,
    agents: manifests,
    ...(pool ? { pool } : {}),
    onRunStored: () => bell.ring(),
    drain: drain.signal,
    stop: stop.signal,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const { code } = parts;
  const mcp = lazyMcpEndpoint({ config, store, worker, agents, code, closing: closing.signal, bell });
  const ctx = {
    mcp: mcp.handle,
    store,
    storeKind: config.store.url === null ? "sqlite" as const : "postgres" as const,
    worker,
    agents,
    pool,
    bell,
    version: denoJson.version,
    closing: closing.signal,
    token,
    config,
    sessions: new SessionTable(),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  };
  let closed: Promise<void> | null = null;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${server.addr.port}`,
    token,
    tokenFile: parts.file,
    agents: [...agents.keys()].sort(),
    concurrency,
    pool,
    close(o = {}) {
      if (o.stop) stop.abort();
      closed ??= (async () => {
        await mcp.close(); // MCP sessions end first: their calls' runs are cancelled
        closing.abort();
        await server.shutdown();
        drain.abort();
        await worker.done;
        await pool?.close();
        await store.close();
      })();
      return closed;
    },
  };
}

/** Listens on `host:port`; an address that cannot be bound is `ERR_IO`. */
function serveOn(
  host: string,
  port: number,
  handler: (req: Request) => Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> {
  try {
    return Deno.serve({ hostname: host, port, onListen() {} }, handler);
  } catch (e) {
    throw new IronclawError("ERR_IO", `Cannot listen on ${host}:${port}: ${(e as Error).message}`, {
      hint: "give another --port (or 0 for any free one), or stop what listens there",
      cause: e,
    });
  }
}
