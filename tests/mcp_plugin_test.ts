/**
 * MCP servers as plugins: a real npm server and servers written here, run by the supervisor as Deno children
 * whose flags are exactly the plugin's permissions, their tools reaching a guest (`tool.call`), a ReAct and a
 * CodeAct agent; hostile servers end each call with a typed error and the run goes on; nothing outlives a run.
 */

import * as assert from "node:assert/strict";
import { join } from "node:path";
import { code, loopAgent } from "./_loops.ts";
import { gone, pluginAgent, probeCalls, recordText, run, withConfig } from "./_sandbox.ts";
import { processesWith, ROOT, runCli } from "./_cli.ts";
import { parsePluginManifest } from "../plugins/plugin_manifest.ts";
import type { InvalidDocumentError } from "../manifests/errors.ts";
import type { RunEvent } from "../protocol/protocol.ts";

/** The npm filesystem server, pinned. */
const FS_SERVER = "npm:@modelcontextprotocol/server-filesystem@2026.8.31";
const RAW_SERVER = join(ROOT, "tests/mcp_servers/raw_server.ts");

/** A temporary plugins folder; `plugins` maps a plugin's name to its plugin.toml lines after [plugin]. */
async function pluginsDir(plugins: Record<string, string>): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-mcp-" }));
  for (const [name, body] of Object.entries(plugins)) {
    await Deno.mkdir(join(dir, name, "allowed"), { recursive: true });
    await Deno.writeTextFile(join(dir, name, "allowed", "inside.txt"), `inside of ${name}\n`);
    await Deno.copyFile(RAW_SERVER, join(dir, name, "server.ts"));
    await Deno.writeTextFile(
      join(dir, name, "plugin.toml"),
      `[plugin]\nname = "${name}"\nversion = "0.1.0"\n${body.replaceAll("<dir>", join(dir, name))}`,
    );
  }
  await Deno.writeTextFile(join(dir, "canary.txt"), "CANARY-7f3a outside every grant\n");
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** The pids of the MCP servers a run started. */
function serverPids(events: RunEvent[]): number[] {
  return events.filter((e) => e.type === "mcp" && e.phase === "start").map((e) => e.pid as number);
}

Deno.test("parsePluginManifest() checks [mcp]", async (t) => {
  const parse = (body: string) =>
    parsePluginManifest(`[plugin]\nname = "x"\n${body}`, "/opt/plugins/x/plugin.toml");
  const codes = (body: string) => {
    try {
      parse(body);
      return [];
    } catch (e) {
      return (e as InvalidDocumentError).issues.map((i) => `${i.code} ${i.message} | ${i.hint}`);
    }
  };
  await t.step("a pinned npm server, args and timeout", () => {
    const p = parse(`[mcp]\ncommand = "${FS_SERVER}"\nargs = ["/srv"]\ntimeout_s = 5\n`);
    assert.deepEqual(p.mcp, { command: FS_SERVER, args: ["/srv"], url: null, secret: null, timeoutS: 5 });
    assert.deepEqual(p.tools, []);
  });
  await t.step("an unpinned npm server is refused with a hint", () => {
    for (const cmd of ["npm:some-server", "npm:some-server@^1.2.0", "npm:@scope/server@latest", "npm:a@1"]) {
      const found = codes(`[mcp]\ncommand = "${cmd}"\n`);
      assert.equal(found.length, 1, cmd);
      assert.match(found[0]!, /^ERR_PLUGIN_MCP .*not pinned.*\| write ".*@<x\.y\.z>"/);
    }
  });
  await t.step("both command and url, neither, tools beside [mcp], a path out of the plugin", () => {
    assert.match(
      codes(`[mcp]\ncommand = "s.ts"\nurl = "https://a.example/mcp"\n`)[0]!,
      /both command and url/,
    );
    assert.match(codes(`[mcp]\nargs = []\n`)[0]!, /neither command nor url/);
    assert.match(
      codes(
        `[mcp]\ncommand = "s.ts"\n[[tools]]\nname = "a"\ndescription = "a"\ninput = { type = "object" }\n`,
      )[0]!,
      /declares \[\[tools\]\]/,
    );
    assert.match(codes(`[mcp]\ncommand = "../other/s.ts"\n`)[0]!, /neither an npm package nor a file/);
    assert.match(
      codes(`[mcp]\ncommand = "https://x.example/s.ts"\n`)[0]!,
      /neither an npm package nor a file/,
    );
    assert.match(codes(`[mcp]\ncommand = "s.ts"\nsecret = "k"\n`)[0]!, /secret is for a remote server/);
    assert.match(codes(`[mcp]\nurl = "http://a.example/mcp"\n`)[0]!, /ERR_VALUE|https/);
    assert.match(codes(``)[0]!, /neither \[\[tools\]\] nor \[mcp\]/);
    assert.match(codes(`[mcp]\ncommand = "s.ts"\ntimeout_s = 0\n`)[0]!, /ERR_VALUE 0 is out of range/);
  });
});

