/**
 * The client side of MCP's Streamable HTTP transport, for a remote `[mcp]`
 * plugin, apart from how its requests reach the network: each request is a
 * POST of one JSON-RPC message to the server's URL with
 * `accept: application/json, text/event-stream`; the answer is JSON or an
 * event stream whose `data:` lines carry JSON-RPC messages. The session id the
 * server gives (`mcp-session-id`) is sent on every later request, with the
 * protocol version; a session the server forgot (404) is started again once.
 *
 * The network is the caller's `send`: in a run, the sandbox's gate
 * (`http.fetch` as the plugin: its net grants, pinned addresses and secret);
 * when plugins are indexed, the supervisor's equivalent checks. So nothing
 * here reaches the network, reads a secret, or waits on a clock.
 *
 * @module
 */

import type { ErrorCode } from "../manifests/errors.ts";

/** The MCP protocol version this client asks for. */
export const MCP_HTTP_PROTOCOL_VERSION = "2025-06-18";

/** One HTTP request of the client. */
export interface McpHttpRequest {
  /** Always `POST`. */
  method: "POST";
  /** Its headers (never a secret: that is added at egress). */
  headers: Record<string, string>;
  /** One JSON-RPC message. */
  body: string;
}

/** The answer to one request, its body read whole. */
export interface McpHttpAnswer {
  /** The HTTP status. */
  status: number;
  /** Its headers, names in lowercase. */
  headers: Record<string, string>;
  /** Its body as text. */
  body: string;
}

/** Sends one request to the server's URL; rejects with an {@linkcode McpHttpError} (or any error) when it fails. */
export type McpHttpSend = (request: McpHttpRequest) => Promise<McpHttpAnswer>;

/** A failure of a remote MCP server or of one of its calls. */
export class McpHttpError extends Error {
  /** Stable code. */
  readonly code: ErrorCode;
  /** What to change. */
  readonly hint: string;
  /**
   * @param code Stable code.
   * @param message What happened.
   * @param hint What to change.
   */
  constructor(code: ErrorCode, message: string, hint: string) {
    super(message);
    this.code = code;
    this.hint = hint;
  }
}

/** Options of {@linkcode McpHttpClient}. */
export interface McpHttpClientOptions {
  /** The plugin's name, for messages. */
  plugin: string;
  /** How a request reaches the server. */
  send: McpHttpSend;
}

/**
 * One session with a remote MCP server: the handshake on first use, then requests.
 *
 * @example
 * ```ts
 * import { McpHttpClient } from "./mcp_http.ts";
 * const client = new McpHttpClient({
 *   plugin: "echo",
 *   send: (r) => {
 *     const m = JSON.parse(r.body);
 *     const result = m.method === "initialize" ? { protocolVersion: "2025-06-18" } : { tools: [] };
 *     const body = m.id === undefined ? "" : JSON.stringify({ jsonrpc: "2.0", id: m.id, result });
 *     return Promise.resolve({ status: body ? 200 : 202, headers: { "content-type": "application/json" }, body });
 *   },
 * });
 * const listed = await client.request("tools/list", {}) as { tools: unknown[] };
 * if (listed.tools.length !== 0) throw new Error();
 * ```
 */
export class McpHttpClient {
  readonly #options: McpHttpClientOptions;
  #session: string | null = null;
  #ready: Promise<void> | null = null;
  #nextId = 1;

  /** @param options The plugin's name and how requests reach the server. */
  constructor(options: McpHttpClientOptions) {
    this.#options = options;
  }

