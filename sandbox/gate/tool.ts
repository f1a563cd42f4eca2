/**
 * The plugin tool op: `tool.call {name: "plugin.tool", input}`, for tools of
 * the plugins the manifest uses. The plugin host checks the input and runs the
 * handler.
 *
 * @module
 */

import { denied, invalid } from "./errors.ts";
import type { FamilyOps, GateContext } from "./family.ts";

/** How `tool.call` reaches the plugins. */
export interface ToolIo {
  /** Runs a plugin tool: checks its input and runs its handler (answering `{output}`), or throws a GateError. */
  run: ((name: string, input: unknown) => Promise<unknown>) | undefined;
}

/**
 * The plugin tool op of one gate.
 *
 * @param ctx The gate's Policy.
 * @param tools The plugin host.
 * @returns The handler of `tool.call`.
 */
export function toolOps(ctx: GateContext, tools: ToolIo): FamilyOps<"tool"> {
  return {
    "tool.call": {
      run: async (args) => {
        const name = args.name;
        if (typeof name !== "string" || !/^[a-z0-9-]+\.[a-z0-9_]+$/.test(name)) {
          throw invalid(
            '"name" must be "plugin.tool"',
            'pass {"name": "calculator.evaluate", "input": {...}}',
          );
        }
        const plugin = name.slice(0, name.indexOf("."));
        const used = ctx.policy.plugins.find((p) => p.name === plugin);
        const { run } = tools;
        if (!used || !used.tools.some((t) => `${plugin}.${t.name}` === name) || !run) {
          throw denied(`The tool "${name}" is not granted`, {
            hint: used
              ? `plugin "${plugin}" has tools ${used.tools.map((t) => `"${plugin}.${t.name}"`).join(", ")}`
              : `add "${plugin}" to [plugins] use in the manifest`,
            rule: "tool",
          });
        }
        // The plugin host answers {output}.
        return { value: await run(name, args.input ?? {}) as { output: unknown }, rule: `plugin:${plugin}` };
      },
    },
  };
}
