/**
 * IronClaw as an MCP server (issue 14, item 1), driven by the MCP SDK's own
 * client: over stdio (`ironclaw mcp` spawned as a real process) and over
 * Streamable HTTP against a real `serve` on loopback. Every call is a real
 * sandboxed run, checked in the store afterwards.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { startServer } from "../supervisor/serve/mod.ts";
import { openStore, type RunStore } from "../supervisor/store/mod.ts";
import { ROOT, runCli, TEST_STATE_HOME } from "./_cli.ts";
import { PROBE } from "./_sandbox.ts";

/** The longest one MCP request may take here, in ms: far above what it needs. */
const WITHIN_MS = 180_000;

/** A temporary folder: agents/ (hello and the probe), a CodeAct manifest granting data/, and a config. */
async function setup() {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-mcp-" }));
  const hello = join(root, "agents", "hello");
  await Deno.mkdir(join(hello, "notes"), { recursive: true });
  await Deno.mkdir(join(hello, "out"));
  await Deno.copyFile(join(ROOT, "examples/hello/agent.toml"), join(hello, "agent.toml"));
  await Deno.copyFile(join(ROOT, "examples/hello/agent.wasm"), join(hello, "agent.wasm"));
  await Deno.writeTextFile(join(hello, "notes", "a.txt"), "The first note.\n");
  await Deno.writeTextFile(
    join(root, "agents", "probe.toml"),
    `[agent]\nname = "probe"\ndescription = "Does what its JSON task says"\nkind = "wasm"\n` +
      `module = "${PROBE}"\n\n[limits]\ntimeout_s = 120\n`,
  );
  await Deno.mkdir(join(root, "data"));
  await Deno.writeTextFile(join(root, "data", "n.txt"), "41");
  await Deno.writeTextFile(join(root, "secret.txt"), "outside the grants");
  await Deno.writeTextFile(
    join(root, "code.toml"),
    `[agent]\nname = "code-data"\nkind = "codeact"\ninstructions = "unused"\n\n` +
      `[model]\nprovider = "ollama"\nname = "unused"\n\n[capabilities.fs]\nread = ["data"]\n\n` +
      `[limits]\nmemory_mb = 256\ntimeout_s = 300\nmax_steps = 50\nstep_timeout_s = 30\n`,
  );
  const stateDir = join(root, "state");
  await Deno.writeTextFile(join(root, "ironclaw.toml"), `[runtime]\nstate_dir = "${stateDir}"\n`);
  return {
    root,
    agents: join(root, "agents"),
    config: join(root, "ironclaw.toml"),
    stateDir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** The text items of a tool result, joined. */
function textOf(result: { content?: unknown }): string {
  return ((result.content ?? []) as { type: string; text?: string }[]).map((c) => c.text ?? "").join("\n");
}

/** Opens the store of a state folder, runs `f` with it, closes it. */
async function withStore<T>(stateDir: string, f: (store: RunStore) => Promise<T>): Promise<T> {
  const store = await openStore(stateDir);
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

/** The tests both transports share: list tools, run agents, errors, progress, cancel, code with state. */
async function commonSteps(
  t: Deno.TestContext,
  client: Client,
  options: { stateDir: string; granted: RegExp },
): Promise<void> {
  const { stateDir, granted } = options;
  await t.step("lists one tool per agent and the code tools", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((x: { name: string }) => x.name).sort();
    assert.deepEqual(names, ["hello", "probe", "run_javascript", "run_python"]);
    const hello = tools.find((x: { name: string }) => x.name === "hello")!;
    assert.match(hello.description ?? "", /Lists and reads the files in \.\/notes/);
    assert.deepEqual(Object.keys(hello.inputSchema.properties ?? {}), ["task"]);
    const js = tools.find((x: { name: string }) => x.name === "run_javascript")!;
    assert.match(js.description ?? "", granted, "the description says what the code may reach");
  });

  await t.step("an agent call is a real run: output and run id, recorded in the store", async () => {
    const r = await client.callTool({ name: "hello", arguments: { task: "summarize" } }, undefined, {
      timeout: WITHIN_MS,
    });
    assert.equal(r.isError, undefined, textOf(r));
    const data = r.structuredContent as { run_id: string; state: string; output: string };
    assert.equal(data.state, "ok");
    assert.match(textOf(r), /Summarized 1 note/);
    assert.match(textOf(r), new RegExp(`run ${data.run_id}`));
    const { summary } = await withStore(stateDir, (s) => s.showRun(data.run_id));
    assert.equal(summary.state, "ok");
    assert.equal(summary.agent, "hello");
  });

  await t.step("a failed run is a tool error with its code and hint, and the session goes on", async () => {
    const r = await client.callTool({ name: "probe", arguments: { task: '{"do":"throw"}' } }, undefined, {
      timeout: WITHIN_MS,
    });
    assert.equal(r.isError, true);
    const data = r.structuredContent as { run_id: string; error: { code: string } };
    assert.match(data.error.code, /^ERR_/);
    assert.match(textOf(r), /the probe failed on purpose/);
    const { summary } = await withStore(stateDir, (s) => s.showRun(data.run_id));
    assert.equal(summary.state, "error");
  });

  await t.step("bad arguments are a tool error; an unknown tool a protocol error", async () => {
    const r = await client.callTool({ name: "hello", arguments: { task: 7 } });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /ERR_INVALID_ARGS/);
    await assert.rejects(client.callTool({ name: "nobody", arguments: {} }), /No tool "nobody"/);
  });

  await t.step("a long run sends progress, and cancelling the call stops the run", async () => {
    const progress: string[] = [];
    const abort = new AbortController();
    const call = client.callTool({ name: "probe", arguments: { task: '{"do":"loop"}' } }, undefined, {
      timeout: WITHIN_MS,
      signal: abort.signal,
      onprogress: (p: { message?: string }) => {
        progress.push(p.message ?? "");
        if (p.message === "log: looping") abort.abort();
      },
    });
    await assert.rejects(call);
    assert.ok(progress.includes("state running"), progress.join("; "));
    assert.ok(progress.includes("log: looping"), progress.join("; "));
    // The run ends "interrupted" once the cancellation reached the server.
    assert.equal(await endedState(stateDir, "probe", '{"do":"loop"}'), "interrupted");
  });

  await t.step("JavaScript keeps its variables between the calls of a session", async () => {
    const a = await client.callTool(
      { name: "run_javascript", arguments: { code: "var x = 20; console.log('set')" } },
      undefined,
      { timeout: WITHIN_MS },
    );
    assert.equal(a.isError, undefined, textOf(a));
    assert.match(textOf(a), /set/);
    const b = await client.callTool({ name: "run_javascript", arguments: { code: "x * 2 + 2" } }, undefined, {
      timeout: WITHIN_MS,
    });
    assert.match(textOf(b), /Value: 42/);
    const ids = [a, b].map((r) => (r.structuredContent as { run_id: string }).run_id);
    assert.equal(ids[0], ids[1], "one sandbox, one run, for the session");
    const c = await client.callTool(
      { name: "run_javascript", arguments: { code: "undefinedThing()" } },
      undefined,
      {
        timeout: WITHIN_MS,
      },
    );
    assert.equal(c.isError, true);
    assert.match(textOf(c), /undefinedThing/);
    assert.equal((c.structuredContent as { run_id: string; step: number }).run_id, ids[0]);
    assert.deepEqual([a, b, c].map((r) => (r.structuredContent as { step: number }).step), [1, 2, 3]);
    // Each call is a step of the run, recorded (the record is written in batches: look until it is there).
    const deadline = Date.now() + WITHIN_MS;
    let codes = 0;
    while (codes < 3 && Date.now() < deadline) {
      const { events } = await withStore(stateDir, (s) => s.showRun(ids[0]!));
      codes = events.filter((e) => e.type === "code").length;
      if (codes < 3) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(codes, 3, "each call is a code step of the run");
  });
}

/** `ironclaw mcp` of a setup's folder, spawned by the SDK's stdio client, connected; its stderr as read so far. */
async function stdioClient(
  s: Awaited<ReturnType<typeof setup>>,
  extra: string[] = [],
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [
      ...["run", "-A", "--quiet", join(ROOT, "mod.ts"), "mcp", "--agents", s.agents],
      ...["--code", join(s.root, "code.toml"), "--config", s.config, ...extra],
    ],
    cwd: s.root,
    env: {
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      XDG_STATE_HOME: TEST_STATE_HOME,
      PATH: Deno.env.get("PATH") ?? "",
    },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d: Uint8Array) => stderr += new TextDecoder().decode(d));
  const client = new Client({ name: "ironclaw-test", version: "0.0.0" });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

/** Waits until the run of `agent` with `task` has ended, and answers its state. */
async function endedState(stateDir: string, agent: string, task: string): Promise<string> {
  const deadline = Date.now() + WITHIN_MS;
  while (Date.now() < deadline) {
    const runs = await withStore(stateDir, (st) => st.listRuns({ agent }));
    const state = runs.find((r) => r.task === task)?.state ?? "";
    if (state !== "" && state !== "running" && state !== "queued") return state;
    await new Promise((r) => setTimeout(r, 200));
  }
  return "still running";
}

Deno.test("ironclaw mcp over stdio: agents and code as tools, for the SDK's client", async (t) => {
  await using s = await setup();
  const { client, stderr } = await stdioClient(s);
  try {
    await commonSteps(t, client, { stateDir: s.stateDir, granted: /It may read \S+\/data, only through/ });

    await t.step("a granted read works from code; one outside the grants is a tool error", async () => {
      const ok = await client.callTool(
        { name: "run_javascript", arguments: { code: "(await tools.read_file({ path: 'data/n.txt' }))" } },
        undefined,
        { timeout: WITHIN_MS },
      );
      assert.equal(ok.isError, undefined, textOf(ok));
      assert.match(textOf(ok), /41/);
      const denied = await client.callTool(
        { name: "run_javascript", arguments: { code: "await tools.read_file({ path: 'secret.txt' })" } },
        undefined,
        { timeout: WITHIN_MS },
      );
      assert.equal(denied.isError, true);
      assert.match(textOf(denied), /ERR_CAPABILITY_DENIED/);
      assert.doesNotMatch(textOf(denied), /outside the grants/);
    });

    await t.step("cancelling a code step stops its sandbox; the next call starts a new one", async () => {
      const abort = new AbortController();
      let started = false;
      const call = client.callTool(
        { name: "run_javascript", arguments: { code: "for (;;) {}" } },
        undefined,
        {
          timeout: WITHIN_MS,
          signal: abort.signal,
          onprogress: () => {
            started = true;
            setTimeout(() => abort.abort(), 1000);
          },
        },
      );
      await assert.rejects(call);
      assert.ok(started, "a progress notification came first");
      const r = await client.callTool(
        { name: "run_javascript", arguments: { code: "typeof x" } },
        undefined,
        {
          timeout: WITHIN_MS,
        },
      );
      assert.match(textOf(r), /Value: "undefined"/, "x of the earlier sandbox is gone");
      assert.match(textOf(r), /a new sandbox/);
      const runs = await withStore(s.stateDir, (st) => st.listRuns({ agent: "code-data" }));
      assert.ok(runs.some((x) => x.state === "interrupted"), JSON.stringify(runs.map((x) => x.state)));
    });

    await t.step("Python keeps its variables between calls, in its own sandbox", async () => {
      const a = await client.callTool(
        { name: "run_python", arguments: { code: "y = 6 * 7\nprint('y set')" } },
        undefined,
        { timeout: WITHIN_MS },
      );
      assert.equal(a.isError, undefined, textOf(a));
      assert.match(textOf(a), /y set/);
      const b = await client.callTool({ name: "run_python", arguments: { code: "y + 1" } }, undefined, {
        timeout: WITHIN_MS,
      });
      assert.match(textOf(b), /Value: 43/);
    });
  } finally {
    await client.close();
  }
  // The session's code sandboxes ended with it; their runs are closed in the store.
  // The session's sandboxes ended with it: the JavaScript one cancelled, its successor and the Python one ok.
  const runs = await withStore(s.stateDir, (st) => st.listRuns({ agent: "code-data" }));
  assert.deepEqual(runs.map((r) => r.state).sort(), ["interrupted", "ok", "ok"], stderr());
  assert.match(stderr(), /mcp: serving hello, probe, run_javascript, run_python on stdio/);
});

Deno.test("ironclaw mcp: a client that goes away mid-call stops its runs, running and queued", async () => {
  await using s = await setup();
  const { client, stderr } = await stdioClient(s, ["--concurrency", "1"]);
  const running = '{"do":"loop","n":1}';
  const queued = '{"do":"loop","n":2}';
  let looping!: () => void;
  const looped = new Promise<void>((r) => looping = r);
  const calls = [
    client.callTool({ name: "probe", arguments: { task: running } }, undefined, {
      timeout: WITHIN_MS,
      onprogress: (p: { message?: string }) => p.message === "log: looping" && looping(),
    }),
  ];
  await looped;
  calls.push(
    client.callTool({ name: "probe", arguments: { task: queued } }, undefined, { timeout: WITHIN_MS }),
  );
  const deadline = Date.now() + WITHIN_MS;
  let state = "";
  while (state !== "queued" && Date.now() < deadline) {
    const runs = await withStore(s.stateDir, (st) => st.listRuns({ agent: "probe" }));
    state = runs.find((r) => r.task === queued)?.state ?? "";
    if (state !== "queued") await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, "queued", "one run at once: the second waits");
  await client.close();
  for (const c of calls) await assert.rejects(c);
  assert.equal(await endedState(s.stateDir, "probe", running), "interrupted", stderr());
  assert.equal(
    await endedState(s.stateDir, "probe", queued),
    "interrupted",
    "not left queued for a later worker",
  );
});

Deno.test("ironclaw mcp: help, and a --code manifest that is not CodeAct is a usage error", async () => {
  const help = await runCli(["help", "mcp"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: ironclaw mcp \[--agents <dir>\] \[--code <manifest>\]/);
  const wrong = await runCli(["mcp", "--code", join(ROOT, "examples/hello/agent.toml")]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /is not of a CodeAct agent \[ERR_USAGE\]/);
  assert.equal(wrong.stdout, "", "stdout is the protocol's");
});

Deno.test("ironclaw serve answers MCP at /mcp with its token; 401 without", async (t) => {
  await using s = await setup();
  const config = await loadRuntimeConfig({ path: s.config });
  const errors: unknown[] = [];
  const server = await startServer({
    config,
    agentsDir: s.agents,
    port: 0,
    concurrency: 2,
    token: "a-token-for-the-mcp-tests",
    onError: (e) => errors.push(e),
  });
  try {
    await t.step("without the token: 401", async () => {
      const res = await fetch(`${server.url}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      await res.body?.cancel();
      assert.equal(res.status, 401);
    });
    const client = new Client({ name: "ironclaw-test", version: "0.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${server.token}` } },
      }),
    );
    try {
      await commonSteps(t, client, { stateDir: s.stateDir, granted: /It is granted nothing/ });
      await t.step("another session has its own sandbox, ended with the session (DELETE)", async () => {
        const other = new Client({ name: "ironclaw-test-2", version: "0.0.0" });
        const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${server.token}` } },
        });
        await other.connect(transport);
        let runId = "";
        try {
          const r = await other.callTool(
            { name: "run_javascript", arguments: { code: "typeof x" } },
            undefined,
            {
              timeout: WITHIN_MS,
            },
          );
          assert.match(textOf(r), /Value: "undefined"/);
          runId = (r.structuredContent as { run_id: string }).run_id;
          const gone = transport.sessionId!;
          await transport.terminateSession();
          const res = await fetch(`${server.url}/mcp`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${server.token}`,
              "mcp-session-id": gone,
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
            },
            body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
          });
          await res.body?.cancel();
          assert.equal(res.status, 404, "an ended session is not found");
        } finally {
          await other.close();
        }
        const deadline = Date.now() + WITHIN_MS;
        let state = "running";
        while (state === "running" && Date.now() < deadline) {
          state = (await withStore(s.stateDir, (st) => st.showRun(runId))).summary.state;
          if (state === "running") await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(state, "ok", "the session's sandbox ended with it");
      });
    } finally {
      await client.close();
    }
  } finally {
    await server.close({ stop: true });
  }
  assert.deepEqual(errors, []);
  const runs = await withStore(s.stateDir, (st) => st.listRuns({ agent: "mcp-code" }));
  assert.ok(runs.length >= 2, "the code runs are in the store");
  for (const r of runs) assert.notEqual(r.state, "running");
});
