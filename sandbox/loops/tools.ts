/**
 * The tools a built-in loop offers its model: the host gate's ops that the
 * Policy grants, and no others (a file tool exists only if files are granted).
 *
 * @module
 */

import { posix } from "node:path";
import type { Policy } from "../../capabilities/policy.ts";
import type { GateReply, HostGate } from "../gate.ts";
import type { ToolSpec } from "../../protocol/model_types.ts";

/** The most characters of one observation the model sees. */
export const MAX_OBSERVATION = 16 * 1024;

/** A tool of a loop: its schema for the model, and the gate op it becomes. */
export interface LoopTool {
  spec: ToolSpec;
  /** The gate op it calls. */
  op: string;
  /** The gate arguments for the model's arguments. */
  toArgs(args: Record<string, unknown>): Record<string, unknown>;
}

const str = (description: string) => ({ type: "string", description });
const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});

/** The loop tools a Policy grants. */
export function toolsFor(policy: Policy): LoopTool[] {
  const shown = (paths: readonly { path: string }[]) =>
    paths.map((g) => {
      const rel = posix.relative(policy.baseDir, g.path);
      return rel && !rel.startsWith("..") ? rel : g.path;
    }).join(", ");
  const tools: LoopTool[] = [];
  const readable = [...policy.fs.read, ...policy.fs.write];
  if (readable.length > 0) {
    const where = `Paths are relative to the agent's folder; readable: ${shown(readable)}`;
    tools.push({
      spec: {
        name: "list_dir",
        description: `List a folder. ${where}`,
        parameters: object({ path: str("The folder") }, ["path"]),
      },
      op: "fs.list",
      toArgs: (a) => ({ path: a.path }),
    });
    tools.push({
      spec: {
        name: "read_file",
        description: `Read a text file. ${where}`,
        parameters: object({ path: str("The file") }, ["path"]),
      },
      op: "fs.read",
      toArgs: (a) => ({ path: a.path }),
    });
  }
  if (policy.fs.write.length > 0) {
    tools.push({
      spec: {
        name: "write_file",
        description: `Write a text file (made or replaced; append adds to it). Writable: ${
          shown(policy.fs.write)
        }`,
        parameters: object({
          path: str("The file"),
          content: str("The text to write"),
          append: { type: "boolean", description: "Add to the end instead of replacing" },
        }, ["path", "content"]),
      },
      op: "fs.write",
      toArgs: (a) => ({ path: a.path, data: a.content, ...(a.append === true ? { append: true } : {}) }),
    });
  }
  if (policy.net.length > 0) {
    const hosts = policy.net.map((g) => g.scheme ? `${g.scheme}://${g.host}${g.pathPrefix}` : g.host).join(
      ", ",
    );
    tools.push({
      spec: {
        name: "http_fetch",
        description: `Make an HTTP request (redirects are returned, not followed). Allowed: ${hosts}`,
        parameters: object({
          url: str("The URL"),
          method: str("GET, POST..."),
          headers: { type: "object", additionalProperties: { type: "string" } },
          body: str("The request body"),
        }, ["url"]),
      },
      op: "http.fetch",
      toArgs: (a) => a,
    });
  }
  if (policy.run.dangerous && policy.run.programs.length > 0) {
    tools.push({
      spec: {
        name: "run_program",
        description: `Run a program (no shell). Allowed: ${
          policy.run.programs.map((p) => p.name).join(", ")
        }`,
        parameters: object({
          cmd: str("The program"),
          args: { type: "array", items: { type: "string" } },
          stdin: str("Text for its standard input"),
        }, ["cmd"]),
      },
      op: "proc.run",
      toArgs: (a) => a,
    });
  }
  if (policy.env.length > 0) {
    tools.push({
      spec: {
        name: "get_env",
        description: `Read an environment variable. Allowed: ${policy.env.map((e) => e.name).join(", ")}`,
        parameters: object({ name: str("The variable") }, ["name"]),
      },
      op: "env.get",
      toArgs: (a) => ({ name: a.name }),
    });
  }
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

/** Calls a loop tool through the gate; the reply as the model sees it, size-capped. */
export async function callTool(
  gate: HostGate,
  tool: LoopTool,
  args: Record<string, unknown>,
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
