/**
 * Helpers for testing what runs with IronClaw: a plugin's test context (its
 * handlers called as the sandbox calls them, with a fake gate) and the
 * scripted model provider, which replays a transcript instead of calling a
 * model.
 *
 * @module
 */

export * from "./plugins/mod.ts";
export { type TestContext, testContext, type TestContextOptions } from "./plugins/testing.ts";
export {
  loadTranscript,
  scriptedProvider,
  type ScriptedTurn,
  type Transcript,
} from "./supervisor/models/scripted.ts";
export type { HttpProviderOptions, Provider } from "./supervisor/models/provider.ts";
export * from "./protocol/model_types.ts";
