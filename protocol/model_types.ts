/**
 * The model-agnostic shapes of a chat completion, as the loops, the gate and
 * the supervisor's model broker speak them. Each provider maps them onto its
 * own wire protocol.
 *
 * @module
 */

import type { ErrorCode } from "../manifests/errors.ts";

/** A tool the model may call: a name, a description and a JSON Schema of its arguments. */
export interface ToolSpec {
  /** Letters, digits and `_` only (every provider accepts that). */
  name: string;
  /** What the tool does, for the model. */
  description: string;
  /** JSON Schema (an object schema) of the arguments. */
  parameters: Record<string, unknown>;
}

/** A tool call the model asked for. */
export interface ToolCall {
  /** The provider's id of the call (made up where the provider has none, as Ollama). */
  id: string;
  /** The tool's name. */
  name: string;
  /** The arguments, parsed. */
  arguments: Record<string, unknown>;
}

/** One message of a conversation. */
export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string; toolCalls?: ToolCall[] }
  | { role: "tool"; toolCallId: string; name: string; content: string };

/** What a loop or a guest asks of the model (`model.complete`). */
export interface CompletionRequest {
  /** The conversation so far. */
  messages: ChatMessage[];
  /** The tools the model may call. */
  tools?: ToolSpec[];
  /** The most tokens of the answer; the broker lowers it to what the budget has left. */
  maxTokens?: number;
  /** Sampling temperature, 0 to 2 (Anthropic takes 0 to 1). */
  temperature?: number;
}

/** Tokens a call used, as the provider reported them. */
export interface Usage {
  /** Tokens of the prompt. */
  inputTokens: number;
  /** Tokens of the answer. */
  outputTokens: number;
}

/** The model's answer. */
export interface CompletionResult {
  /** The answer: text and tool calls (either may be empty). */
  message: { role: "assistant"; content: string; toolCalls: ToolCall[] };
  /** Tokens used. */
  usage: Usage;
  /** Why the model stopped: "stop", "tool_calls", "length", or the provider's own word. */
  stopReason: string;
  /** The model that answered, as the provider names it. */
  model: string;
}

/**
 * Error codes of the model broker: the `ERR_MODEL_*` codes of
 * {@linkcode ErrorCode} (their meanings are in `ERROR_CODES`).
 */
export type ModelErrorCode = Extract<ErrorCode, `ERR_MODEL_${string}`>;
