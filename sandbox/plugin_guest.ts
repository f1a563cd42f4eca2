/**
 * The inside of a plugin's own Worker (see `plugin_host.ts`): imports the
 * plugin's `mod.ts` from its folder, finds the handler of every tool it
 * declares, and runs each call it is sent with a {@linkcode PluginContext}
 * whose gate, logs and store are messages to the main thread and whose signal
 * aborts when the main thread says the deadline passed. The Worker's Deno
 * permissions are the plugin's own grants; nothing here holds a secret, the
 * channel, the gate or another plugin.
 *
 * @module
 */

import { join } from "node:path";
import type { GateReply } from "./gate/mod.ts";
import { toFileUrl } from "./file_url.ts";
import {
  type PluginContext,
  PluginGateError,
  type PluginStore,
  type ToolHandler,
} from "../plugins/plugin.ts";
import type { ErrorCode } from "../manifests/errors.ts";
import type { PluginInit, PluginMessage, PluginOrder, StateReply } from "./plugin_host.ts";

/** The Worker's own scope. */
const scope = globalThis as unknown as {
  postMessage(message: PluginMessage): void;
  onmessage: ((e: MessageEvent<PluginOrder>) => void) | null;
  close(): void;
};

const post = (message: PluginMessage) => scope.postMessage(message);

/** The state of the plugin's side: its handlers, the gate calls awaiting a reply, the calls running. */
interface PluginState {
  init: PluginInit;
  handlers: Map<string, ToolHandler>;
  gateCalls: Map<number, (reply: GateReply) => void>;
  nextGateCall: number;
  stateCalls: Map<number, (reply: StateReply) => void>;
  running: Map<number, AbortController>;
}

/**
 * Runs a plugin's side of its Worker: loads the plugin, says `ready` (or
 * `broken` with what is wrong), then answers the main thread's orders.
 *
 * @param init What to load: the plugin's name, folder, tools, config, agent and data folder.
 */
export function pluginGuest(init: unknown): void {
  const state: PluginState = {
    init: init as PluginInit,
    handlers: new Map(),
    gateCalls: new Map(),
    nextGateCall: 1,
    stateCalls: new Map(),
    running: new Map(),
  };
  scope.onmessage = (e) => onOrder(state, e.data);
  routeConsole();
  reportExits();
  loadHandlers(state.init).then(
    (handlers) => {
      state.handlers = handlers;
      post({ t: "ready" });
    },
    (e: Error) => post({ t: "broken", message: e.message, hint: (e as { hint?: string }).hint ?? "" }),
  );
}

/** Imports the plugin's `mod.ts` and finds the handler of every tool it declares. */
async function loadHandlers(init: PluginInit): Promise<Map<string, ToolHandler>> {
  let definition: unknown;
  try {
    definition = (await import(toFileUrl(join(init.dir, "mod.ts")))).default;
  } catch (e) {
    throw Object.assign(new Error(`Plugin "${init.name}" cannot be loaded: ${(e as Error)?.message ?? e}`), {
      hint: "fix its mod.ts",
    });
  }
  const tools = (definition as { tools?: Record<string, unknown> } | undefined)?.tools;
  const handlers = new Map<string, ToolHandler>();
  for (const tool of init.tools) {
    const handler = tools?.[tool];
    if (typeof handler !== "function") {
      throw Object.assign(new Error(`Plugin "${init.name}" has no handler for its tool "${tool}"`), {
        hint: "export default definePlugin({ tools: { ... } }) in its mod.ts",
      });
    }
    handlers.set(tool, handler as ToolHandler);
  }
  return handlers;
}

/** Handles one order of the main thread: a call, its abort, or a gate reply. */
function onOrder(state: PluginState, order: PluginOrder): void {
  if (order.t === "call") return void runCall(state, order);
  if (order.t === "abort") return state.running.get(order.id)?.abort();
  if (order.t === "gate-reply") {
    const resolve = state.gateCalls.get(order.id);
    state.gateCalls.delete(order.id);
    resolve?.(order.reply);
  }
  if (order.t === "state-reply") {
    const resolve = state.stateCalls.get(order.id);
    state.stateCalls.delete(order.id);
    resolve?.(order.reply);
  }
}

