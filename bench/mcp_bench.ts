/**
 * `ironclaw mcp` seen from an MCP client (the SDK's own, over stdio): how long a session takes to open, an
 * agent call (hello: a queued run taken by the in-process worker), the first code call of a session (its
 * sandbox starts) and the next ones (a step in the running sandbox), in JavaScript and in Python.
 *
 * Run: deno task bench-mcp (or deno run -A bench/mcp_bench.ts ROUNDS after building examples/hello)
 */

import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const ROOT = new URL("..", import.meta.url).pathname;
const ROUNDS = Number(Deno.args[0] ?? 15);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const dir = await Deno.makeTempDir({ prefix: "ironclaw-mcp-bench-" });
const hello = join(dir, "agents", "hello");
await Deno.mkdir(join(hello, "notes"), { recursive: true });
await Deno.mkdir(join(hello, "out"));
for (const f of ["agent.toml", "agent.wasm"]) {
  await Deno.copyFile(join(ROOT, "examples/hello", f), join(hello, f));
}
await Deno.writeTextFile(join(hello, "notes", "a.txt"), "A note.\n");

/** One MCP session: `ironclaw mcp` spawned, the client connected. */
async function session(): Promise<Client> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", "-A", "--quiet", join(ROOT, "mod.ts"), "mcp", "--agents", join(dir, "agents")],
    env: { XDG_STATE_HOME: join(dir, "state"), PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1" },
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(transport);
  return client;
}

const call = (c: Client, name: string, args: Record<string, unknown>) =>
  c.callTool({ name, arguments: args }, undefined, { timeout: 300_000 });

// Warm-up: the component cache, the sandbox bundle and Pyodide's snapshot are made once per state folder.
const warm = await session();
await call(warm, "hello", { task: "summarize" });
await call(warm, "run_python", { code: "1" });
await warm.close();

const rows: [string, number[]][] = [
  ["open a session (spawn `ironclaw mcp`, initialize, tools/list)", []],
  ["agent call: hello (queued, run, answered)", []],
  ["first run_javascript of a session (its sandbox starts)", []],
  ["next run_javascript (one step in the running sandbox)", []],
  ["first run_python of a session (Pyodide from its snapshot)", []],
  ["next run_python", []],
];
for (let round = 0; round < ROUNDS; round++) {
  let c!: Client;
  rows[0]![1].push(
    await timed(async () => {
      c = await session();
      await c.listTools();
    }),
  );
  rows[1]![1].push(await timed(() => call(c, "hello", { task: "summarize" })));
  rows[2]![1].push(await timed(() => call(c, "run_javascript", { code: "var n = 0" })));
  rows[3]![1].push(await timed(() => call(c, "run_javascript", { code: "n += 1" })));
  rows[4]![1].push(await timed(() => call(c, "run_python", { code: "k = 0" })));
  rows[5]![1].push(await timed(() => call(c, "run_python", { code: "k += 1" })));
  await c.close();
}
await Deno.remove(dir, { recursive: true });

console.log(
  `ironclaw mcp over stdio, ${ROUNDS} rounds, medians; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores`,
);
console.log("| what | median |\n| --- | --- |");
for (const [what, xs] of rows) console.log(`| ${what} | ${median(xs).toFixed(1)} ms |`);
