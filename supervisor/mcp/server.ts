/**
 * IronClaw as an MCP server: one MCP `Server` per MCP session, whose tools
 * are the served agents (`{task}`) and, for sandboxed code, `run_javascript`
 * and `run_python` (`{code}`), each session with its own interpreters.
 * The transports are the callers' (stdio in `ironclaw mcp`, Streamable
 * HTTP at `/mcp` of `ironclaw serve`).
 *
 * @module
 */

import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import denoJson from "../../deno.json" with { type: "json" };
import { grantsSummary } from "../../capabilities/grants_summary.ts";
import type { Policy } from "../../capabilities/policy.ts";
import { failureOf } from "../../manifests/errors.ts";
import { callAgent, type ToolAnswer, toolError } from "./agent_call.ts";
import type { McpHost } from "./host.ts";
import { type CodeLanguage, CodeRun } from "./code_run.ts";

/** One MCP session's server, and how to end its sandboxes. */
export interface McpSession {
  /** The SDK's server: connect it to a transport. */
  server: Server;
  /** Ends the session's code sandboxes (their runs end). */
  close(): Promise<void>;
}

/** How long a closing session waits for its cancelled calls' runs to end, in ms. */
const CLOSE_WAIT_MS = 10_000;

/** The code tools, by name. */
const CODE_TOOLS: Readonly<Record<string, CodeLanguage>> = {
  run_javascript: "javascript",
  run_python: "python",
};

/** What the code of the code tools may reach, in a sentence for the model reading the tool's description. */
function codeGrants(policy: Policy): string {
  const g = grantsSummary(policy);
  const parts = [
    ...(g.read.length ? [`read ${g.read.join(", ")}`] : []),
    ...(g.write.length ? [`write ${g.write.join(", ")}`] : []),
    ...(g.net.length ? [`reach ${g.net.map((n) => n.host).join(", ")}`] : []),
    ...(g.run.length ? [`run ${g.run.map((r) => r.name).join(", ")}`] : []),
    ...(g.env.length ? [`read the variables ${g.env.join(", ")}`] : []),
    ...(g.plugins.length ? [`use the plugins ${g.plugins.join(", ")}`] : []),
  ];
  return parts.length === 0
    ? "It is granted nothing: no files, no network, no tools; it can compute and print."
    : `It may ${parts.join("; ")}, only through the async functions of the global \`tools\`, each taking ` +
      'one object of arguments (for example `await tools.read_file({ path: "data/a.txt" })`).';
}

