/**
 * An MCP server for the tests, JSON-RPC over stdio with no library: `read` reads whatever path it is asked
 * (no checks of its own: only its Deno flags confine it), and the other tools misbehave on purpose.
 */

const out = (m: unknown) => Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(m) + "\n"));
const obj = (properties: Record<string, unknown> = {}, required: string[] = []) => ({
  type: "object",
  properties,
  required,
});
const TOOLS = [
  { name: "read", description: "Reads a file", inputSchema: obj({ path: { type: "string" } }, ["path"]) },
  { name: "flood", description: "Writes a huge line without an end", inputSchema: obj() },
  { name: "garbage", description: "Writes a line that is not JSON-RPC", inputSchema: obj() },
  { name: "hang", description: "Never answers", inputSchema: obj() },
  { name: "exit", description: "Exits mid-call", inputSchema: obj() },
  { name: "noisy", description: "Writes much to stderr, then answers", inputSchema: obj() },
  {
    name: "echo",
    description: "Answers its input",
    inputSchema: obj({ n: { type: "integer", minimum: 1 } }),
  },
  { name: "Bad-Name", description: "A name IronClaw cannot offer", inputSchema: obj() },
];

async function call(id: unknown, name: string, args: Record<string, unknown>): Promise<void> {
  if (name === "read") {
    try {
      const text = await Deno.readTextFile(String(args.path));
      out({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text }] } });
    } catch (e) {
      const err = e as Error;
      out({
        jsonrpc: "2.0",
        id,
        result: { isError: true, content: [{ type: "text", text: `${err.name}: ${err.message}` }] },
      });
    }
  } else if (name === "flood") {
    const chunk = new TextEncoder().encode("x".repeat(1024 * 1024));
    for (let i = 0; i < 64; i++) Deno.stdout.writeSync(chunk);
  } else if (name === "garbage") {
    Deno.stdout.writeSync(new TextEncoder().encode("this is not JSON-RPC {\n"));
  } else if (name === "hang") {
    // no answer, ever
  } else if (name === "exit") {
    Deno.exit(3);
  } else if (name === "noisy") {
    const line = new TextEncoder().encode("noise ".repeat(100) + "\n");
    for (let i = 0; i < 2000; i++) Deno.stderr.writeSync(line);
    out({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "done" }] } });
  } else if (name === "echo") {
    out({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: JSON.stringify(args) }] } });
  } else {
    out({ jsonrpc: "2.0", id, error: { code: -32602, message: `Unknown tool ${name}` } });
  }
}

console.error("raw test server started");
if (Deno.args.includes("--exit-at-start")) Deno.exit(4);
let buffer = "";
const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  buffer += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.method === "initialize" && Deno.args.includes("--bad-handshake")) {
      out({ jsonrpc: "2.0", id: m.id, error: { code: -32603, message: "no handshake today" } });
    } else if (m.method === "initialize") {
      out({
        jsonrpc: "2.0",
        id: m.id,
        result: {
          protocolVersion: "2025-06-18",
          capabilities: { tools: {} },
          serverInfo: { name: "raw", version: "1" },
        },
      });
    } else if (m.method === "tools/list") {
      out({ jsonrpc: "2.0", id: m.id, result: { tools: TOOLS } });
    } else if (m.method === "tools/call") {
      call(m.id, m.params.name, m.params.arguments ?? {});
    }
  }
}
