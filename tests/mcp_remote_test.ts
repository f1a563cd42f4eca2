/**
 * Remote MCP servers as plugins (`[mcp] url`): a Streamable HTTP server written here, on loopback, reached only
 * through the sandbox's gate as the plugin's `http.fetch` (its `[permissions.net]`, its secret injected at
 * egress), by a guest's `tool.call` and by a ReAct agent; the secret reaches the server and nothing else; a URL
 * its grants do not allow, or a name that resolves to loopback, is refused before anything is sent; a server
 * that answers garbage, an error status, or nothing ends the call with a typed error and the run goes on.
 */

import * as assert from "node:assert/strict";
import { join } from "node:path";
import { code, loopAgent } from "./_loops.ts";
import { pluginAgent, probeCalls, recordText, run, withConfig } from "./_sandbox.ts";
import { runCli } from "./_cli.ts";

/** The secret's value: it must reach the server and appear nowhere else. */
const SECRET = `mcp-secret-${crypto.randomUUID()}`;
const SECRET_ENV = "IRONCLAW_TEST_MCP_SECRET";
Deno.env.set(SECRET_ENV, SECRET);

/** One request the test server received. */
interface Seen {
  path: string;
  method: string | null;
  auth: string | null;
  session: string | null;
  version: string | null;
}

const TOOLS = [
  {
    name: "echo",
    description: "Echoes its text",
    inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  },
  { name: "whoami", description: "Says what authorization it got", inputSchema: { type: "object" } },
  { name: "garbage", description: "Answers something that is not JSON", inputSchema: { type: "object" } },
  { name: "fail", description: "Answers HTTP 500", inputSchema: { type: "object" } },
  { name: "hang", description: "Never answers", inputSchema: { type: "object" } },
  { name: "oops", description: "Answers a tool error", inputSchema: { type: "object" } },
  { name: "forget", description: "Forgets every session", inputSchema: { type: "object" } },
];

/** A Streamable HTTP MCP server on 127.0.0.1: `/mcp` answers JSON, `/sse` answers event streams. */
function mcpServer(): { port: number; seen: Seen[] } & AsyncDisposable {
  const seen: Seen[] = [];
  const closing = new AbortController();
  const sessions = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const m = await req.json().catch(() => null) as Record<string, unknown> | null;
    const auth = req.headers.get("authorization");
    seen.push({
      path,
      method: typeof m?.method === "string" ? m.method : null,
      auth,
      session: req.headers.get("mcp-session-id"),
      version: req.headers.get("mcp-protocol-version"),
    });
    if (m === null || typeof m !== "object") return new Response("not JSON-RPC", { status: 400 });
    const session = req.headers.get("mcp-session-id");
    if (m.method !== "initialize" && (session === null || !sessions.has(session))) {
      return new Response("no such session", { status: session === null ? 400 : 404 });
    }
    if (m.id === undefined) return new Response(null, { status: 202 });
    const headers: Record<string, string> = {};
    let result: unknown;
    if (m.method === "initialize") {
      headers["mcp-session-id"] = `session-${sessions.size + 1}`;
      sessions.add(headers["mcp-session-id"]);
      result = {
        protocolVersion: "2025-06-18",
        capabilities: { tools: {} },
        serverInfo: { name: "t", version: "1" },
      };
    } else if (m.method === "tools/list") result = { tools: TOOLS };
    else if (m.method === "tools/call") {
      const { name, arguments: args } = m.params as { name: string; arguments: Record<string, unknown> };
      if (name === "garbage") {
        return new Response("this is not JSON", { headers: { "content-type": "application/json" } });
      }
      if (name === "fail") return new Response("internal trouble", { status: 500 });
      if (name === "forget") sessions.clear();
      if (name === "hang") {
        await new Promise((resolve) => {
          req.signal.addEventListener("abort", resolve);
          closing.signal.addEventListener("abort", resolve);
        });
        return new Response(null, { status: 503 });
      }
      const text = name === "echo" ? `echo: ${args.text}` : name === "whoami" ? `you sent ${auth}` : "nope";
      result = { content: [{ type: "text", text }], ...(name === "oops" ? { isError: true } : {}) };
    } else {
      result = undefined;
    }
    const answer = result === undefined
      ? { jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "no such method" } }
      : { jsonrpc: "2.0", id: m.id, result };
    if (path === "/sse") {
      const note = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "hi" } };
      const body = `: a comment\nevent: message\ndata: ${JSON.stringify(note)}\n\n` +
        `event: message\nid: 1\ndata: ${JSON.stringify(answer)}\n\n`;
      return new Response(body, { headers: { ...headers, "content-type": "text/event-stream" } });
    }
    return Response.json(answer, { headers });
  });
  return {
    port: server.addr.port,
    seen,
    [Symbol.asyncDispose]: async () => {
      closing.abort();
      await server.shutdown();
    },
  };
}

