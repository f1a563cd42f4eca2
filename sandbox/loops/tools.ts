/**
 * The tools a built-in loop offers its model: the host gate's ops that the
 * Policy grants, and no others (a file tool exists only if files are granted).
 *
 * @module
 */

import { posix } from "node:path";
import type { EnforcedGrant } from "../../protocol/grant.ts";
import type { GateReply, HostGate } from "../gate/mod.ts";
import type { ToolSpec } from "../../protocol/model_types.ts";
import { GATE_OPS, type GateOpName, isOpGranted } from "../../protocol/gate_ops.ts";
import { type Fields, jsonSchemaOf, objectOf, required, STRING } from "../../protocol/gate_shapes.ts";

/** The most characters of one observation the model sees. */
export const MAX_OBSERVATION = 16 * 1024;

/** A tool of a loop: its schema for the model, and the gate op it becomes. */
export interface LoopTool {
  spec: ToolSpec;
  /** The gate op it calls. */
  op: GateOpName;
  /** The gate arguments for the model's arguments. */
  toArgs(args: Record<string, unknown>): Record<string, unknown>;
}

/** The JSON Schema of an object with these fields (the gate op's own, or a few of them). */
const params = (fields: Fields) => jsonSchemaOf(objectOf(fields));

/**
 * The loop tools a Policy grants: one per granted gate op (its arguments'
 * schema from {@linkcode GATE_OPS}), and one per plugin tool.
 *
 * @param policy The run's Policy.
 * @returns The tools.
 */
export function toolsFor(policy: EnforcedGrant): LoopTool[] {
  return [...fileTools(policy), ...otherOpTools(policy), ...pluginTools(policy)];
}

/** The file tools: list and read with anything to read, write with a write grant. */
function fileTools(policy: EnforcedGrant): LoopTool[] {
  const shown = (paths: readonly { path: string }[]) =>
    paths.map((g) => {
      const rel = posix.relative(policy.baseDir, g.path);
      return rel && !rel.startsWith("..") ? rel : g.path;
    }).join(", ");
  const tools: LoopTool[] = [];
  if (isOpGranted(policy, "fs.list")) {
    const where = `Paths are relative to the agent's folder; readable: ${
      shown([...policy.fs.read, ...policy.fs.write])
    }`;
    tools.push({
      spec: {
        name: "list_dir",
        description: `List a folder. ${where}`,
        parameters: params(GATE_OPS["fs.list"].args),
      },
      op: "fs.list",
      toArgs: (a) => ({ path: a.path }),
    });
    tools.push({
      spec: {
        name: "read_file",
        description: `Read a text file. ${where}`,
        parameters: params({ path: GATE_OPS["fs.read"].args.path }),
      },
      op: "fs.read",
      toArgs: (a) => ({ path: a.path }),
    });
  }
  if (isOpGranted(policy, "fs.write")) {
    const { path, append } = GATE_OPS["fs.write"].args;
    tools.push({
      spec: {
        name: "write_file",
        description: `Write a text file (made or replaced; append adds to it). Writable: ${
          shown(policy.fs.write)
        }`,
        parameters: params({ path, content: required(STRING, "The text to write"), append }),
      },
      op: "fs.write",
      toArgs: (a) => ({ path: a.path, data: a.content, ...(a.append === true ? { append: true } : {}) }),
    });
  }
  return tools;
}

/** The network, program and environment tools, each when its op is granted. */
function otherOpTools(policy: EnforcedGrant): LoopTool[] {
  const tools: LoopTool[] = [];
  if (isOpGranted(policy, "http.fetch")) {
    const hosts = policy.net.map((g) => g.scheme ? `${g.scheme}://${g.host}${g.pathPrefix}` : g.host).join(
      ", ",
    );
    tools.push({
      spec: {
        name: "http_fetch",
        description: `Make an HTTP request (redirects are returned, not followed). Allowed: ${hosts}`,
        parameters: params(GATE_OPS["http.fetch"].args),
      },
      op: "http.fetch",
      toArgs: (a) => a,
    });
  }
  if (isOpGranted(policy, "proc.run")) {
    tools.push({
      spec: {
        name: "run_program",
        description: `Run a program (no shell). Allowed: ${
          policy.run.programs.map((p) => p.name).join(", ")
        }`,
        parameters: params(GATE_OPS["proc.run"].args),
      },
      op: "proc.run",
      toArgs: (a) => a,
    });
  }
  if (isOpGranted(policy, "env.get")) {
    tools.push({
      spec: {
        name: "get_env",
        description: `Read an environment variable. Allowed: ${policy.env.map((e) => e.name).join(", ")}`,
        parameters: params(GATE_OPS["env.get"].args),
      },
      op: "env.get",
      toArgs: (a) => ({ name: a.name }),
    });
  }
  return tools;
}

/** One tool per tool of each used plugin. */
function pluginTools(policy: EnforcedGrant): LoopTool[] {
  const tools: LoopTool[] = [];
  for (const plugin of policy.plugins) {
    for (const tool of plugin.tools) {
      tools.push({
        spec: {
          name: `${plugin.name.replaceAll("-", "_")}__${tool.name}`,
          description: `${tool.description} (plugin ${plugin.name})`,
          parameters: tool.input as Record<string, unknown>,
        },
        op: "tool.call",
        toArgs: (a) => ({ name: `${plugin.name}.${tool.name}`, input: a }),
      });
    }
  }
  return tools;
}

/**
 * Calls a loop tool through the gate.
 *
 * @param gate The run's gate.
 * @param call The tool (`tool`) and the arguments the model gave it (`args`).
 * @returns The reply as the model sees it, size-capped, and its value.
 */
export async function callTool(
  gate: HostGate,
  { tool, args }: { tool: LoopTool; args: Record<string, unknown> },
): Promise<{ ok: boolean; text: string; value: unknown }> {
  const reply: GateReply = await gate.call(tool.op, JSON.stringify(tool.toArgs(args)));
  if (reply.ok) {
    // A plugin tool answers {output}: the model sees the output itself.
    const value = tool.op === "tool.call" ? JSON.parse(reply.json).output : JSON.parse(reply.json);
    return { ok: true, text: cap(tool.op === "tool.call" ? JSON.stringify(value) : reply.json), value };
  }
  const { code, message, hint } = reply.error;
  return {
    ok: false,
    text: cap(`Error ${code}: ${message}${hint ? `. Hint: ${hint}` : ""}`),
    value: reply.error,
  };
}

/** Caps text at {@linkcode MAX_OBSERVATION} characters, saying so. */
export function cap(text: string, max = MAX_OBSERVATION): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max)}\n[truncated: ${text.length - max} more characters]`;
}
