/**
 * Plugins inside the sandbox: the used plugins' `mod.ts` are imported here
 * (never in the supervisor), under the sandbox's flags, and their tools are run
 * for `tool.call`: input checked against the tool's schema first, a deadline,
 * a size cap on the result, and every failure a typed error.
 *
 * @module
 */

import { join } from "node:path";
import type { EnforcedGrant } from "../protocol/grant.ts";
import { GateError } from "./gate/mod.ts";
import type { RunContext } from "./runner.ts";
import { toFileUrl } from "./file_url.ts";
import { inputProblem } from "../plugins/json_schema.ts";
import { type PluginContext, PluginGateError, type ToolHandler } from "../plugins/plugin.ts";

/** A plugin the run uses, as its grant names it. */
type PolicyPlugin = EnforcedGrant["plugins"][number];

/**
 * Whether a plugin threw a {@linkcode PluginGateError}. Told by its name, not by
 * `instanceof`: the sandbox runs as one bundle, and a plugin imports its own
 * copy of `plugin.ts`, so the two classes are not the same object.
 */
function isPluginGateError(e: Error): e is PluginGateError {
  return e.name === "PluginGateError" && typeof (e as { hint?: unknown }).hint === "string";
}

/** The longest a tool's handler may take, in milliseconds, whatever `step_timeout_s` says. */
export const MAX_TOOL_TIMEOUT_MS = 60_000;
/** The largest result a tool may return, as JSON characters. */
export const MAX_TOOL_RESULT = 1024 * 1024;

/** Runs plugin tools by their qualified name (`plugin.tool`). */
export type ToolRunner = (name: string, input: unknown) => Promise<unknown>;

/** What the plugin host needs of the run: its grant, the agent's gate, and where plugin logs go. */
export type PluginHostContext = Pick<RunContext, "policy" | "gate" | "emit">;

/** Options of {@linkcode loadPlugins}. */
export interface LoadPluginsOptions {
  /** Each plugin's own folder for this agent, by plugin name (default: none). */
  dataDirs?: Readonly<Record<string, string>>;
}

/** A plugin tool's handler, and what it is checked against. */
interface ToolEntry {
  plugin: PolicyPlugin;
  handler: ToolHandler;
  /** The JSON Schema of its input. */
  schema: Record<string, unknown>;
}

/**
 * Imports the used plugins and returns the runner of their tools.
 *
 * @param context The run: its Policy, the agent's gate (each plugin gets its own view of it), where plugin logs go.
 * @param options Each plugin's own folder.
 * @returns The runner; it throws GateErrors the gate passes on.
 */
export async function loadPlugins(
  context: PluginHostContext,
  options: LoadPluginsOptions = {},
): Promise<ToolRunner> {
  const { policy } = context;
  const dataDirs = options.dataDirs ?? {};
  const handlers = await importHandlers(policy.plugins);
  return async (name, input) => {
    const { plugin, handler } = checkedEntry(handlers, name, input);
    const controller = new AbortController();
    const pluginContext = pluginContextOf(context, plugin, {
      dataDir: dataDirs[plugin.name] ?? null,
      signal: controller.signal,
    });
    const timeoutMs = Math.min(policy.limits.stepTimeoutS * 1000, MAX_TOOL_TIMEOUT_MS);
    const result = await withDeadline(
      name,
      () => handler(structuredClone(input), pluginContext),
      { controller, timeoutMs },
    );
    return { output: jsonResult(name, result) };
  };
}

/** Imports each plugin's `mod.ts` and finds the handler of every tool it declares, by qualified name. */
async function importHandlers(plugins: readonly PolicyPlugin[]): Promise<Map<string, ToolEntry>> {
  const handlers = new Map<string, ToolEntry>();
  for (const plugin of plugins) {
    let definition: unknown;
    try {
      definition = (await import(toFileUrl(join(plugin.dir, "mod.ts")))).default;
    } catch (e) {
      throw new GateError(
        "ERR_IO",
        `Plugin "${plugin.name}" cannot be loaded: ${(e as Error).message}`,
        "fix its mod.ts",
        "plugin",
      );
    }
    const tools = (definition as { tools?: Record<string, unknown> } | undefined)?.tools;
    for (const tool of plugin.tools) {
      const handler = tools?.[tool.name];
      if (typeof handler !== "function") {
        throw new GateError(
          "ERR_IO",
          `Plugin "${plugin.name}" has no handler for its tool "${tool.name}"`,
          "export default definePlugin({ tools: { ... } }) in its mod.ts",
          "plugin",
        );
      }
      handlers.set(`${plugin.name}.${tool.name}`, {
        plugin,
        handler: handler as ToolHandler,
        schema: tool.input as Record<string, unknown>,
      });
    }
  }
  return handlers;
}

