/**
 * The OpenAI Chat Completions protocol (`POST /chat/completions`), spoken by
 * OpenAI and by OpenAI-compatible servers (llama.cpp, vLLM, LM Studio...).
 *
 * @module
 */

import type { HttpProviderOptions, Provider } from "./provider.ts";
import type { ChatMessage, CompletionRequest, CompletionResult } from "../../protocol/model_types.ts";
import {
  type ErrorDetail,
  isCount,
  isRecord,
  parseArguments,
  postJson,
  shapeError,
  type Wire,
  wireOf,
} from "./_wire.ts";

/**
 * A provider that speaks OpenAI's Chat Completions API.
 *
 * @param options The base URL (such as `https://api.openai.com/v1`), the model, the key.
 * @returns The provider; each call POSTs to `${baseUrl}/chat/completions`.
 * @throws {ModelError} From `complete()`, when the call fails.
 * @example
 * ```ts
 * import { openaiProvider } from "./openai.ts";
 * const provider = openaiProvider({ baseUrl: "http://127.0.0.1:8080/v1", model: "qwen2.5" });
 * if (typeof provider.complete !== "function") throw new Error("unexpected");
 * ```
 */
export function openaiProvider(options: HttpProviderOptions): Provider {
  const w = wireOf(options, {
    type: "openai",
    api: "an OpenAI-compatible API (its URL usually ends in /v1)",
  });
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  return {
    async complete(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
      const body = {
        model: w.model,
        messages: req.messages.map(toWire),
        ...(req.tools?.length
          ? {
            tools: req.tools.map((t) => ({
              type: "function",
              function: { name: t.name, description: t.description, parameters: t.parameters },
            })),
          }
          : {}),
        ...(req.maxTokens === undefined ? {} : { max_tokens: req.maxTokens }),
        ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
      };
      return fromWire(
        w,
        await postJson(w, { path: "/chat/completions", headers, body, signal, detail: errorDetail }),
      );
    },
  };
}

function toWire(m: ChatMessage): Record<string, unknown> {
  switch (m.role) {
    case "tool":
      return { role: "tool", tool_call_id: m.toolCallId, content: m.content };
    case "assistant":
      return m.toolCalls?.length
        ? {
          role: "assistant",
          content: m.content,
          tool_calls: m.toolCalls.map((c) => ({
            id: c.id,
            type: "function",
            function: { name: c.name, arguments: JSON.stringify(c.arguments) },
          })),
        }
        : { role: "assistant", content: m.content };
    default:
      return { role: m.role, content: m.content };
  }
}

function fromWire(w: Wire, body: unknown): CompletionResult {
  const choice = isRecord(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
  const m = isRecord(choice) ? choice.message : undefined;
  if (!isRecord(body) || !isRecord(choice) || !isRecord(m)) throw shapeError(w, "no choices[0].message");
  if (m.content !== null && m.content !== undefined && typeof m.content !== "string") {
    throw shapeError(w, "choices[0].message.content is not a string");
  }
  const calls = m.tool_calls ?? [];
  if (!Array.isArray(calls)) throw shapeError(w, "choices[0].message.tool_calls is not an array");
  const toolCalls = calls.map((c: unknown, i) => {
    const f = isRecord(c) ? c.function : undefined;
    if (
      !isRecord(c) || typeof c.id !== "string" || !isRecord(f) || typeof f.name !== "string" ||
      typeof f.arguments !== "string"
    ) {
      throw shapeError(
        w,
        `choices[0].message.tool_calls[${i}] needs an id, a function.name and function.arguments`,
      );
    }
    return { id: c.id, name: f.name, arguments: parseArguments(w, { tool: f.name, text: f.arguments }) };
  });
  const usage = body.usage;
  if (!isRecord(usage) || !isCount(usage.prompt_tokens) || !isCount(usage.completion_tokens)) {
    throw shapeError(w, "no usage.prompt_tokens and usage.completion_tokens");
  }
  return {
    message: { role: "assistant", content: m.content ?? "", toolCalls },
    usage: { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens },
    stopReason: typeof choice.finish_reason === "string" ? choice.finish_reason : "stop",
    model: typeof body.model === "string" ? body.model : w.model,
  };
}

function errorDetail(body: unknown): ErrorDetail | undefined {
  const e = isRecord(body) ? body.error : undefined;
  if (!isRecord(e) || typeof e.message !== "string") return undefined;
  return e.code === "model_not_found"
    ? { message: e.message, code: "ERR_MODEL_NOT_FOUND" }
    : { message: e.message };
}
