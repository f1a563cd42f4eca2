/**
 * The supervisor's model broker: it holds the key, keeps the run's budgets,
 * times calls out, retries what is worth retrying, and raises typed errors.
 *
 * @module
 */

import type { ModelPolicy } from "../../capabilities/policy.ts";
import { anthropicProvider } from "./anthropic.ts";
import { ModelError } from "./errors.ts";
import { ollamaProvider } from "./ollama.ts";
import { openaiProvider } from "./openai.ts";
import type { Provider } from "./provider.ts";
import { loadTranscript, scriptedProvider, type Transcript } from "./scripted.ts";
import type { CompletionRequest, CompletionResult } from "../../protocol/model_types.ts";
import { MAX_MODEL_ANSWER_BYTES } from "../../protocol/line_cap.ts";
import { utf8ByteLength } from "../../protocol/utf8.ts";

/** The base URL of each HTTP protocol when the provider names none. */
export const DEFAULT_BASE_URLS: Readonly<Record<"openai" | "ollama" | "anthropic", string>> = Object.freeze({
  openai: "https://api.openai.com/v1",
  ollama: "http://127.0.0.1:11434",
  anthropic: "https://api.anthropic.com",
});

/** Backoff before the first retry, doubled for each next one up to {@linkcode MAX_BACKOFF_MS}, plus up to half again of jitter. */
const BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 8000;
/** The longest `retry-after` honoured. */
const MAX_RETRY_AFTER_S = 60;
/**
 * A request without maxTokens gets what the budget has left only when that is
 * less than this: every chat model can answer this much, and some APIs refuse
 * a max_tokens above their model's limit.
 */
const UNCAPPED_FROM = 4096;

/** Options of {@linkcode ModelBroker}. */
export interface ModelBrokerOptions {
  /** Reads a variable of the supervisor's environment; default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** The fetch the providers use; default the global one. */
  fetch?: typeof fetch;
  /** Waits between retries; default a timer that the call's signal cancels. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Most retries of a call answered with 429 or 5xx; default 3. */
  retries?: number;
  /** The transcript of a scripted provider, already loaded ({@linkcode createModelBroker} loads it). */
  transcript?: Transcript;
}

/** Options of {@linkcode ModelBroker.complete}. */
export interface CompleteOptions {
  /**
   * When the run's wall time ends, in ms since the epoch (`Date.now()`): a retry whose wait (a 429's
   * `retry-after`, a backoff) would end past it is not waited for; the call fails at once with the error
   * it got (`ERR_MODEL_RATE_LIMIT` for a 429). Default none.
   */
  deadline?: number;
}

/** What a broker has spent, and its budgets. */
export interface ModelUsage {
  /** Calls made (each counts once, whatever its retries). */
  calls: number;
  /** Tokens of the prompts, as the provider reported them. */
  inputTokens: number;
  /** Tokens of the answers, as the provider reported them. */
  outputTokens: number;
  /** The most calls. */
  maxCalls: number;
  /** The most tokens, prompts and answers together. */
  maxTokens: number;
}

/**
 * The model access of one run. Each {@linkcode ModelBroker.complete} is
 * refused when the run's calls or tokens are used up, gets `timeoutS` per
 * attempt, and is retried on 429 and 5xx with exponential backoff and jitter
 * (or the server's `retry-after`, up to a minute). The API key is read from the
 * variable the provider's `api_key_env` names, and never appears in an error.
 *
 * @example A scripted provider, offline
 * ```ts
 * import { ModelBroker } from "./broker.ts";
 * import type { ModelPolicy } from "../../capabilities/policy.ts";
 * const policy: ModelPolicy = {
 *   provider: "replay", type: "scripted", baseUrl: null, apiKeyEnv: null, transcript: "/demo/hello.json",
 *   timeoutS: 5, name: "demo", maxCalls: 1, maxTokens: 1000,
 *   from: { source: "manifest", file: "agent.toml", line: 1, column: 1, key: "model" },
 * };
 * const broker = new ModelBroker(policy, {
 *   transcript: { turns: [{ reply: { content: "hello" }, usage: { inputTokens: 3, outputTokens: 1 } }] },
 * });
 * const r = await broker.complete({ messages: [{ role: "user", content: "hi" }] });
 * if (r.message.content !== "hello" || broker.usage().calls !== 1) throw new Error("unexpected");
 * ```
 */
