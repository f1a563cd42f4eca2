/** `ironclaw mcp`: the agents of a folder and sandboxed code as MCP tools, over stdio. */

import { resolve } from "node:path";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { configureLogging } from "../supervisor/logging.ts";
import { codePolicy, mcpAgents } from "../supervisor/mcp/host.ts";
import { serveMcpStdio } from "../supervisor/mcp/stdio.ts";
import type { WorkerEvent } from "../supervisor/worker.ts";
import {
  COMMON_OPTIONS,
  configOption,
  intFlag,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw mcp`. */
export const MCP_HELP = `Serve agents and sandboxed code as MCP tools over stdio (for MCP clients)

Examples:
  ironclaw mcp --agents agents/
  ironclaw mcp --agents agents/ --code code.toml
  Client config: {"command": "deno", "args": ["run", "-A", "jsr:@ironclaw/cli", "mcp", "--agents", "./agents"]}

Usage: ironclaw mcp [--agents <dir>] [--code <manifest>] [options]

Speaks the Model Context Protocol on stdin and stdout (logs go to stderr).
Tools:
  <agent name>    one per agent of --agents, input {"task": "..."}: a real run,
                  recorded in the store (ironclaw runs list), answered with its
                  output and run id, or a tool error with its code and hint
  run_javascript  {"code": "..."}: one step in a QuickJS sandbox of this session
  run_python      {"code": "..."}: one step in a Pyodide sandbox of this session
The code tools run under the CodeAct manifest of --code (its grants, limits);
without it under a built-in manifest that grants nothing. Variables stay
defined between the calls of a session; each session's sandbox is one run,
each call one of its steps. A call with a progress token gets progress
notifications; a cancelled call stops its run (it ends "interrupted").

Options:
  --agents <dir>     The agents offered as tools (NAME.toml, NAME/agent.toml);
                     default [serve] agents, else none
  --code <manifest>  The CodeAct manifest of run_javascript and run_python
  --concurrency <n>  Agent runs at once (default [serve] concurrency, else twice the cores)
  --config <file>    Runtime config; default ./ironclaw.toml, then built-in defaults
  -h, --help         Show this help

Exit status: 0 when the client closed the session, 1 failure, 2 usage error.
`;

const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

function eventLine(e: WorkerEvent): string {
  if (e.type === "claimed") return `mcp: ${e.id} started ${e.agent}\n`;
  if (e.type === "ended") return `mcp: ${e.id} ${e.state}\n`;
  if (e.type === "released") return `mcp: ${e.id} handed back\n`;
  return `mcp: problem: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ""}\n`;
}

/**
 * Runs `ironclaw mcp`.
 *
 * @param args The arguments after `mcp`.
 * @param io Where to write (stdout is the protocol's: only help goes there).
 * @returns The exit code.
 */
export async function mcpCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        ...COMMON_OPTIONS,
        agents: { type: "string" },
        code: { type: "string" },
        concurrency: { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    }, "mcp");
    if (values.help) {
      io.out(MCP_HELP);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError("ironclaw mcp takes no arguments", "ironclaw help mcp");
    const concurrency = intFlag(values.concurrency, { flag: "concurrency", range: [1, 1024] });
    const config = await loadRuntimeConfig(configOption(values));
    await configureLogging(config.log, { stdoutReserved: true }); // stdout carries the protocol only
    const dir = values.agents !== undefined ? resolve(values.agents) : config.serve.agents;
    const agents = dir === null ? new Map() : await mcpAgents(dir, config);
    const code = await codePolicy(
      config,
      values.code !== undefined ? { manifest: resolve(values.code) } : {},
    );
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    for (const s of SIGNALS) Deno.addSignalListener(s, onSignal);
    try {
      io.err(
        styles(io).dim(
          `mcp: serving ${[...agents.keys(), "run_javascript", "run_python"].join(", ")} on stdio\n`,
        ),
      );
      await serveMcpStdio({
        config,
        agents,
        code,
        ...(concurrency !== undefined ? { concurrency } : {}),
        onEvent: (e) => io.err(eventLine(e)),
        signal: stop.signal,
      });
      return 0;
    } finally {
      for (const s of SIGNALS) Deno.removeSignalListener(s, onSignal);
    }
  } catch (e) {
    return reportError(io, e);
  }
}
