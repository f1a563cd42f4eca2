/** The HTTP and JSON plumbing the providers share: one POST, its errors, and shape checks. */

import { printable } from "../../manifests/errors.ts";
import { ModelError } from "./errors.ts";
import type { HttpProviderOptions } from "./provider.ts";
import type { ModelErrorCode } from "../../protocol/model_types.ts";

/** What a provider knows of itself, for its requests and its messages. */
export interface Wire {
  provider: string;
  baseUrl: string;
  model: string;
  apiKeyEnv: string | undefined;
  fetch: typeof fetch;
  /** What `base_url` should point to, for hints: "an OpenAI-compatible API". */
  api: string;
}

/** The codes an HTTP status maps to. */
type HttpCode = Extract<
  ModelErrorCode,
  "ERR_MODEL_AUTH" | "ERR_MODEL_NOT_FOUND" | "ERR_MODEL_RATE_LIMIT" | "ERR_MODEL_SERVER" | "ERR_MODEL_REQUEST"
>;

/** What a provider reads from an error body; `code` and `hint` override the status's. */
export interface ErrorDetail {
  message: string;
  code?: HttpCode;
  hint?: string;
}

/** The Wire of a provider's options; `type` names the provider when the options do not, `api` is what its URL points to. */
export function wireOf(options: HttpProviderOptions, kind: { type: string; api: string }): Wire {
  const { type, api } = kind;
  return {
    provider: options.provider ?? type,
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    model: options.model,
    apiKeyEnv: options.apiKeyEnv,
    fetch: options.fetch ?? fetch,
    api,
  };
}

/** `value` is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `value` is a token count. */
export function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Text from a server, made safe to print and short. */
export function quote(text: string): string {
  const t = printable(text.trim());
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
}

/** The answer had JSON of the wrong shape. */
export function shapeError(w: Wire, what: string): ModelError {
  return new ModelError(
    "ERR_MODEL_RESPONSE",
    `Provider "${w.provider}" answered with an unexpected shape: ${what}`,
    {
      hint: `check that base_url "${w.baseUrl}" of [providers.${w.provider}] points to ${w.api}`,
    },
  );
}

/** A tool call's arguments, from JSON text to an object; `tool` names the tool in errors. */
export function parseArguments(w: Wire, call: { tool: string; text: string }): Record<string, unknown> {
  const { tool, text } = call;
  let args: unknown;
  try {
    args = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new ModelError(
      "ERR_MODEL_RESPONSE",
      `Provider "${w.provider}" sent malformed arguments for tool "${tool}": ${quote(String(e))}`,
      {
        hint: `the model "${w.model}" wrote broken JSON; retry, or use a model that is better at tool calls`,
        cause: e,
      },
    );
  }
  if (!isRecord(args)) throw shapeError(w, `the arguments of tool "${tool}" are not a JSON object`);
  return args;
}

/**
 * POSTs `body` as JSON to `baseUrl + path` and returns the JSON answer; `detail` reads an error body.
 * Rejects with the signal's reason when it aborts, and with a ModelError otherwise.
 */
export async function postJson(
  w: Wire,
  init: {
    path: string;
    headers: Record<string, string>;
    body: unknown;
    signal: AbortSignal;
    detail: (body: unknown) => ErrorDetail | undefined;
  },
): Promise<unknown> {
  const { path, detail } = init;
  let res: Response;
  let text: string;
  try {
    res = await w.fetch(`${w.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...init.headers },
      body: JSON.stringify(init.body),
      signal: init.signal,
    });
    text = await res.text();
  } catch (e) {
    init.signal.throwIfAborted();
    throw new ModelError(
      "ERR_MODEL_UNREACHABLE",
      `Cannot reach provider "${w.provider}" at "${w.baseUrl}": ${
        quote(e instanceof Error ? e.message : String(e))
      }`,
      {
        hint: `is the server running at "${w.baseUrl}"? base_url of [providers.${w.provider}] names it`,
        cause: e,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    if (res.ok) {
      throw new ModelError(
        "ERR_MODEL_RESPONSE",
        `Provider "${w.provider}" answered with malformed JSON: ${quote(String(e))}`,
        {
          hint: `check that base_url "${w.baseUrl}" of [providers.${w.provider}] points to ${w.api}`,
          cause: e,
        },
      );
    }
  }
  if (res.ok) return json;
  const retryAfter = Number(res.headers.get("retry-after") ?? NaN);
  throw httpError(w, res.status, detail(json) ?? { message: text || res.statusText }, {
    status: res.status,
    retryAfterS: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
  });
}

function httpError(
  w: Wire,
  status: number,
  detail: ErrorDetail,
  extra: { status: number; retryAfterS: number | undefined },
): ModelError {
  const said = detail.message ? `: ${quote(detail.message)}` : "";
  const p = `Provider "${w.provider}"`;
  const code: HttpCode = detail.code ??
    (status === 401 || status === 403
      ? "ERR_MODEL_AUTH"
      : status === 404
      ? "ERR_MODEL_NOT_FOUND"
      : status === 429
      ? "ERR_MODEL_RATE_LIMIT"
      : status >= 500
      ? "ERR_MODEL_SERVER"
      : "ERR_MODEL_REQUEST");
  const texts: Record<HttpCode, [message: string, hint: string]> = {
    ERR_MODEL_AUTH: [
      `${p} refused the API key (HTTP ${status})${said}`,
      w.apiKeyEnv
        ? `set ${w.apiKeyEnv} (the variable [providers.${w.provider}] api_key_env names) in the supervisor's environment to a key that may use model "${w.model}"`
        : `set api_key_env in [providers.${w.provider}] of the runtime config to the variable that holds the key`,
    ],
    ERR_MODEL_NOT_FOUND: [
      `${p} does not know model "${w.model}" (HTTP ${status})${said}`,
      `check [model] name in the manifest, and base_url "${w.baseUrl}" of [providers.${w.provider}]`,
    ],
    ERR_MODEL_RATE_LIMIT: [
      `${p} is limiting the rate of requests (HTTP ${status})${said}`,
      "wait and try again, or raise the account's limits with the provider",
    ],
    ERR_MODEL_SERVER: [`${p} failed (HTTP ${status})${said}`, "the server had a problem: try again later"],
    ERR_MODEL_REQUEST: [
      `${p} refused the request (HTTP ${status})${said}`,
      `the server's message says what it refused; check [model] name "${w.model}" and the request`,
    ],
  };
  const [message, hint] = texts[code];
  return new ModelError(code, message, { hint: detail.hint ?? hint, ...extra });
}