export class ModelBroker {
  #policy: ModelPolicy;
  #key: string | undefined;
  #missingKey: ModelError | undefined;
  #provider: Provider;
  #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  #retries: number;
  #calls = 0;
  #inputTokens = 0;
  #outputTokens = 0;

  /**
   * Makes the broker of a run. Nothing is sent yet; a missing key is reported by the first call.
   *
   * @param policy The run's model policy.
   * @param options The environment, fetch, sleep and retries to use; the transcript of a scripted provider.
   * @throws {ModelError} `ERR_MODEL_SCRIPT` for a scripted provider without `options.transcript`.
   */
  constructor(policy: ModelPolicy, options: ModelBrokerOptions = {}) {
    this.#policy = policy;
    const env = policy.apiKeyEnv === null
      ? undefined
      : (options.env ?? ((name) => Deno.env.get(name)))(policy.apiKeyEnv);
    this.#key = env || undefined;
    this.#missingKey = this.#key === undefined && needsKey(policy) ? missingKey(policy) : undefined;
    this.#provider = providerOf(policy, options, this.#key);
    this.#sleep = options.sleep ?? sleep;
    this.#retries = options.retries ?? 3;
  }

  /**
   * What the run has spent, and its budgets.
   *
   * @returns Calls and tokens used, and the most of each.
   */
  usage(): ModelUsage {
    return {
      calls: this.#calls,
      inputTokens: this.#inputTokens,
      outputTokens: this.#outputTokens,
      maxCalls: this.#policy.maxCalls,
      maxTokens: this.#policy.maxTokens,
    };
  }

  /**
   * One completion within the run's budgets. `req.maxTokens` is lowered to
   * the tokens left; a request without one is given the tokens left when
   * fewer than 4096 are (above that, the model's own limit is the smaller).
   *
   * @param req The conversation, the tools and the limits of the answer.
   * @param signal Aborts the call (and its retries); the call then rejects with the signal's reason.
   * @param options The run's deadline, which no wait between retries may pass.
   * @returns The model's answer.
   * @throws {ModelError} With a `ERR_MODEL_*` code: `ERR_MODEL_BUDGET` before the call when calls or
   * tokens are used up, `ERR_MODEL_TIMEOUT` past `timeoutS`, `ERR_MODEL_RATE_LIMIT` or `ERR_MODEL_SERVER`
   * after every retry or when a retry would wait past `options.deadline`, `ERR_MODEL_RESPONSE` for an answer
   * over {@linkcode MAX_MODEL_ANSWER_BYTES}, and the provider's errors.
   */
  async complete(
    req: CompletionRequest,
    signal?: AbortSignal,
    options: CompleteOptions = {},
  ): Promise<CompletionResult> {
    if (this.#missingKey) throw this.#missingKey;
    const { maxCalls, maxTokens } = this.#policy;
    if (this.#calls >= maxCalls) {
      throw new ModelError(
        "ERR_MODEL_BUDGET",
        `The run's model calls are used up: ${this.#calls} of ${maxCalls}`,
        {
          hint:
            "raise [model] max_calls in the manifest (up to [limits] max_model_calls of the runtime config)",
        },
      );
    }
    const used = this.#inputTokens + this.#outputTokens;
    const left = maxTokens - used;
    if (left <= 0) {
      throw new ModelError(
        "ERR_MODEL_BUDGET",
        `The run's model tokens are used up: ${used} of ${maxTokens}`,
        {
          hint:
            "raise [model] max_tokens in the manifest (up to [limits] max_model_tokens of the runtime config)",
        },
      );
    }
    const cap = req.maxTokens === undefined
      ? (left < UNCAPPED_FROM ? left : undefined)
      : Math.min(req.maxTokens, left);
    this.#calls++;
    const result = await this.#withRetries(
      cap === undefined ? req : { ...req, maxTokens: cap },
      { signal: signal ?? new AbortController().signal, deadline: options.deadline },
    );
    this.#inputTokens += result.usage.inputTokens;
    this.#outputTokens += result.usage.outputTokens;
    const bytes = answerBytes(result);
    if (bytes > MAX_MODEL_ANSWER_BYTES) {
      throw new ModelError(
        "ERR_MODEL_RESPONSE",
        `Provider "${this.#policy.provider}" answered ${bytes} bytes, more than ${MAX_MODEL_ANSWER_BYTES}`,
        { hint: "ask for a shorter answer (set maxTokens), or split the work into several calls" },
      );
    }
    return result;
  }

