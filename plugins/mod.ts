/**
 * The plugin contract for plugin authors: `definePlugin` and the types of a
 * handler's context. See the README's "Writing a plugin".
 *
 * @module
 */

export * from "./plugin.ts";
export { type TestContext, testContext, type TestContextOptions } from "./testing.ts";
