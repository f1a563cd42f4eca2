/**
 * Plugins inside the sandbox: the used plugins' `mod.ts` are imported here
 * (never in the supervisor), under the sandbox's flags, and their tools are run
 * for `tool.call`: input checked against the tool's schema first, a deadline,
 * a size cap on the result, and every failure a typed error.
 *
 * @module
 */

import { join } from "node:path";
import type { Policy, PolicyPlugin } from "../capabilities/policy.ts";
import { GateError, type HostGate } from "./gate/mod.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { toFileUrl } from "./file_url.ts";
import { inputProblem } from "../plugins/json_schema.ts";
import { type PluginContext, PluginGateError, type ToolHandler } from "../plugins/plugin.ts";

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

/**
 * Imports the used plugins and returns the runner of their tools.
 *
 * @param policy The run's Policy.
 * @param gate The agent's gate (each plugin gets its own view of it).
 * @param emit Where plugin logs go.
 * @param dataDirs Each plugin's own folder for this agent.
 * @returns The runner; it throws GateErrors the gate passes on.
 */
export async function loadPlugins(
  policy: Policy,
  gate: HostGate,
  emit: (e: RunEvent) => void,
  dataDirs: Readonly<Record<string, string>>,
): Promise<ToolRunner> {
  const handlers = new Map<
    string,
    { plugin: PolicyPlugin; handler: ToolHandler; schema: Record<string, unknown> }
  >();
  for (const plugin of policy.plugins) {
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
  return async (name, input) => {
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
    const { plugin, handler } = entry;
    const pluginGate = gate.forPlugin(plugin.name);
    const controller = new AbortController();
    const log = (level: string) => (message: string) =>
      emit({
        type: "log",
        level,
        source: `plugin ${plugin.name}`,
        message: String(message).slice(0, 64 * 1024),
      });
    const context: PluginContext = Object.freeze({
      config: plugin.config,
      log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
      gate: {
        call: async (op: string, args: Record<string, unknown>) => {
          const reply = await pluginGate.call(op, JSON.stringify(args ?? {}));
          if (!reply.ok) throw new PluginGateError(reply.error.code, reply.error.message, reply.error.hint);
          return JSON.parse(reply.json);
        },
      },
      dataDir: dataDirs[plugin.name] ?? null,
      agent: policy.agent.name,
      signal: controller.signal,
    });
    const timeoutMs = Math.min(policy.limits.stepTimeoutS * 1000, MAX_TOOL_TIMEOUT_MS);
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
    let result: unknown;
    try {
      result = await Promise.race([
        Promise.resolve().then(() => handler(structuredClone(input), context)),
        deadline,
      ]);
    } catch (e) {
      if (e instanceof GateError) throw e;
      if (e instanceof Error) {
        throw new GateError(
          "ERR_TOOL",
          `The tool "${name}" failed: ${e.message}`,
          isPluginGateError(e) ? e.hint : "",
          "tool.error",
        );
      }
      throw new GateError(
        "ERR_TOOL",
        `The tool "${name}" threw a value that is not an Error: ${describe(e)}`,
        "",
        "tool.error",
      );
    } finally {
      clearTimeout(timer);
    }
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
    return { output: JSON.parse(json) };
  };
}

function describe(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : String(value).slice(0, 200);
  } catch {
    return typeof value;
  }
}