  async #withRetries(
    req: CompletionRequest,
    call: { signal: AbortSignal; deadline: number | undefined },
  ): Promise<CompletionResult> {
    const { signal, deadline } = call;
    for (let retry = 0;; retry++) {
      try {
        return await this.#attempt(req, signal);
      } catch (e) {
        if (!(e instanceof ModelError)) throw e;
        const retryable = e.code === "ERR_MODEL_RATE_LIMIT" || e.code === "ERR_MODEL_SERVER";
        if (!retryable || retry >= this.#retries) throw this.#final(e, retry);
        const base = Math.min(BACKOFF_MS * 2 ** retry, MAX_BACKOFF_MS);
        const waitMs = e.retryAfterS === undefined
          ? base + Math.random() * base / 2
          : Math.min(e.retryAfterS, MAX_RETRY_AFTER_S) * 1000;
        if (deadline !== undefined && Date.now() + waitMs > deadline) {
          throw this.#final(pastDeadline(e, { waitMs, leftMs: deadline - Date.now() }), retry);
        }
        await this.#sleep(waitMs, signal);
        signal.throwIfAborted();
      }
    }
  }

  async #attempt(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.#policy.timeoutS * 1000);
    try {
      return await this.#provider.complete(req, AbortSignal.any([signal, timeout.signal]));
    } catch (e) {
      if (!timeout.signal.aborted || signal.aborted) throw e;
      const { provider, timeoutS } = this.#policy;
      throw new ModelError(
        "ERR_MODEL_TIMEOUT",
        `Provider "${provider}" gave no answer within ${timeoutS} s`,
        {
          hint:
            `raise timeout_s in [providers.${provider}] of the runtime config, or ask for a shorter answer`,
        },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** The error to throw: the key redacted wherever a server echoed it, the retries said. */
  #final(e: ModelError, retries: number): ModelError {
    const key = this.#key;
    const clean = (s: string) => key ? s.replaceAll(key, "[redacted]") : s;
    const causeText = e.cause instanceof Error ? `${e.cause.message}\n${e.cause.stack}` : String(e.cause);
    const cause = key && causeText.includes(key)
      ? new Error(clean(e.cause instanceof Error ? e.cause.message : String(e.cause)))
      : e.cause;
    return new ModelError(e.code, clean(e.message) + (retries ? ` (gave up after ${retries} retries)` : ""), {
      hint: clean(e.hint),
      ...(cause === undefined ? {} : { cause }),
      status: e.status,
      retryAfterS: e.retryAfterS,
    });
  }
}

/**
 * Makes the broker of a run, reading a scripted provider's transcript first.
 *
 * @param policy The run's model policy.
 * @param options As for {@linkcode ModelBroker}.
 * @returns The broker.
 * @throws {ModelError} `ERR_MODEL_SCRIPT` when the transcript is missing or invalid.
 */
export async function createModelBroker(
  policy: ModelPolicy,
  options: ModelBrokerOptions = {},
): Promise<ModelBroker> {
  if (policy.type !== "scripted" || options.transcript) return new ModelBroker(policy, options);
  if (policy.transcript === null) {
    throw new ModelError("ERR_MODEL_SCRIPT", `Provider "${policy.provider}" names no transcript`, {
      hint: `set transcript in [providers.${policy.provider}] of the runtime config`,
    });
  }
  return new ModelBroker(policy, { ...options, transcript: await loadTranscript(policy.transcript) });
}

/** A key is needed when the config names its variable, for Anthropic, and for OpenAI's own API. */
function needsKey(policy: ModelPolicy): boolean {
  return policy.type !== "scripted" &&
    (policy.apiKeyEnv !== null || policy.type === "anthropic" ||
      (policy.type === "openai" &&
        (policy.baseUrl ?? DEFAULT_BASE_URLS.openai).startsWith(DEFAULT_BASE_URLS.openai)));
}

function missingKey({ provider, apiKeyEnv }: ModelPolicy): ModelError {
  return apiKeyEnv === null
    ? new ModelError("ERR_MODEL_AUTH", `Provider "${provider}" has no API key: it names no api_key_env`, {
      hint:
        `set api_key_env in [providers.${provider}] of the runtime config to the variable that holds the key`,
    })
    : new ModelError("ERR_MODEL_AUTH", `Provider "${provider}" has no API key: "${apiKeyEnv}" is not set`, {
      hint:
        `set ${apiKeyEnv} (the variable [providers.${provider}] api_key_env names) in the supervisor's environment`,
    });
}

function providerOf(policy: ModelPolicy, options: ModelBrokerOptions, apiKey: string | undefined): Provider {
  if (policy.type === "scripted") {
    if (!options.transcript) {
      throw new ModelError("ERR_MODEL_SCRIPT", `Provider "${policy.provider}" has no transcript loaded`, {
        hint: "make the broker with createModelBroker(), which reads the transcript",
      });
    }
    return scriptedProvider(options.transcript, policy.transcript ?? policy.provider);
  }
  const make = { openai: openaiProvider, ollama: ollamaProvider, anthropic: anthropicProvider }[policy.type];
  return make({
    baseUrl: policy.baseUrl ?? DEFAULT_BASE_URLS[policy.type],
    model: policy.name,
    apiKey,
    provider: policy.provider,
    apiKeyEnv: policy.apiKeyEnv ?? undefined,
    fetch: options.fetch,
  });
}

/** The UTF-8 bytes of an answer: its text and its tool calls' arguments. */
function answerBytes(result: CompletionResult): number {
  let bytes = utf8ByteLength(result.message.content);
  for (const call of result.message.toolCalls) bytes += utf8ByteLength(JSON.stringify(call));
  return bytes;
}

/** The error of a call whose next retry would wait past the run's wall time: the same code, said so. */
function pastDeadline(e: ModelError, wait: { waitMs: number; leftMs: number }): ModelError {
  const waitS = Math.ceil(wait.waitMs / 1000);
  const leftS = Math.max(0, Math.floor(wait.leftMs / 1000));
  const why = e.retryAfterS === undefined ? `a retry in ${waitS} s` : `its retry-after of ${e.retryAfterS} s`;
  return new ModelError(
    e.code,
    `${e.message}; ${why} is past the run's remaining wall time of ${leftS} s, so it was not retried`,
    {
      hint: e.code === "ERR_MODEL_RATE_LIMIT"
        ? "wait for the provider's rate limit to reset, or raise [limits] timeout_s in the manifest"
        : e.hint,
      ...(e.cause === undefined ? {} : { cause: e.cause }),
      status: e.status,
      retryAfterS: e.retryAfterS,
    },
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      if (signal.aborted) reject(signal.reason);
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    if (signal.aborted) done();
  });
}