/** The plugin's store: each operation a message to the main thread, which asks the supervisor. */
function storeOf(state: PluginState): PluginStore {
  const ask = async (args: Record<string, unknown>): Promise<unknown> => {
    const reply = await new Promise<StateReply>((resolve) => {
      const id = state.nextGateCall++;
      state.stateCalls.set(id, resolve);
      post({ t: "state", id, args });
    });
    if (!reply.ok) {
      throw new PluginGateError(reply.error.code as ErrorCode, reply.error.message, reply.error.hint);
    }
    return reply.result;
  };
  return Object.freeze({
    get: async (key: string) => {
      const r = await ask({ op: "get", key }) as { found: boolean; value: unknown };
      return r.found ? r.value : undefined;
    },
    set: async (key: string, value: unknown) => void await ask({ op: "set", key, value: value ?? null }),
    delete: async (key: string) => ((await ask({ op: "delete", key })) as { done: boolean }).done,
    cas: async (key: string, expected: unknown, value: unknown) =>
      ((await ask({ op: "cas", key, expected, value: value ?? null })) as { done: boolean }).done,
    list: async (prefix?: string) =>
      ((await ask(prefix === undefined ? { op: "list" } : { op: "list", prefix })) as { keys: string[] })
        .keys,
  });
}

/** Runs one tool call and posts its result (as JSON text, unless too large) or what it threw. */
async function runCall(state: PluginState, order: Extract<PluginOrder, { t: "call" }>): Promise<void> {
  const controller = new AbortController();
  state.running.set(order.id, controller);
  const { id } = order;
  try {
    const handler = state.handlers.get(order.tool);
    if (!handler) throw new Error(`No handler for the tool "${order.tool}"`);
    const result = await handler(order.input, contextOf(state, controller.signal));
    let json: string | undefined;
    try {
      json = JSON.stringify(result ?? null);
    } catch (e) {
      return post({ t: "not-json", id, message: (e as Error)?.message ?? String(e) });
    }
    if (typeof json !== "string") return post({ t: "not-json", id, message: `it is a ${typeof result}` });
    post(
      json.length > order.maxSize ? { t: "result", id, json: null, size: json.length } : {
        t: "result",
        id,
        json,
        size: json.length,
      },
    );
  } catch (e) {
    post({ t: "failure", id, error: thrown(e), value: describe(e) });
  } finally {
    state.running.delete(id);
  }
}

/** What a handler threw, when it is an Error: its name, message, and hint (a PluginGateError's). */
function thrown(e: unknown): { name: string; message: string; hint: string | null } | null {
  if (!(e instanceof Error)) return null;
  const hint = (e as { hint?: unknown }).hint;
  return { name: String(e.name), message: String(e.message), hint: typeof hint === "string" ? hint : null };
}

/** The frozen context a handler gets: its config, logs and gate by messages, its folder, the signal. */
function contextOf(state: PluginState, signal: AbortSignal): PluginContext {
  const { init } = state;
  const log = (level: string) => (message: string) => post({ t: "log", level, message: String(message) });
  return Object.freeze({
    config: init.config,
    log: Object.freeze({ debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") }),
    gate: Object.freeze({
      call: async (op: string, args: Record<string, unknown>) => {
        const reply = await new Promise<GateReply>((resolve) => {
          const id = state.nextGateCall++;
          state.gateCalls.set(id, resolve);
          post({ t: "gate", id, op: String(op), args: JSON.stringify(args ?? {}) });
        });
        if (!reply.ok) throw new PluginGateError(reply.error.code, reply.error.message, reply.error.hint);
        return JSON.parse(reply.json);
      },
    }),
    store: storeOf(state),
    dataDir: init.dataDir,
    agent: init.agent,
    signal,
  });
}

/** What the plugin prints becomes its log lines (its Worker has no output of its own). */
function routeConsole(): void {
  const levels = { log: "info", info: "info", debug: "debug", warn: "warn", error: "error" } as const;
  for (const [name, level] of Object.entries(levels)) {
    console[name as keyof typeof levels] = (...args: unknown[]) =>
      post({
        t: "log",
        level,
        message: args.map((a) => (typeof a === "string" ? a : Deno.inspect(a))).join(" "),
      });
  }
}

/** A plugin that ends its own Worker (Deno.exit, close) says so first, so its calls fail at once. */
function reportExits(): void {
  const exit = Deno.exit;
  const close = scope.close.bind(scope);
  Deno.exit = (code?: number): never => {
    post({ t: "gone", message: `it called Deno.exit(${code ?? 0})` });
    return exit(code);
  };
  scope.close = () => {
    post({ t: "gone", message: "it closed its Worker" });
    close();
  };
}

function describe(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : String(value).slice(0, 200);
  } catch {
    return typeof value;
  }
}
