/**
 * The contract of a plugin's code: `mod.ts` default-exports
 * `definePlugin({ tools: { NAME: handler } })`. Each handler receives its input,
 * already checked against the tool's JSON Schema in `plugin.toml`, and a
 * context; it returns a JSON-able result, or throws an Error that becomes a
 * typed tool error for the agent. Plugin code runs inside the sandbox process,
 * never in the supervisor, in a Worker of its own whose Deno permissions are
 * exactly the plugin's own grants (its folder, its data folder, what its
 * `plugin.toml` asks for): not the agent's, not another plugin's, and away from
 * the gate's realm and its secrets.
 *
 * @module
 */

import type { ErrorCode } from "../manifests/errors.ts";

/** The plugin's logger: lines go to the run's record. */
export interface PluginLogger {
  /** Writes a debug line. */
  debug(message: string): void;
  /** Writes an info line. */
  info(message: string): void;
  /** Writes a warning. */
  warn(message: string): void;
  /** Writes an error line. */
  error(message: string): void;
}

/** The host gate, as a plugin reaches it: checked against the agent's grants and this plugin's own. */
export interface PluginGate {
  /**
   * Asks the gate to do one thing (the ops of docs/abi.md).
   *
   * @param op The op, such as `fs.read`.
   * @param args Its arguments.
   * @returns Its result.
   * @throws {PluginGateError} When the gate refuses or the op fails.
   */
  call(op: string, args: Record<string, unknown>): Promise<unknown>;
}

/** A refusal or failure of the gate, as a plugin sees it. */
export class PluginGateError extends Error {
  /** The gate's code, such as `ERR_CAPABILITY_DENIED`. */
  readonly code: ErrorCode;
  /** What to change. */
  readonly hint: string;
  /**
   * Makes the error.
   *
   * @param code The gate's code.
   * @param message What happened.
   * @param hint What to change.
   */
  constructor(code: ErrorCode, message: string, hint: string) {
    super(message);
    this.name = "PluginGateError";
    this.code = code;
    this.hint = hint;
  }
}

/**
 * The plugin's own state for the agent, kept in the run store between runs:
 * scoped to (this plugin, the agent), so no other plugin and no other agent
 * sees it. Values are JSON (at most the plugin's `max_value_bytes` config when
 * it sets one, else 1 MiB, as JSON text); keys are 1 to 256 characters. Each
 * operation is one transaction: runs writing at once never lose an
 * acknowledged write, and `cas` lets a read-change-write retry instead of
 * overwriting another run's change. Failures are {@linkcode PluginGateError}s
 * (`ERR_INVALID_ARGS`, `ERR_LIMIT`, `ERR_STORE`).
 *
 * @example A counter that two runs may bump at once
 * ```ts
 * import type { PluginStore } from "./plugin.ts";
 * async function bump(store: PluginStore): Promise<number> {
 *   for (;;) {
 *     const now = await store.get("count");
 *     const next = (typeof now === "number" ? now : 0) + 1;
 *     if (await store.cas("count", now, next)) return next;
 *   }
 * }
 * ```
 */
export interface PluginStore {
  /** The value under `key`, or undefined when there is none. */
  get(key: string): Promise<unknown | undefined>;
  /** Stores `value` under `key` (undefined is stored as null). */
  set(key: string, value: unknown): Promise<void>;
  /** Forgets `key`; true when it was there. */
  delete(key: string): Promise<boolean>;
  /**
   * Compare-and-set: stores `value` only if the value under `key` is still `expected` (compared as JSON text;
   * `undefined` means "absent").
   *
   * @returns Whether it was stored.
   */
  cas(key: string, expected: unknown, value: unknown): Promise<boolean>;
  /** The keys (starting with `prefix`, when given), sorted. */
  list(prefix?: string): Promise<string[]>;
}

/** What a handler receives besides its input. */
export interface PluginContext {
  /** The plugin's config: its defaults from plugin.toml, then the runtime config's `[plugins.NAME]`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Lines to the run's record. */
  readonly log: PluginLogger;
  /** The host gate, for actions the plugin takes as the agent. */
  readonly gate: PluginGate;
  /** This plugin's state for this agent, in the run store: transactional, with compare-and-set. */
  readonly store: PluginStore;
  /** A folder of this plugin's own for this agent, kept between runs (read and write), or null outside a run. */
  readonly dataDir: string | null;
  /** The agent's name. */
  readonly agent: string;
  /** Aborted when the call's deadline passes. */
  readonly signal: AbortSignal;
}

/** A tool's implementation. */
// deno-lint-ignore no-explicit-any
export type ToolHandler<I = any> = (input: I, context: PluginContext) => unknown | Promise<unknown>;

/** What `mod.ts` default-exports. */
export interface PluginDefinition {
  /** A handler for every tool `plugin.toml` declares, by tool name. */
  tools: Readonly<Record<string, ToolHandler>>;
}

/**
 * Declares a plugin's handlers (a typed identity, checked for shape).
 *
 * @param definition The handlers by tool name.
 * @returns The same definition, frozen.
 * @throws {TypeError} When a handler is not a function.
 * @example
 * ```ts
 * import { definePlugin } from "./plugin.ts";
 * export default definePlugin({
 *   tools: { shout: (input: { text: string }) => ({ text: input.text.toUpperCase() }) },
 * });
 * ```
 */
export function definePlugin(definition: PluginDefinition): PluginDefinition {
  if (typeof definition !== "object" || definition === null || typeof definition.tools !== "object") {
    throw new TypeError("definePlugin() takes { tools: { name: handler } }");
  }
  for (const [name, handler] of Object.entries(definition.tools)) {
    if (typeof handler !== "function") throw new TypeError(`The handler of tool "${name}" is not a function`);
  }
  return Object.freeze({ tools: Object.freeze({ ...definition.tools }) });
}