Deno.test("the npm filesystem server serves its permitted folder and not /", async (t) => {
  await using plugins = await pluginsDir({
    files: `[mcp]\ncommand = "${FS_SERVER}"\nargs = ["/", "<dir>/allowed"]\n` +
      `[permissions.fs]\nread = ["allowed"]\n[permissions.env]\nallow = ["__MINIMATCH_TESTING_PLATFORM__"]\n`,
  });
  const inside = join(plugins.dir, "files", "allowed", "inside.txt");
  const canary = join(plugins.dir, "canary.txt");
  await t.step("a guest's tool.call", async () => {
    await using agent = await pluginAgent(["files"], { pluginsDir: plugins.dir });
    const { replies, ran } = await probeCalls(agent, [
      ["tool.call", { name: "files.read_text_file", input: { path: inside } }],
      ["tool.call", { name: "files.read_text_file", input: { path: canary } }],
      ["tool.call", { name: "files.list_allowed_directories", input: {} }],
      ["tool.call", { name: "files.read_text_file", input: { path: 7 } }],
    ]);
    assert.deepEqual(replies[0]?.ok, { output: "inside of files\n" });
    assert.equal(replies[1]?.error?.code, "ERR_MCP_TOOL", JSON.stringify(replies[1]));
    const allowed = String((replies[2]?.ok as { output: string }).output);
    assert.match(allowed, /allowed/);
    assert.doesNotMatch(allowed, /^\/$/m, "/ is served although the flags do not grant it");
    assert.equal(replies[3]?.error?.code, "ERR_INVALID_ARGS");
    const record = await recordText(agent, ran.outcome.id);
    assert.doesNotMatch(record, /CANARY-7f3a/);
    // The server's stderr said it skipped / (it cannot read it), in the run's record with the plugin's name.
    assert.match(record, /"type":"mcp-stderr","plugin":"files"/);
    for (const pid of serverPids(ran.events)) assert.ok(gone(pid), `server ${pid} outlived the run`);
  });
  await t.step("ReAct", async () => {
    await using agent = await loopAgent({
      kind: "react",
      extra: `[plugins]\nuse = ["files"]\n`,
      turns: [
        {
          reply: { content: "", toolCalls: [{ name: "files__read_text_file", arguments: { path: inside } }] },
        },
        { expect: { lastRole: "tool", contains: "inside of files" }, reply: { content: "read it" } },
      ],
    });
    await withConfig(
      agent,
      `[runtime]\nstate_dir = "state"\nplugins_dir = "${plugins.dir}"\n` +
        `[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`,
    );
    const { outcome } = await run(agent, "go");
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
    assert.equal(outcome.output, "read it");
  });
  await t.step("CodeAct", async () => {
    await using agent = await loopAgent({
      kind: "codeact",
      extra: `[plugins]\nuse = ["files"]\n`,
      turns: [
        {
          reply: code(
            "javascript",
            `const r = await tools.files__read_text_file({ path: ${
              JSON.stringify(inside)
            } });\nconsole.log(r);`,
          ),
        },
        { expect: { lastRole: "user", contains: "inside of files" }, reply: { content: "done" } },
      ],
    });
    await withConfig(
      agent,
      `[runtime]\nstate_dir = "state"\nplugins_dir = "${plugins.dir}"\n` +
        `[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`,
    );
    const { outcome } = await run(agent, "go");
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  });
});