  /**
   * Sends one request (after the handshake, the first time) and answers its `result`.
   *
   * @param method The JSON-RPC method.
   * @param params Its params.
   * @returns The answer's `result`.
   * @throws {McpHttpError} `ERR_MCP_START` when the handshake fails, `ERR_MCP_PROTOCOL` for an answer that is
   *   not MCP (a status that is not 2xx, a body that is not JSON-RPC, no answer to the request), `ERR_MCP_TOOL`
   *   for an error answer; what `send` throws passes.
   */
  async request(method: string, params: Record<string, unknown>): Promise<unknown> {
    for (let attempt = 0;; attempt++) {
      await this.#handshake();
      try {
        return await this.#exchange(method, params);
      } catch (e) {
        // A session the server no longer knows is started again, once.
        if (!(e instanceof SessionGone) || attempt > 0) throw e instanceof SessionGone ? e.error : e;
        this.#session = null;
        this.#ready = null;
      }
    }
  }

  /** `initialize` then `notifications/initialized`, once per session. */
  #handshake(): Promise<void> {
    this.#ready ??= (async () => {
      try {
        await this.#exchange("initialize", {
          protocolVersion: MCP_HTTP_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: "ironclaw", version: "0" },
        });
        await this.#post({ jsonrpc: "2.0", method: "notifications/initialized" });
      } catch (e) {
        this.#ready = null;
        const err = e instanceof SessionGone ? e.error : e;
        // What the server answered fails the start; a refusal by the gate keeps its code (it says what to grant).
        if (err instanceof McpHttpError && (err.code === "ERR_MCP_TOOL" || err.code === "ERR_MCP_PROTOCOL")) {
          const why = err.message.replace(`The MCP server of plugin "${this.#options.plugin}" `, "");
          throw this.#error("ERR_MCP_START", `failed its MCP handshake: ${why}`, err.hint);
        }
        throw err;
      }
    })();
    return this.#ready;
  }

  /** Posts a request and reads its answer from the JSON or the event stream that comes back. */
  async #exchange(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.#nextId++;
    const answer = await this.#post({ jsonrpc: "2.0", id, method, params });
    if (method === "initialize") {
      const session = answer.headers["mcp-session-id"];
      if (session !== undefined) {
        if (!/^[\x21-\x7e]{1,256}$/.test(session)) {
          throw this.#error("ERR_MCP_PROTOCOL", "gave a session id that is not visible ASCII", "");
        }
        this.#session = session;
      }
    }
    const type = (answer.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    const messages = type === "text/event-stream"
      ? eventData(answer.body).map((data) => this.#json(data))
      : type === "application/json"
      ? [this.#json(answer.body)].flat()
      : this.#fail(`answered ${method} with the content type "${type || "none"}"`);
    const reply = messages.find((m) => isObject(m) && m.id === id && !("method" in m));
    if (!isObject(reply) || reply.jsonrpc !== "2.0") {
      this.#fail(`gave no JSON-RPC answer to ${method}`);
    }
    if (reply.error !== undefined) {
      const err = reply.error as { message?: unknown };
      throw this.#error(
        "ERR_MCP_TOOL",
        `answered an error: ${String(err?.message ?? JSON.stringify(err))}`,
        "",
      );
    }
    return reply.result;
  }

  /** Posts one message with the session's headers; a status that is not 2xx is a protocol error. */
  async #post(message: Record<string, unknown>): Promise<McpHttpAnswer> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    };
    if (this.#session !== null) {
      headers["mcp-session-id"] = this.#session;
      headers["mcp-protocol-version"] = MCP_HTTP_PROTOCOL_VERSION;
    }
    const answer = await this.#options.send({ method: "POST", headers, body: JSON.stringify(message) });
    if (answer.status === 404 && this.#session !== null) {
      throw new SessionGone(this.#error("ERR_MCP_PROTOCOL", "no longer knows its session (404)", ""));
    }
    if (answer.status < 200 || answer.status > 299) {
      const auth = answer.status === 401 || answer.status === 403;
      throw this.#error(
        "ERR_MCP_PROTOCOL",
        `answered HTTP ${answer.status}: ${JSON.stringify(answer.body.slice(0, 200))}`,
        auth
          ? "check the value of the secret named by the plugin's [mcp] secret, and its header and format"
          : "the server failed; see its own logs",
      );
    }
    return answer;
  }

  #json(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      return this.#fail(`sent something that is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }

  #fail(what: string): never {
    throw this.#error(
      "ERR_MCP_PROTOCOL",
      what,
      "a Streamable HTTP MCP server answers a POST with JSON or an event stream of JSON-RPC messages",
    );
  }

  #error(code: ErrorCode, what: string, hint: string): McpHttpError {
    return new McpHttpError(code, `The MCP server of plugin "${this.#options.plugin}" ${what}`, hint);
  }
}