/** The tool list: the agents, then the code tools. */
function toolList(host: McpHost) {
  const agents = [...host.agents.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const manifest = host.code.agent.name;
  const grants = codeGrants(host.code);
  return [
    ...agents.map(([name, { policy }]) => ({
      name,
      description: policy.agent.description || `The IronClaw agent "${name}"`,
      inputSchema: {
        type: "object" as const,
        properties: { task: { type: "string", description: "The task given to the agent" } },
        ...(policy.agent.task === "required" ? { required: ["task"] } : {}),
        additionalProperties: false,
      },
    })),
    ...Object.entries(CODE_TOOLS).map(([name, language]) => ({
      name,
      description:
        `Runs ${language === "python" ? "Python (Pyodide)" : "JavaScript (QuickJS)"} in an IronClaw ` +
        `sandbox under the CodeAct manifest "${manifest}". Variables stay defined for the next call of this ` +
        `session. Answers with the output, the value of the last expression and any error. ${grants}`,
      inputSchema: {
        type: "object" as const,
        properties: { code: { type: "string", description: `The ${language} code to run` } },
        required: ["code"],
        additionalProperties: false,
      },
    })),
  ];
}

/** The string argument `key`, or a usage error's answer. */
function stringArg(args: Record<string, unknown> | undefined, key: string, required: boolean) {
  const value = args?.[key];
  if (value === undefined && !required) return { value: undefined };
  if (typeof value !== "string") {
    return {
      error: toolError({
        code: "ERR_INVALID_ARGS",
        message: `The argument "${key}" is not a string`,
        hint: `give {"${key}": "..."}`,
      }),
    };
  }
  return { value };
}

/**
 * Makes the server of one MCP session.
 *
 * @param host The store, worker, agents and code Policy, shared by every session.
 * @param options `label`: names the session in its code runs' tasks.
 * @returns The server and how to end the session.
 */
export function mcpSession(host: McpHost, options: { label: string }): McpSession {
  const server = new Server(
    { name: "ironclaw", version: denoJson.version },
    { capabilities: { tools: {} } },
  );
  const code = new Map<CodeLanguage, CodeRun>();
  const codeRun = (language: CodeLanguage) => {
    let run = code.get(language);
    if (!run) {
      run = new CodeRun({ config: host.config, store: host.store, policy: host.code }, {
        language,
        label: options.label,
      });
      code.set(language, run);
    }
    return run;
  };
  server.setRequestHandler(ListToolsRequestSchema, () => Promise.resolve({ tools: toolList(host) }));
  const calls = new Set<Promise<unknown>>();
  server.setRequestHandler(
    CallToolRequestSchema,
    async (req: CallToolRequest, extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => {
      const call = callTool(host, { req, extra, codeRun });
      calls.add(call);
      try {
        return await call as CallToolResult;
      } finally {
        calls.delete(call);
      }
    },
  );
  return {
    server,
    async close() {
      // The SDK aborted the calls still running when the session closed: their runs are being cancelled.
      const settled = Promise.allSettled([...calls]);
      await Promise.race([settled, new Promise((r) => setTimeout(r, CLOSE_WAIT_MS))]);
      await Promise.all([...code.values()].map((r) => r.close()));
    },
  };
}

/** One `tools/call`: an agent's run or a code step; a failure is a tool error, an unknown tool a protocol error. */
async function callTool(
  host: McpHost,
  call: {
    req: CallToolRequest;
    extra: RequestHandlerExtra<ServerRequest, ServerNotification>;
    codeRun: (language: CodeLanguage) => CodeRun;
  },
): Promise<ToolAnswer> {
  const { req, extra } = call;
  const { name, arguments: args } = req.params;
  const token = req.params._meta?.progressToken;
  const onProgress = token === undefined ? undefined : (progress: number, message: string) => {
    extra.sendNotification({
      method: "notifications/progress",
      params: { progressToken: token, progress, message },
    })
      .catch(() => {});
  };
  try {
    const language = Object.hasOwn(CODE_TOOLS, name) ? CODE_TOOLS[name]! : null;
    if (language !== null) {
      const c = stringArg(args, "code", true);
      if (c.error) return c.error;
      onProgress?.(0, `running ${language}`);
      return await codeStep(call.codeRun(language), c.value!, extra.signal);
    }
    const agent = host.agents.get(name);
    if (!agent) throw new McpError(ErrorCode.InvalidParams, `No tool "${name}": tools/list lists the tools`);
    const t = stringArg(args, "task", false);
    if (t.error) return t.error;
    return await callAgent(host, agent, {
      task: t.value,
      signal: extra.signal,
      ...(onProgress ? { onProgress } : {}),
    });
  } catch (e) {
    if (e instanceof McpError) throw e;
    return toolError(failureOf(e, "ERR_INTERNAL"));
  }
}

/** One code step as a tool answer: the observation, and the run and step it was. */
async function codeStep(run: CodeRun, source: string, signal: AbortSignal): Promise<ToolAnswer> {
  const r = await run.step(source, signal);
  const where = `run ${r.runId} step ${r.step}${r.fresh ? " (a new sandbox: no earlier variables)" : ""}`;
  return {
    content: [{ type: "text", text: r.observation }, { type: "text", text: where }],
    structuredContent: { run_id: r.runId, step: r.step, observation: r.observation, error: r.error },
    ...(r.error !== null ? { isError: true } : {}),
  };
}