/** A temporary plugins folder; `plugins` maps a plugin's name to its plugin.toml lines after [plugin]. */
async function pluginsDir(plugins: Record<string, string>): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-mcp-remote-" }));
  for (const [name, body] of Object.entries(plugins)) {
    await Deno.mkdir(join(dir, name));
    await Deno.writeTextFile(
      join(dir, name, "plugin.toml"),
      `[plugin]\nname = "${name}"\nversion = "0.1.0"\n${body}`,
    );
  }
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** A remote plugin's `plugin.toml` body: its url, its secret, its grant. */
function remote(url: string, grant: string, extra = ""): string {
  return `[mcp]\nurl = "${url}"\nsecret = "example"\ntimeout_s = 2\n${extra}` +
    `[permissions.net]\nallow = ["${grant}"]\n`;
}

/** The runtime config: the plugins folder, the secret bound to the server's host. */
function config(pluginsDir: string, port: number, extra = ""): string {
  return `[runtime]\nstate_dir = "state"\nplugins_dir = "${pluginsDir}"\n` +
    `[secrets.example]\nenv = "${SECRET_ENV}"\nhosts = ["127.0.0.1:${port}", "localhost:${port}"]\n${extra}`;
}

Deno.test("a remote MCP server is reached through the gate, with its secret injected at egress", async (t) => {
  await using server = mcpServer();
  const port = server.port;
  await using plugins = await pluginsDir({
    remote: remote(`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port}`),
    streamed: remote(`http://127.0.0.1:${port}/sse`, `127.0.0.1:${port}`),
  });
  await using agent = await pluginAgent(["remote", "streamed"], { pluginsDir: plugins.dir });
  await withConfig(agent, config(plugins.dir, port));
  const call = (name: string, input: Record<string, unknown> = {}): [string, unknown] => [
    "tool.call",
    { name, input },
  ];
  const { replies, ran } = await probeCalls(agent, [
    call("remote.echo", { text: "hello" }),
    call("streamed.echo", { text: "streamed" }),
    call("remote.whoami"),
    call("remote.garbage"),
    call("remote.fail"),
    call("remote.hang"),
    call("remote.oops"),
    call("remote.echo", { text: 7 }),
    ["http.fetch", { url: `http://127.0.0.1:${port}/mcp`, method: "POST", body: "{}" }],
    call("remote.echo", { text: "still here" }),
    call("remote.forget"),
    call("remote.echo", { text: "after a new session" }),
  ]);
  const codeOf = (i: number) => replies[i]?.error?.code ?? `ok ${JSON.stringify(replies[i]?.ok)}`;
  await t.step("a JSON answer and an event stream", () => {
    assert.deepEqual(replies[0]?.ok, { output: "echo: hello" });
    assert.deepEqual(replies[1]?.ok, { output: "echo: streamed" });
  });
  await t.step("the server got the secret; the guest got it redacted", () => {
    const calls = server.seen.filter((s) => s.method === "tools/call");
    assert.ok(calls.length >= 7, JSON.stringify(server.seen));
    for (const s of calls) assert.equal(s.auth, `Bearer ${SECRET}`);
    assert.deepEqual(replies[2]?.ok, { output: "you sent Bearer [redacted]" });
  });
  await t.step("the session id and protocol version go on every request after initialize", () => {
    const calls = server.seen.filter((s) => s.method === "tools/call");
    for (const s of calls) {
      assert.match(s.session ?? "", /^session-\d$/);
      assert.equal(s.version, "2025-06-18");
    }
    // Each plugin keeps its one session for the run.
    assert.equal(new Set(calls.filter((s) => s.path === "/sse").map((s) => s.session)).size, 1);
  });
  await t.step("a session the server forgot (404) is started again, once", () => {
    assert.deepEqual(replies[11]?.ok, { output: "echo: after a new session" });
    const mcp = server.seen.filter((s) => s.path === "/mcp" && s.session !== null);
    const last = mcp.at(-1)!;
    assert.ok(mcp.some((s) => s.session !== last.session), JSON.stringify(server.seen));
  });
  await t.step("garbage, an error status, no answer, a tool error: typed, and the run goes on", () => {
    assert.equal(codeOf(3), "ERR_MCP_PROTOCOL");
    assert.match(replies[4]?.error?.message ?? "", /HTTP 500/);
    assert.equal(codeOf(4), "ERR_MCP_PROTOCOL");
    assert.equal(codeOf(5), "ERR_MCP_TIMEOUT");
    assert.equal(codeOf(6), "ERR_MCP_TOOL");
    assert.equal(codeOf(7), "ERR_INVALID_ARGS");
    assert.deepEqual(replies[9]?.ok, { output: "echo: still here" });
    assert.equal(ran.outcome.state, "ok");
  });
  await t.step("the plugin's grant is its own: the agent may not fetch its server", () => {
    assert.equal(codeOf(8), "ERR_CAPABILITY_DENIED");
  });
  await t.step("the secret is nowhere in the record, the replies or the events", async () => {
    const record = await recordText(agent, ran.outcome.id);
    assert.doesNotMatch(record, new RegExp(SECRET));
    assert.ok(!JSON.stringify(ran.events).includes(SECRET));
    assert.ok(!JSON.stringify(replies).includes(SECRET));
    // Each request of the session is the plugin's http.fetch in the record, allowed by its grant.
    const fetches = ran.events.filter((e) => e.type === "gate" && e.op === "http.fetch");
    assert.ok(
      fetches.some((e) => e.decision === "allow" && e.rule === `net:127.0.0.1:${port}/`),
      JSON.stringify(fetches),
    );
  });
});