/** A 404 on a session: the session is started again. */
class SessionGone extends Error {
  constructor(readonly error: McpHttpError) {
    super(error.message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The `data` of each event of an event stream (lines of one event joined by newlines; comments, other fields
 * and events without data left out).
 *
 * @param text The stream's text.
 * @returns Each event's data.
 */
export function eventData(text: string): string[] {
  const out: string[] = [];
  let data: string[] | null = null;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "") {
      if (data !== null) out.push(data.join("\n"));
      data = null;
    } else if (line.startsWith("data:")) {
      const value = line.slice(5);
      (data ??= []).push(value.startsWith(" ") ? value.slice(1) : value);
    }
  }
  if (data !== null) out.push(data.join("\n"));
  return out;
}

/** Options of {@linkcode mcpToolOutput}. */
export interface McpToolOutputOptions {
  /** The largest output passed on, as JSON characters; default 1 MiB. */
  maxChars?: number;
  /**
   * Tells a tool error that is a refusal of the server's own permissions (a local server's flags): then it is
   * `ERR_CAPABILITY_DENIED` with this hint.
   */
  refusal?: { test: (why: string) => boolean; hint: string };
}

/**
 * A `tools/call` result as the agent gets it: its text when all its content is text, else its structured
 * content or its content; an `isError` result is a typed error.
 *
 * @param name The tool as `plugin.tool`, for messages.
 * @param result The `tools/call` result.
 * @param options The size cap, and how a refusal by the server's permissions is told.
 * @returns The output.
 * @throws {McpHttpError} `ERR_MCP_TOOL` for an error result (`ERR_CAPABILITY_DENIED` for a refusal),
 *   `ERR_LIMIT` for an output over the cap.
 * @example
 * ```ts
 * import { mcpToolOutput } from "./mcp_http.ts";
 * const out = mcpToolOutput("echo.say", { content: [{ type: "text", text: "hi" }] });
 * if (out !== "hi") throw new Error();
 * ```
 */
export function mcpToolOutput(name: string, result: unknown, options: McpToolOutputOptions = {}): unknown {
  const r = (typeof result === "object" && result !== null ? result : {}) as {
    content?: unknown;
    isError?: unknown;
    structuredContent?: unknown;
  };
  const content = Array.isArray(r.content) ? r.content : [];
  const allText = content.every((c) => typeof (c as { text?: unknown })?.text === "string");
  const text = allText ? content.map((c) => (c as { text: string }).text).join("\n") : null;
  if (r.isError === true) {
    const why = (text ?? JSON.stringify(content)).slice(0, 2000);
    if (options.refusal?.test(why)) {
      throw new McpHttpError(
        "ERR_CAPABILITY_DENIED",
        `The tool "${name}" was refused by its plugin's permissions: ${why}`,
        options.refusal.hint,
      );
    }
    throw new McpHttpError("ERR_MCP_TOOL", `The tool "${name}" failed: ${why}`, "");
  }
  const output = text ?? r.structuredContent ?? content;
  const max = options.maxChars ?? 1024 * 1024;
  const size = JSON.stringify(output)?.length ?? 0;
  if (size > max) {
    throw new McpHttpError(
      "ERR_LIMIT",
      `The tool "${name}" returned ${size} characters, more than ${max}`,
      "ask it for less",
    );
  }
  return output;
}
