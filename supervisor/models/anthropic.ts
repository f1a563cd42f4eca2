/**
 * Anthropic's Messages API (`POST /v1/messages`).
 *
 * @module
 */

import type { HttpProviderOptions, Provider } from "./provider.ts";
import type {
  ChatMessage,
  CompletionRequest,
  CompletionResult,
  ToolCall,
} from "../../protocol/model_types.ts";
import { type ErrorDetail, isCount, isRecord, postJson, shapeError, type Wire, wireOf } from "./_wire.ts";

/** The `max_tokens` sent when the request names none: the Messages API requires one. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 1024;

/** Anthropic's stop reasons in the words of {@linkcode CompletionResult.stopReason}. */
const STOP_REASONS: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  tool_use: "tool_calls",
  max_tokens: "length",
};

/**
 * A provider that speaks Anthropic's Messages API. System messages become the
 * `system` field; tool results become `tool_result` blocks of a user message.
 *
 * @param options The base URL (such as `https://api.anthropic.com`, without `/v1`), the model, the key.
 * @returns The provider; each call POSTs to `${baseUrl}/v1/messages` with `anthropic-version: 2023-06-01`.
 * @throws {ModelError} From `complete()`, when the call fails (529 overloaded is `ERR_MODEL_SERVER`, retried by the broker).
 * @example
 * ```ts
 * import { anthropicProvider } from "./anthropic.ts";
 * const provider = anthropicProvider({ baseUrl: "https://api.anthropic.com", model: "claude-sonnet-4-5" });
 * if (typeof provider.complete !== "function") throw new Error("unexpected");
 * ```
 */
export function anthropicProvider(options: HttpProviderOptions): Provider {
  const w = wireOf(options, {
    type: "anthropic",
    api: "the Anthropic Messages API (such as https://api.anthropic.com, without /v1)",
  });
  const headers: Record<string, string> = {
    "anthropic-version": "2023-06-01",
    ...(options.apiKey ? { "x-api-key": options.apiKey } : {}),
  };
  return {
    async complete(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
      const system = req.messages.flatMap((m) => m.role === "system" ? [m.content] : []).join("\n\n");
      const body = {
        model: w.model,
        max_tokens: req.maxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
        ...(system ? { system } : {}),
        messages: toWire(req.messages),
        ...(req.tools?.length
          ? {
            tools: req.tools.map((t) => ({
              name: t.name,
              description: t.description,
              input_schema: t.parameters,
            })),
          }
          : {}),
        ...(req.temperature === undefined ? {} : { temperature: req.temperature }),
      };
      return fromWire(
        w,
        await postJson(w, { path: "/v1/messages", headers, body, signal, detail: errorDetail }),
      );
    },
  };
}

/** The conversation without its system messages; consecutive tool results share one user message. */
function toWire(messages: ChatMessage[]): Record<string, unknown>[] {
  const out: { role: string; content: unknown }[] = [];
  for (const m of messages) {
    if (m.role === "system") continue;
    if (m.role === "tool") {
      const block = { type: "tool_result", tool_use_id: m.toolCallId, content: m.content };
      const last = out.at(-1);
      if (last?.role === "user" && Array.isArray(last.content)) last.content.push(block);
      else out.push({ role: "user", content: [block] });
    } else if (m.role === "assistant" && m.toolCalls?.length) {
      out.push({
        role: "assistant",
        content: [
          // The API refuses empty text blocks.
          ...(m.content ? [{ type: "text", text: m.content }] : []),
          ...m.toolCalls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: c.arguments })),
        ],
      });
    } else {
      out.push({ role: m.role, content: m.content });
    }
  }
  return out;
}

function fromWire(w: Wire, body: unknown): CompletionResult {
  if (!isRecord(body) || !Array.isArray(body.content)) throw shapeError(w, "no content array");
  let text = "";
  const toolCalls: ToolCall[] = [];
  for (const [i, b] of (body.content as unknown[]).entries()) {
    if (!isRecord(b) || typeof b.type !== "string") {
      throw shapeError(w, `content[${i}] is not a content block`);
    }
    if (b.type === "text") {
      if (typeof b.text !== "string") throw shapeError(w, `content[${i}] (text) has no text`);
      text += b.text;
    } else if (b.type === "tool_use") {
      if (typeof b.id !== "string" || typeof b.name !== "string" || !isRecord(b.input)) {
        throw shapeError(w, `content[${i}] (tool_use) needs an id, a name and an input object`);
      }
      toolCalls.push({ id: b.id, name: b.name, arguments: b.input });
    } // Other blocks (thinking...) carry nothing a loop uses.
  }
  const usage = body.usage;
  if (!isRecord(usage) || !isCount(usage.input_tokens) || !isCount(usage.output_tokens)) {
    throw shapeError(w, "no usage.input_tokens and usage.output_tokens");
  }
  const reason = typeof body.stop_reason === "string" ? body.stop_reason : "stop";
  return {
    message: { role: "assistant", content: text, toolCalls },
    usage: { inputTokens: usage.input_tokens, outputTokens: usage.output_tokens },
    stopReason: STOP_REASONS[reason] ?? reason,
    model: typeof body.model === "string" ? body.model : w.model,
  };
}

function errorDetail(body: unknown): ErrorDetail | undefined {
  const e = isRecord(body) ? body.error : undefined;
  if (!isRecord(e) || typeof e.message !== "string") return undefined;
  return e.type === "not_found_error"
    ? { message: e.message, code: "ERR_MODEL_NOT_FOUND" }
    : { message: e.message };
}