Deno.test("a ReAct agent calls a remote MCP server's tool", async () => {
  await using server = mcpServer();
  await using plugins = await pluginsDir({
    remote: remote(`http://127.0.0.1:${server.port}/mcp`, `127.0.0.1:${server.port}`),
  });
  await using agent = await loopAgent({
    kind: "react",
    extra: `[plugins]\nuse = ["remote"]\n`,
    turns: [
      { reply: { content: "", toolCalls: [{ name: "remote__echo", arguments: { text: "from react" } }] } },
      { expect: { lastRole: "tool", contains: "echo: from react" }, reply: { content: "echoed" } },
    ],
  });
  await withConfig(
    agent,
    config(plugins.dir, server.port, `[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`),
  );
  const { outcome, events } = await run(agent, "go");
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  assert.equal(outcome.output, "echoed");
  assert.ok(server.seen.some((s) => s.method === "tools/call" && s.auth === `Bearer ${SECRET}`));
  assert.ok(!JSON.stringify(events).includes(SECRET));
});

Deno.test("a remote MCP server its grants do not allow is refused before anything is sent", async (t) => {
  await using server = mcpServer();
  const port = server.port;
  await using plugins = await pluginsDir({
    elsewhere: remote(`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port + 1}`),
    byname: remote(`http://localhost:${port}/mcp`, `localhost:${port}`),
    unbound: `[mcp]\nurl = "http://127.0.0.1:${port}/mcp"\nsecret = "other"\n` +
      `[permissions.net]\nallow = ["127.0.0.1:${port}"]\n`,
    wide: remote(`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port}`, "") +
      `[permissions.fs]\nread = ["."]\n`,
  });
  const check = async (name: string) => {
    await using agent = await pluginAgent([name], { pluginsDir: plugins.dir });
    await withConfig(
      agent,
      config(plugins.dir, port, `[secrets.other]\nenv = "${SECRET_ENV}"\nhosts = ["other.example"]\n`),
    );
    return await runCli(["check", "--config", join(agent.dir, "ironclaw.toml"), agent.manifest]);
  };
  await t.step("a host its [permissions.net] does not grant", async () => {
    const r = await check("elsewhere");
    assert.equal(r.code, 2, `${r.code} ${r.stdout} ${r.stderr}`);
    assert.match(
      r.stderr,
      /ERR_PLUGIN_MCP: The MCP server "http:\/\/127\.0\.0\.1:\d+\/mcp" of plugin "elsewhere" is not granted/,
    );
    assert.match(r.stderr, new RegExp(`add "127\\.0\\.0\\.1:${port}" to \\[permissions\\.net\\] allow`));
  });
  await t.step("a name that resolves to loopback needs the address itself granted", async () => {
    const r = await check("byname");
    assert.equal(r.code, 2, `${r.code} ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /resolves to the private or loopback address 127\.0\.0\.1/);
    assert.match(r.stderr, new RegExp(`grant the address itself \\("127\\.0\\.0\\.1:${port}"\\)`));
  });
  await t.step("a secret not bound to the server's host", async () => {
    const r = await check("unbound");
    assert.equal(r.code, 2, `${r.code} ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /The secret "other" is not bound to "127\.0\.0\.1:\d+"/);
  });
  await t.step("a remote server granted files", async () => {
    const r = await check("wide");
    assert.equal(r.code, 2, `${r.code} ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /\[permissions\.fs\.read\], which nothing would use/);
  });
  await t.step("nothing reached the server", () => assert.deepEqual(server.seen, []));
});

Deno.test("ironclaw check shows a remote MCP server and its grants; plugins show lists its tools", async (t) => {
  await using server = mcpServer();
  const port = server.port;
  await using plugins = await pluginsDir({
    remote: remote(`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port}`),
  });
  await using agent = await pluginAgent(["remote"], { pluginsDir: plugins.dir });
  await withConfig(agent, config(plugins.dir, port));
  const file = join(agent.dir, "ironclaw.toml");
  await t.step("check, text and JSON", async () => {
    const r = await runCli(["check", "--config", file, agent.manifest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Remote MCP server of plugin remote/);
    assert.match(
      r.stdout,
      new RegExp(`http://127\\.0\\.0\\.1:${port}/mcp {2}secret "example" injected at egress`),
    );
    assert.match(r.stdout, new RegExp(`net 127\\.0\\.0\\.1:${port} \\(.*plugin\\.toml:\\d+`));
    const json = JSON.parse((await runCli(["check", "--json", "--config", file, agent.manifest])).stdout);
    assert.equal(json.mcp[0].url, `http://127.0.0.1:${port}/mcp`);
    assert.equal(json.mcp[0].net[0].grant, `127.0.0.1:${port}`);
    assert.equal(json.mcp[0].net[0].from[0].source, "plugin remote");
    assert.ok(
      json.flags.some((f: string) => f.startsWith("--allow-net=") && f.includes(`127.0.0.1:${port}`)),
    );
    assert.doesNotMatch(r.stdout + JSON.stringify(json), new RegExp(SECRET));
  });
  await t.step("plugins show", async () => {
    const r = await runCli(["plugins", "show", "remote", "--config", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n {2}echo: Echoes its text\n/);
    assert.match(r.stdout, /\n {2}hang: Never answers\n/);
  });
});