Deno.test("a server with no checks of its own is held by its flags alone", async () => {
  await using plugins = await pluginsDir({
    raw: `[mcp]\ncommand = "server.ts"\n[permissions.fs]\nread = ["allowed"]\n`,
  });
  await using agent = await pluginAgent(["raw"], { pluginsDir: plugins.dir });
  const { replies, ran } = await probeCalls(agent, [
    ["tool.call", { name: "raw.read", input: { path: join(plugins.dir, "raw", "allowed", "inside.txt") } }],
    ["tool.call", { name: "raw.read", input: { path: join(plugins.dir, "canary.txt") } }],
    ["tool.call", { name: "raw.read", input: { path: join(agent.dir, "secret.txt") } }],
  ]);
  assert.deepEqual(replies[0]?.ok, { output: "inside of raw\n" });
  for (const r of replies.slice(1)) {
    assert.equal(r.error?.code, "ERR_CAPABILITY_DENIED", JSON.stringify(r));
    assert.match(r.error!.message, /NotCapable/);
  }
  const calls = ran.events.filter((e) => e.type === "gate" && e.op === "tool.call");
  assert.equal(calls.length, 3);
  assert.equal(calls.filter((e) => e.code === "ERR_CAPABILITY_DENIED").length, 2, JSON.stringify(calls));
  const record = await recordText(agent, ran.outcome.id);
  assert.doesNotMatch(record, /CANARY-7f3a|the secret/);
});

Deno.test("hostile servers end each call with a typed error and the run goes on", async (t) => {
  await using plugins = await pluginsDir({ raw: `[mcp]\ncommand = "server.ts"\ntimeout_s = 2\n` });
  await using agent = await pluginAgent(["raw"], { pluginsDir: plugins.dir });
  const call = (name: string, input: Record<string, unknown> = {}): [string, unknown] => [
    "tool.call",
    { name: `raw.${name}`, input },
  ];
  const { replies, ran } = await probeCalls(agent, [
    call("echo", { n: 1 }),
    call("flood"),
    call("garbage"),
    call("hang"),
    call("exit"),
    call("noisy"),
    call("echo", { n: 0 }),
    call("bad_name"),
    call("echo", { n: 2 }),
  ]);
  const codeOf = (i: number) => replies[i]?.error?.code ?? `ok ${JSON.stringify(replies[i]?.ok)}`;
  await t.step("a working call first", () => assert.deepEqual(replies[0]?.ok, { output: '{"n":1}' }));
  await t.step("a flood of output", () => assert.equal(codeOf(1), "ERR_MCP_PROTOCOL"));
  await t.step("a line that is not JSON-RPC", () => assert.equal(codeOf(2), "ERR_MCP_PROTOCOL"));
  await t.step("no answer within timeout_s", () => assert.equal(codeOf(3), "ERR_MCP_TIMEOUT"));
  await t.step("an exit mid-call", () => assert.equal(codeOf(4), "ERR_MCP_EXITED"));
  await t.step("much stderr, bounded in the record", () => {
    assert.deepEqual(replies[5]?.ok, { output: "done" });
    const lines = ran.events.filter((e) => e.type === "mcp-stderr");
    const bytes = lines.reduce((n, e) => n + String(e.data).length, 0);
    assert.ok(bytes <= 64 * 1024 + 4096, `${bytes} bytes of stderr recorded`);
    assert.ok(lines.some((e) => e.truncated === true));
  });
  await t.step("input that does not fit the server's schema, a tool it has not", () => {
    assert.equal(codeOf(6), "ERR_INVALID_ARGS");
    assert.equal(codeOf(7), "ERR_CAPABILITY_DENIED");
  });
  await t.step("the run goes on to its end", () => {
    assert.deepEqual(replies[8]?.ok, { output: '{"n":2}' });
    assert.equal(ran.outcome.state, "ok");
  });
  await t.step("no server outlives the run", () => {
    const pids = serverPids(ran.events);
    assert.ok(pids.length >= 4, `servers started: ${pids.length}`);
    for (const pid of pids) assert.ok(gone(pid), `server ${pid} outlived the run`);
    assert.deepEqual(processesWith(join(plugins.dir, "raw", "server.ts")), []);
  });
});

