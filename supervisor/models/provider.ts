/**
 * The one interface every model provider implements, and the options the HTTP
 * providers share.
 *
 * @module
 */

import type { CompletionRequest, CompletionResult } from "../../protocol/model_types.ts";

/** A model behind one wire protocol. */
export interface Provider {
  /**
   * One completion.
   *
   * @param req The conversation, the tools and the limits of the answer.
   * @param signal Aborts the call; the provider then rejects with the signal's reason.
   * @returns The model's answer.
   * @throws {ModelError} When the call fails.
   */
  complete(req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult>;
}

/** Options of the HTTP providers (`openaiProvider`, `ollamaProvider`, `anthropicProvider`). */
export interface HttpProviderOptions {
  /** The API's base URL, such as `https://api.openai.com/v1`. */
  baseUrl: string;
  /** The model to ask, such as `gpt-4o-mini`. */
  model: string;
  /** The API key; absent, no key is sent. */
  apiKey?: string | undefined;
  /** The provider's name in the runtime config, for messages; default the protocol's name. */
  provider?: string | undefined;
  /** The variable holding the key, for hints. */
  apiKeyEnv?: string | undefined;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch | undefined;
}
