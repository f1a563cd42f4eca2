/**
 * For plugin authors: a context to unit-test a plugin's handlers without a
 * sandbox. The gate is a mock that answers from the handlers you give it and
 * records every call; logs are captured; the store is an in-memory map with
 * the same semantics as the run store's (JSON values, `cas` on JSON text).
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

/** An in-memory {@linkcode PluginStore} over `stored` (key to JSON text). */
function memoryStore(stored: Map<string, string>): PluginStore {
  const text = (value: unknown) => JSON.stringify(value ?? null);
  return {
    get: (key) => Promise.resolve(stored.has(key) ? JSON.parse(stored.get(key)!) : undefined),
    set: (key, value) => Promise.resolve(void stored.set(key, text(value))),
    delete: (key) => Promise.resolve(stored.delete(key)),
    cas: (key, expected, value) => {
      const now = stored.get(key);
      if (now !== (expected === undefined ? undefined : JSON.stringify(expected))) {
        return Promise.resolve(false);
      }
      stored.set(key, text(value));
      return Promise.resolve(true);
    },
    list: (prefix = "") => Promise.resolve([...stored.keys()].filter((k) => k.startsWith(prefix)).sort()),
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
    store: memoryStore(stored),
    dataDir: options.dataDir ?? null,
    agent: options.agent ?? "test-agent",
    signal: new AbortController().signal,
  };
  return { context, calls, logs, stored };
}
