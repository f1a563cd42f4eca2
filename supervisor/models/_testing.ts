/** Local stand-ins of the model APIs, for the tests of this folder. */

import type { ModelPolicy } from "../../capabilities/policy.ts";
import type { ToolSpec } from "../../protocol/model_types.ts";

/** A signal that never aborts. */
export const signal: AbortSignal = new AbortController().signal;

/** The one tool the provider tests offer: read_file with a path. */
export const TOOLS: ToolSpec[] = [{
  name: "read_file",
  description: "Reads a file",
  parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
}];

/** One request a test server received. */
export interface Seen {
  path: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A server on 127.0.0.1 that records each request and answers with `answer`; shut down when disposed. */
export interface TestServer extends AsyncDisposable {
  origin: string;
  seen: Seen[];
}

/** Starts a {@linkcode TestServer}; `answer` gets the request and its 1-based number. */
export function serve(answer: (seen: Seen, n: number) => Response | Promise<Response>): TestServer {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const s = { path: new URL(req.url).pathname, headers: req.headers, body: await req.json() };
    seen.push(s);
    return await answer(s, seen.length);
  });
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A JSON answer. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A port nothing listens on (it was just closed). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

/** A model policy as resolvePolicy makes it. */
export function policyOf(type: ModelPolicy["type"], extra: Partial<ModelPolicy> = {}): ModelPolicy {
  return {
    provider: `test-${type}`,
    type,
    baseUrl: null,
    apiKeyEnv: null,
    transcript: null,
    timeoutS: 5,
    name: "test-model",
    maxCalls: 20,
    maxTokens: 100_000,
    from: { source: "manifest", file: "agent.toml", line: 1, column: 1, key: "model" },
    ...extra,
  };
}

/** How each HTTP protocol says the same things, as its real API documents them. */
export interface Dialect {
  type: "openai" | "ollama" | "anthropic";
  /** The base_url of a server at `origin`. */
  baseUrl(origin: string): string;
  /** The path a completion is POSTed to. */
  path: string;
  /** A plain answer. */
  answer(text: string, inputTokens: number, outputTokens: number): unknown;
  /** An error body. */
  error(status: number, message: string): unknown;
  /** The key as the request carried it. */
  keyOf(headers: Headers): string | null;
  /** The most answer tokens the request asked for. */
  maxTokensOf(body: Record<string, unknown>): unknown;
}

/** The three HTTP protocols. */
export const DIALECTS: readonly Dialect[] = [
  {
    type: "openai",
    baseUrl: (origin) => `${origin}/v1`,
    path: "/v1/chat/completions",
    answer: (text, prompt_tokens, completion_tokens) => ({
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "test-model-2024",
      choices: [{
        index: 0,
        message: { role: "assistant", content: text, refusal: null },
        logprobs: null,
        finish_reason: "stop",
      }],
      usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    }),
    error: (status, message) => ({
      error: {
        message,
        type: status === 401 ? "invalid_request_error" : "server_error",
        param: null,
        code: status === 401 ? "invalid_api_key" : null,
      },
    }),
    keyOf: (h) => h.get("authorization")?.replace(/^Bearer /, "") ?? null,
    maxTokensOf: (body) => body.max_tokens,
  },
  {
    type: "ollama",
    baseUrl: (origin) => origin,
    path: "/api/chat",
    answer: (text, prompt_eval_count, eval_count) => ({
      model: "test-model",
      created_at: "2024-11-24T16:51:00.000Z",
      message: { role: "assistant", content: text },
      done_reason: "stop",
      done: true,
      total_duration: 5_000_000,
      load_duration: 1_000_000,
      prompt_eval_count,
      prompt_eval_duration: 1_000_000,
      eval_count,
      eval_duration: 2_000_000,
    }),
    error: (_status, message) => ({ error: message }),
    keyOf: (h) => h.get("authorization")?.replace(/^Bearer /, "") ?? null,
    maxTokensOf: (body) => (body.options as Record<string, unknown> | undefined)?.num_predict,
  },
  {
    type: "anthropic",
    baseUrl: (origin) => origin,
    path: "/v1/messages",
    answer: (text, input_tokens, output_tokens) => ({
      id: "msg_01",
      type: "message",
      role: "assistant",
      model: "test-model-20241022",
      content: [{ type: "text", text }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens, output_tokens },
    }),
    error: (status, message) => ({
      type: "error",
      error: {
        type: {
          401: "authentication_error",
          404: "not_found_error",
          429: "rate_limit_error",
          529: "overloaded_error",
        }[status] ?? "api_error",
        message,
      },
    }),
    keyOf: (h) => h.get("x-api-key"),
    maxTokensOf: (body) => body.max_tokens,
  },
];