Deno.test("a remote plugin's secret goes only into its own requests, not the agent's", async () => {
  await using server = mcpServer();
  const port = server.port;
  await using plugins = await pluginsDir({
    remote: remote(`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port}`),
  });
  // The manifest grants the agent the same server: its own fetch gets no secret of the plugin's.
  await using agent = await pluginAgent(["remote"], {
    pluginsDir: plugins.dir,
    extra: `[capabilities.net]\nallow = ["127.0.0.1:${port}"]\n`,
  });
  await withConfig(agent, config(plugins.dir, port));
  const list = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} });
  const { replies } = await probeCalls(agent, [
    ["http.fetch", { url: `http://127.0.0.1:${port}/mcp`, method: "POST", body: list }],
    ["tool.call", { name: "remote.whoami", input: {} }],
  ]);
  assert.equal((replies[0]?.ok as { status: number }).status, 200, JSON.stringify(replies[0]));
  assert.deepEqual(replies[1]?.ok, { output: "you sent Bearer [redacted]" });
  // The agent's initialize is the only request without the secret.
  const initializes = server.seen.filter((s) => s.method === "initialize");
  assert.equal(initializes.filter((s) => s.auth === null).length, 1, JSON.stringify(server.seen));
  assert.ok(server.seen.filter((s) => s.method !== "initialize").every((s) => s.auth === `Bearer ${SECRET}`));
  const byPlugin = server.seen.filter((s) => s.method === "tools/call");
  assert.equal(byPlugin.length, 1);
  assert.equal(byPlugin[0]!.auth, `Bearer ${SECRET}`);
});

