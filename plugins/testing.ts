/**
 * For plugin authors: a context to unit-test a plugin's handlers without a
 * sandbox. The gate is a mock that answers from the handlers you give it and
 * records every call; logs are captured; the store is an in-memory map with
 * the same semantics as the run store's (JSON values, `cas` on JSON text, the
 * same key checks, and the config's `max_value_bytes` and `max_keys` caps).
 *
 * @example Test a handler
 * ```ts
 * import { testContext } from "./testing.ts";
 * import calculator from "./builtin/calculator/mod.ts";
 * const { context } = testContext({ config: { precision: 12 } });
 * const result = await calculator.tools.evaluate!({ expression: "2 * (3 + 4)" }, context);
 * if ((result as { value: number }).value !== 14) throw new Error();
 * ```
 *
 * @module
 */

import { type PluginContext, PluginGateError, type PluginStore } from "./plugin.ts";
import { IronclawError } from "../manifests/errors.ts";
import { checkKeyRoom, checkStateKey, stateValueText } from "../capabilities/plugin_state_rules.ts";

/** Options of {@linkcode testContext}. */
export interface TestContextOptions {
  /** The plugin's config values. */
  config?: Record<string, unknown>;
  /** Answers of the mock gate by op; an op without one is refused with ERR_CAPABILITY_DENIED. */
  gate?: Record<string, (args: Record<string, unknown>) => unknown | Promise<unknown>>;
  /** The plugin's data folder (make a temporary one for tests that keep state). */
  dataDir?: string | null;
  /** The agent's name. */
  agent?: string;
}

/** A test context and what it saw. */
export interface TestContext {
  /** Pass this to handlers. */
  context: PluginContext;
  /** Every gate call, in order. */
  calls: { op: string; args: Record<string, unknown> }[];
  /** Every log line, in order. */
  logs: { level: string; message: string }[];
  /** What the store holds: key to JSON text. */
  stored: Map<string, string>;
}

/**
 * One store operation as the run store answers it: a refusal (a bad key, a value or a key past the plugin's
 * caps) is thrown as the {@linkcode PluginGateError} a plugin gets from the real store.
 */
function asStore<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    if (!(e instanceof IronclawError)) return Promise.reject(e);
    return Promise.reject(new PluginGateError(e.code, e.message, e.hint ?? ""));
  }
}

/**
 * An in-memory {@linkcode PluginStore} over `stored` (key to JSON text), with the run store's checks and the
 * plugin's caps (`max_value_bytes`, `max_keys` of its config).
 */
function memoryStore(stored: Map<string, string>, config: Record<string, unknown>): PluginStore {
  const cap = (v: unknown) => typeof v === "number" && v > 0 ? v : undefined;
  const put = (key: string, value: unknown) => {
    const text = stateValueText(value ?? null, cap(config.max_value_bytes));
    if (!stored.has(key)) checkKeyRoom(stored.size, cap(config.max_keys));
    stored.set(key, text);
  };
  return {
    get: (key) => asStore(() => stored.has(checkStateKey(key)) ? JSON.parse(stored.get(key)!) : undefined),
    set: (key, value) => asStore(() => put(checkStateKey(key), value)),
    delete: (key) => asStore(() => stored.delete(checkStateKey(key))),
    cas: (key, expected, value) =>
      asStore(() => {
        const now = stored.get(checkStateKey(key));
        if (now !== (expected === undefined ? undefined : stateValueText(expected))) return false;
        put(key, value);
        return true;
      }),
    list: (prefix = "") => asStore(() => [...stored.keys()].filter((k) => k.startsWith(prefix)).sort()),
  };
}

/**
 * Makes a plugin context for tests.
 *
 * @param options Config, mock gate answers, data folder.
 * @returns The context and the records of what it saw.
 */
export function testContext(options: TestContextOptions = {}): TestContext {
  const calls: TestContext["calls"] = [];
  const logs: TestContext["logs"] = [];
  const log = (level: string) => (message: string) => void logs.push({ level, message });
  const stored = new Map<string, string>();
  const context: PluginContext = {
    config: Object.freeze({ ...options.config }),
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    gate: {
      call: async (op, args) => {
        calls.push({ op, args });
        const answer = options.gate?.[op];
        if (!answer) {
          throw new PluginGateError(
            "ERR_CAPABILITY_DENIED",
            `The mock gate has no answer for "${op}"`,
            "give testContext a gate answer",
          );
        }
        return await answer(args);
      },
    },
    store: memoryStore(stored, options.config ?? {}),
    dataDir: options.dataDir ?? null,
    agent: options.agent ?? "test-agent",
    signal: new AbortController().signal,
  };
  return { context, calls, logs, stored };
}