Deno.test("ironclaw check shows an MCP server's flags as its plugin's; plugins show lists its tools", async (t) => {
  await using plugins = await pluginsDir({
    raw: `[mcp]\ncommand = "server.ts"\nargs = ["--x"]\n[permissions.fs]\nread = ["allowed"]\n` +
      `[permissions.env]\nallow = ["RAW_TEST_VAR"]\n`,
  });
  await using agent = await pluginAgent(["raw"], { pluginsDir: plugins.dir });
  const config = join(agent.dir, "ironclaw.toml");
  await t.step("check, text and JSON", async () => {
    const r = await runCli(["check", "--config", config, agent.manifest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /MCP server of plugin raw/);
    const allowed = join(plugins.dir, "raw", "allowed");
    assert.match(
      r.stdout,
      new RegExp(
        `--no-prompt --no-config --cached-only --allow-read=${allowed} ` +
          `--allow-env=RAW_TEST_VAR ${join(plugins.dir, "raw", "server.ts")} --x`,
      ),
    );
    assert.match(r.stdout, /--allow-read=\S+\n\s+the MCP server may read these paths \(.*plugin\.toml:\d+/);
    const json = JSON.parse((await runCli(["check", "--json", "--config", config, agent.manifest])).stdout);
    assert.equal(json.mcp[0].plugin, "raw");
    assert.deepEqual(json.mcp[0].flags.slice(3), [`--allow-read=${allowed}`, "--allow-env=RAW_TEST_VAR"]);
    assert.equal(json.mcp[0].explain[3].from[0].source, "plugin raw");
    // The sandbox itself gets neither --allow-run nor the server's permissions.
    const folder = join(plugins.dir, "raw");
    assert.ok(!json.flags.some((f: string) => f.startsWith("--allow-run") || f.includes(folder)), json.flags);
  });
  await t.step("plugins show", async () => {
    const r = await runCli(["plugins", "show", "raw", "--config", config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /MCP server: server\.ts --x/);
    assert.match(r.stdout, /\n {2}read: Reads a file\n/);
    assert.match(r.stdout, /\n {2}hang: Never answers\n/);
    assert.doesNotMatch(r.stdout, /Bad-Name/);
  });
});

Deno.test("a run that ends during a call leaves no server behind", async () => {
  await using plugins = await pluginsDir({ raw: `[mcp]\ncommand = "server.ts"\ntimeout_s = 60\n` });
  await using agent = await pluginAgent(["raw"], {
    pluginsDir: plugins.dir,
    extra: `[limits]\ntimeout_s = 2\nstep_timeout_s = 60\n`,
  });
  const ran = await run(agent, JSON.stringify({ calls: [["tool.call", { name: "raw.hang", input: {} }]] }));
  assert.equal(ran.outcome.state, "timeout", JSON.stringify(ran.outcome));
  const pids = serverPids(ran.events);
  assert.equal(pids.length, 1);
  assert.ok(gone(pids[0]!), `server ${pids[0]} outlived the run`);
  assert.ok(ran.events.some((e) => e.type === "mcp" && e.phase === "exit" && e.pid === pids[0]));
});

Deno.test("a remote MCP plugin whose url its [permissions.net] does not grant is refused", async () => {
  await using plugins = await pluginsDir({ remote: `[mcp]\nurl = "https://mcp.example.com/mcp"\n` });
  await using agent = await pluginAgent(["remote"], { pluginsDir: plugins.dir });
  const r = await runCli(["check", "--config", join(agent.dir, "ironclaw.toml"), agent.manifest]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /add "mcp\.example\.com" to \[permissions\.net\] allow in its plugin\.toml/);
});

Deno.test("a server that fails to start breaks its plugin, and is not left running", async (t) => {
  await using plugins = await pluginsDir({
    nohand: `[mcp]\ncommand = "server.ts"\nargs = ["--bad-handshake"]\n`,
    dies: `[mcp]\ncommand = "server.ts"\nargs = ["--exit-at-start"]\n`,
  });
  await using agent = await pluginAgent(["nohand", "dies"], { pluginsDir: plugins.dir });
  const r = await runCli(["plugins", "list", "--config", join(agent.dir, "ironclaw.toml")]);
  await t.step("plugins list says why", () => {
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken .*nohand\n.*failed its MCP handshake: .*no handshake today/);
    assert.match(
      r.stderr,
      /broken .*dies\n.*exited with code 4 \(its last words: "raw test server started"\)/,
    );
  });
  await t.step("no server is left", () => {
    for (const name of ["nohand", "dies"]) {
      assert.deepEqual(processesWith(join(plugins.dir, name, "server.ts")), []);
    }
  });
});