Deno.test("parsePluginManifest() checks a remote [mcp] url", async (t) => {
  const { parsePluginManifest } = await import("../plugins/plugin_manifest.ts");
  const problems = (url: string) => {
    try {
      parsePluginManifest(`[plugin]\nname = "x"\n[mcp]\nurl = "${url}"\n`, "/opt/plugins/x/plugin.toml");
      return [];
    } catch (e) {
      return (e as { issues: { code: string; message: string }[] }).issues.map((i) =>
        `${i.code} ${i.message}`
      );
    }
  };
  await t.step("https anywhere, http only to loopback", () => {
    assert.deepEqual(problems("https://mcp.example.com/mcp"), []);
    assert.deepEqual(problems("http://127.0.0.1:8808/mcp"), []);
    assert.deepEqual(problems("http://localhost:8808/mcp"), []);
    assert.match(problems("http://mcp.example.com/mcp")[0]!, /^ERR_PLUGIN_MCP .* is plain http/);
    assert.match(problems("http://10.0.0.1/mcp")[0]!, /is plain http/);
  });
  await t.step("no credentials in the url, no other scheme", () => {
    assert.match(
      problems("https://user:pw@mcp.example.com/mcp")[0]!,
      /^ERR_PLUGIN_MCP .*not a URL an MCP server/,
    );
    assert.ok(problems("ftp://mcp.example.com/mcp").some((p) => p.startsWith("ERR_VALUE")));
  });
});

Deno.test("a remote MCP server that is gone at run time fails its calls with a typed error", async () => {
  const server = mcpServer();
  const port = server.port;
  await using plugins = await pluginsDir({
    remote: remote(`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port}`),
  });
  await using agent = await pluginAgent(["remote"], { pluginsDir: plugins.dir });
  await withConfig(agent, config(plugins.dir, port));
  const first = await probeCalls(agent, [["tool.call", { name: "remote.echo", input: { text: "up" } }]]);
  assert.deepEqual(first.replies[0]?.ok, { output: "echo: up" });
  await server[Symbol.asyncDispose]();
  // Its tools were cached when it was listed; the run reaches for it and finds no one.
  const { replies, ran } = await probeCalls(agent, [
    ["tool.call", { name: "remote.echo", input: { text: "down" } }],
    ["env.get", { name: "HOME" }],
  ]);
  assert.equal(replies[0]?.error?.code, "ERR_MCP_START", JSON.stringify(replies[0]));
  assert.match(
    replies[0]!.error!.message,
    /^The MCP server of plugin "remote" failed its MCP handshake: cannot be reached/,
  );
  assert.equal(replies[1]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.equal(ran.outcome.state, "ok");
});

Deno.test("a CodeAct agent calls a remote MCP server's tool", async () => {
  await using server = mcpServer();
  await using plugins = await pluginsDir({
    remote: remote(`http://127.0.0.1:${server.port}/sse`, `127.0.0.1:${server.port}`),
  });
  await using agent = await loopAgent({
    kind: "codeact",
    extra: `[plugins]\nuse = ["remote"]\n`,
    turns: [
      { reply: code("javascript", `console.log(await tools.remote__echo({ text: "from codeact" }));`) },
      { expect: { lastRole: "user", contains: "echo: from codeact" }, reply: { content: "done" } },
    ],
  });
  await withConfig(
    agent,
    config(plugins.dir, server.port, `[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`),
  );
  const { outcome, events } = await run(agent, "go");
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  assert.ok(server.seen.some((s) => s.method === "tools/call" && s.auth === `Bearer ${SECRET}`));
  assert.ok(!JSON.stringify(events).includes(SECRET));
});
