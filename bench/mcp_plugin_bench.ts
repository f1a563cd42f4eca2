/**
 * What an `[mcp]` plugin costs: `deno task bench-mcp-plugins` (writes its rows into bench/RESULTS.md).
 *
 * - Server start: spawn to the answers of `initialize` and `tools/list`, for a server written without a library and for the npm
 *   filesystem server (its package already in the cache), each under exactly its plugin's flags
 * - ReAct tool call: one call of an MCP plugin's tool (sandbox gate, channel request, supervisor, the server's
 *   stdio and back), against one call of a `mod.ts` plugin's tool (the built-in calculator, in its Worker),
 *   timed inside the sandbox (the `tool` events' durationMs)
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent } from "../supervisor/run.ts";
import { McpServer } from "../supervisor/mcp_server.ts";
import { mcpDenoDir } from "../supervisor/mcp_host.ts";
import { listMcpTools } from "../supervisor/mcp_tools.ts";
import { parsePluginManifest } from "../plugins/plugin_manifest.ts";
import { pluginGrants } from "../plugins/plugin_index.ts";
import { mcpServerPlan } from "../capabilities/mcp_flags.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { writeSection } from "./_results.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const STEPS = 45;
const ROUNDS = 7;
const FS_SERVER = "npm:@modelcontextprotocol/server-filesystem@2026.8.31";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-mcp-" }));

/** Writes a plugin folder and returns its manifest (its tools listed, which fetches the npm package once). */
async function plugin(name: string, body: string) {
  await Deno.mkdir(join(dir, "plugins", name, "allowed"), { recursive: true });
  await Deno.copyFile(join(ROOT, "tests/mcp_servers/raw_server.ts"), join(dir, "plugins", name, "server.ts"));
  const file = join(dir, "plugins", name, "plugin.toml");
  await Deno.writeTextFile(file, `[plugin]\nname = "${name}"\nversion = "0.1.0"\n${body}`);
  const manifest = parsePluginManifest(await Deno.readTextFile(file), file);
  manifest.tools = await listMcpTools(manifest);
  return manifest;
}

/** Spawn to `initialize` and one `tools/list` answered, `ROUNDS` times; the median in ms. */
async function startMs(manifest: Awaited<ReturnType<typeof plugin>>): Promise<number> {
  const { plan } = mcpServerPlan(pluginGrants(manifest));
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const server = new McpServer(plan!, { plugin: manifest.name, dir: manifest.dir, denoDir: mcpDenoDir() });
    const t0 = performance.now();
    await server.request("tools/list", {}, 60_000); // the handshake first, within the same deadline
    times.push(performance.now() - t0);
    await server.close();
  }
  return median(times);
}

const raw = await plugin("raw", `[mcp]\ncommand = "server.ts"\n`);
const files = await plugin(
  "files",
  `[mcp]\ncommand = "${FS_SERVER}"\nargs = ["${join(dir, "plugins", "files", "allowed")}"]\n` +
    `[permissions.fs]\nread = ["allowed"]\n[permissions.env]\nallow = ["__MINIMATCH_TESTING_PLATFORM__"]\n`,
);
const rawStart = await startMs(raw);
const filesStart = await startMs(files);

/** The `tool` events' durations of a ReAct run making `STEPS` calls of `tool` with `args`. */
async function toolMs(tool: string, args: Record<string, unknown>): Promise<number> {
  const agentDir = join(dir, tool.slice(0, 3));
  await Deno.mkdir(agentDir, { recursive: true });
  const call = { content: "", toolCalls: [{ name: tool, arguments: args }] };
  const turns = [...Array(STEPS).fill({ reply: call }), { reply: { content: "done" } }];
  await Deno.writeTextFile(join(agentDir, "transcript.json"), JSON.stringify({ label: "bench", turns }));
  await Deno.writeTextFile(
    join(agentDir, "agent.toml"),
    `[agent]\nname = "bench"\nkind = "react"\ninstructions = "x"\n[model]\nprovider = "m"\nname = "x"\nmax_calls = 1000\n` +
      `[limits]\nmax_steps = 1000\nmax_tool_calls = 1000\ntimeout_s = 600\n[plugins]\nuse = ["calculator", "raw"]\n`,
  );
  const text = `[runtime]\nstate_dir = "state"\nplugins_dir = "${join(dir, "plugins")}"\n` +
    `[limits]\nmax_steps = 1000\nmax_tool_calls = 1000\nmax_model_calls = 1000\n` +
    `[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`;
  const config = parseRuntimeConfig(text, { path: join(agentDir, "ironclaw.toml") });
  const policy = await loadPolicy(join(agentDir, "agent.toml"), config, {});
  const events: RunEvent[] = [];
  const handle = await runAgent(policy, config, { task: "go", onEvent: (e) => events.push(e) });
  const outcome = await handle.done;
  if (outcome.state !== "ok") throw new Error(JSON.stringify(outcome.error));
  return median(events.filter((e) => e.type === "tool").slice(5).map((e) => Number(e.durationMs)));
}

const mcpCall = await toolMs("raw__echo", { n: 1 });
const workerCall = await toolMs("calculator__evaluate", { expression: "1 + 1" });
await Deno.remove(dir, { recursive: true });

const rows = [
  `| MCP server start, no library (spawn to \`initialize\` and \`tools/list\` answered) | ${
    rawStart.toFixed(1)
  } ms | median of ${ROUNDS} |`,
  `| MCP server start, npm filesystem server (package cached) | ${
    filesStart.toFixed(1)
  } ms | median of ${ROUNDS} |`,
  `| ReAct call of an MCP plugin's tool (gate, channel, supervisor, stdio) | ${
    (mcpCall * 1000).toFixed(0)
  } µs | median of ${STEPS - 5} calls |`,
  `| ReAct call of a \`mod.ts\` plugin's tool (calculator, in its Worker) | ${
    (workerCall * 1000).toFixed(0)
  } µs | median of ${STEPS - 5} calls |`,
];
console.log(rows.join("\n"));
const head = "## MCP plugins (`deno task bench-mcp-plugins`)";
const load = await Deno.readTextFile("/proc/loadavg").then((t) => t.split(" ")[0]).catch(() => "?");
const section =
  `${head}\n\nRun ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC, load average ${load} on 2 cores. A server starts with its run, beside the sandbox, so its start ` +
  "overlaps the sandbox's own; its first call waits for it. A call crosses one more process than a `mod.ts` " +
  "plugin's (the sandbox asks the supervisor over the run's channel, which writes one JSON-RPC line to the " +
  "server and reads its answer).\n\n" +
  `| what | median | over |\n| --- | --- | --- |\n${rows.join("\n")}\n`;
await writeSection(section);
