/**
 * Model access for IronClaw runs: the broker the supervisor keeps (budgets,
 * timeouts, retries, the key), the providers it speaks through (OpenAI and
 * compatible servers, Ollama, Anthropic, scripted replays), and their errors.
 *
 * @module
 */

export * from "../../protocol/model_types.ts";
export { ModelError, type ModelErrorOptions } from "./errors.ts";
export type { HttpProviderOptions, Provider } from "./provider.ts";
export { openaiProvider } from "./openai.ts";
export { ollamaProvider } from "./ollama.ts";
export { ANTHROPIC_DEFAULT_MAX_TOKENS, anthropicProvider } from "./anthropic.ts";
export { loadTranscript, scriptedProvider, type ScriptedTurn, type Transcript } from "./scripted.ts";
export {
  createModelBroker,
  DEFAULT_BASE_URLS,
  ModelBroker,
  type ModelBrokerOptions,
  type ModelUsage,
} from "./broker.ts";
