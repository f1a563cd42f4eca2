/**
 * Ollama's native chat protocol (`POST /api/chat`).
 *
 * @module
 */

import type { HttpProviderOptions, Provider } from "./provider.ts";
import type { ChatMessage, CompletionRequest, CompletionResult } from "../../protocol/model_types.ts";
import { type ErrorDetail, isCount, isRecord, postJson, shapeError, type Wire, wireOf } from "./_wire.ts";

/**
 * A provider that speaks Ollama's native `/api/chat`. Ollama gives tool calls
 * no ids, so they are numbered through the conversation (`call_0`, `call_1`...):
 * the same conversation always gets the same ids.
 *
 * @param options The base URL (such as `http://127.0.0.1:11434`), the model; a key only behind a proxy that wants one.
 * @returns The provider; each call POSTs to `${baseUrl}/api/chat` without streaming.
 * @throws {ModelError} From `complete()`, when the call fails (an unknown model: `ERR_MODEL_NOT_FOUND`, with `ollama pull` in the hint).
 * @example
 * ```ts
 * import { ollamaProvider } from "./ollama.ts";
 * const provider = ollamaProvider({ baseUrl: "http://127.0.0.1:11434", model: "qwen2.5:7b" });
 * if (typeof provider.complete !== "function") throw new Error("unexpected");
 * ```
 */
export function ollamaProvider(options: HttpProviderOptions): Provider {
  const w = wireOf(options, {
    type: "ollama",
    api: "an Ollama server (such as http://127.0.0.1:11434, without /api)",
  });
  const headers: Record<string, string> = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  const detail = (body: unknown): ErrorDetail | undefined => {
    const message = isRecord(body) && typeof body.error === "string" ? body.error : undefined;
    if (message === undefined) return undefined;
    return /not found/.test(message)
      ? {
        message,
        hint:
          `run "ollama pull ${w.model}" on the machine at "${w.baseUrl}", or fix [model] name in the manifest`,
      }
      : { message };
  };
  return {
    async complete(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
      const opts = {
        ...(req.maxTokens === undefined ? {} : { num_predict: req.maxTokens }),
        ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
      };
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
        stream: false,
        ...(Object.keys(opts).length ? { options: opts } : {}),
      };
      const earlier = req.messages.reduce(
        (n, m) => n + (m.role === "assistant" ? m.toolCalls?.length ?? 0 : 0),
        0,
      );
      return fromWire(w, await postJson(w, { path: "/api/chat", headers, body, signal, detail }), earlier);
    },
  };
}

function toWire(m: ChatMessage): Record<string, unknown> {
  switch (m.role) {
    case "tool":
      return { role: "tool", content: m.content, tool_name: m.name };
    case "assistant":
      return m.toolCalls?.length
        ? {
          role: "assistant",
          content: m.content,
          tool_calls: m.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.arguments } })),
        }
        : { role: "assistant", content: m.content };
    default:
      return { role: m.role, content: m.content };
  }
}

function fromWire(w: Wire, body: unknown, earlier: number): CompletionResult {
  const m = isRecord(body) ? body.message : undefined;
  if (!isRecord(body) || !isRecord(m) || typeof m.content !== "string") {
    throw shapeError(w, "no message.content");
  }
  const calls = m.tool_calls ?? [];
  if (!Array.isArray(calls)) throw shapeError(w, "message.tool_calls is not an array");
  const toolCalls = calls.map((c: unknown, i) => {
    const f = isRecord(c) ? c.function : undefined;
    if (!isRecord(f) || typeof f.name !== "string" || !isRecord(f.arguments)) {
      throw shapeError(w, `message.tool_calls[${i}] needs a function.name and a function.arguments object`);
    }
    return { id: `call_${earlier + i}`, name: f.name, arguments: f.arguments };
  });
  // Ollama leaves out prompt_eval_count when the whole prompt came from its cache.
  const inputTokens = body.prompt_eval_count ?? 0;
  const outputTokens = body.eval_count ?? 0;
  if (!isCount(inputTokens) || !isCount(outputTokens)) {
    throw shapeError(w, "prompt_eval_count and eval_count must be counts");
  }
  const reason = typeof body.done_reason === "string" ? body.done_reason : "stop";
  return {
    message: { role: "assistant", content: m.content, toolCalls },
    usage: { inputTokens, outputTokens },
    stopReason: toolCalls.length && reason === "stop" ? "tool_calls" : reason,
    model: typeof body.model === "string" ? body.model : w.model,
  };
}