/** The tool's entry, once its name is granted and its input fits its schema. */
function checkedEntry(handlers: Map<string, ToolEntry>, name: string, input: unknown): ToolEntry {
  const entry = handlers.get(name);
  if (!entry) {
    throw new GateError(
      "ERR_CAPABILITY_DENIED",
      `The tool "${name}" is not granted`,
      "use a tool of a plugin the manifest uses",
      "tool",
    );
  }
  const problem = inputProblem(entry.schema, input);
  if (problem) {
    throw new GateError(
      "ERR_INVALID_ARGS",
      `The input of "${name}" is invalid: ${problem}`,
      "send input that fits the tool's schema",
      "tool.input",
    );
  }
  return entry;
}

/** The frozen context a plugin's handler gets: its config, logs, its view of the gate, its folder, the signal. */
function pluginContextOf(
  context: PluginHostContext,
  plugin: PolicyPlugin,
  own: { dataDir: string | null; signal: AbortSignal },
): PluginContext {
  const pluginGate = context.gate.forPlugin(plugin.name);
  const log = (level: string) => (message: string) =>
    context.emit({
      type: "log",
      level,
      source: `plugin ${plugin.name}`,
      message: String(message).slice(0, 64 * 1024),
    });
  return Object.freeze({
    config: plugin.config,
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    gate: {
      call: async (op: string, args: Record<string, unknown>) => {
        const reply = await pluginGate.call(op, JSON.stringify(args ?? {}));
        if (!reply.ok) throw new PluginGateError(reply.error.code, reply.error.message, reply.error.hint);
        return JSON.parse(reply.json);
      },
    },
    dataDir: own.dataDir,
    agent: context.policy.agent.name,
    signal: own.signal,
  });
}

/** Runs a tool's handler against its deadline (aborting its signal when it passes); every failure a GateError. */
async function withDeadline(
  name: string,
  call: () => unknown,
  limit: { controller: AbortController; timeoutMs: number },
): Promise<unknown> {
  const { controller, timeoutMs } = limit;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(
        new GateError(
          "ERR_LIMIT",
          `The tool "${name}" took longer than ${timeoutMs / 1000} s`,
          "raise [limits] step_timeout_s, or ask it for less",
          "tool.timeout",
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(call), deadline]);
  } catch (e) {
    throw toolFailure(name, e);
  } finally {
    clearTimeout(timer);
  }
}

/** The GateError for what a tool's handler threw. */
function toolFailure(name: string, e: unknown): GateError {
  if (e instanceof GateError) return e;
  if (e instanceof Error) {
    return new GateError(
      "ERR_TOOL",
      `The tool "${name}" failed: ${e.message}`,
      isPluginGateError(e) ? e.hint : "",
      "tool.error",
    );
  }
  return new GateError(
    "ERR_TOOL",
    `The tool "${name}" threw a value that is not an Error: ${describe(e)}`,
    "",
    "tool.error",
  );
}

/** A tool's result as plain JSON, checked to be JSON and not too large. */
function jsonResult(name: string, result: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(result ?? null);
  } catch (e) {
    throw new GateError(
      "ERR_TOOL",
      `The tool "${name}" returned something that is not JSON: ${(e as Error).message}`,
      "",
      "tool.result",
    );
  }
  if (json.length > MAX_TOOL_RESULT) {
    throw new GateError(
      "ERR_LIMIT",
      `The tool "${name}" returned ${json.length} characters, more than ${MAX_TOOL_RESULT}`,
      "ask it for less",
      "tool.size",
    );
  }
  return JSON.parse(json);
}

function describe(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : String(value).slice(0, 200);
  } catch {
    return typeof value;
  }
}
