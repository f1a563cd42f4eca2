/**
 * Warm pools (issue 12, item 2): `ironclaw serve` with `[serve] pool` keeps
 * sandboxes started and prepared per served agent. Over real HTTP on
 * loopback, with real sandboxes: a pooled run says so and runs with the
 * agent's exact command; the pool refills after a run and replaces a sandbox
 * that dies while it waits; a manifest changed after its sandbox started is
 * never run by that sandbox. Each agent kind runs pooled: a component, a
 * WASI preview1 module, CodeAct in JavaScript and in Python (state kept
 * across steps). The escape suite runs through a pooled sandbox in
 * escape_test.ts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { loadAgent } from "../supervisor/load.ts";
import { planAgent } from "../supervisor/plan.ts";
import { type ServeHandle, startServer } from "../supervisor/serve/mod.ts";
import { showRun } from "../supervisor/records.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { agentDir, gone, pluginAgent, PROBE, PROBE_C, runPooled } from "./_sandbox.ts";
import { code, loopAgent } from "./_loops.ts";
import { ROOT } from "./_cli.ts";
import { type PoolEvent, SandboxPool } from "../supervisor/pool.ts";
import { prepareMessageOf } from "../supervisor/warm_sandbox.ts";

/** The longest any wait here may take, in ms: far above what it needs. */
const WITHIN_MS = 120_000;

async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + WITHIN_MS;
  while (!await check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A served folder with the probe agent (reads notes/, writes out/), and a server with a pool of one. */
async function pooledServer(): Promise<
  { server: ServeHandle; root: string; manifest: string; stateDir: string } & AsyncDisposable
> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-pool-" }));
  await Deno.mkdir(join(root, "agents", "probe"), { recursive: true });
  await Deno.mkdir(join(root, "notes"));
  await Deno.mkdir(join(root, "out"));
  await Deno.writeTextFile(join(root, "notes", "a.txt"), "note a\n");
  const manifest = join(root, "agents", "probe", "agent.toml");
  await Deno.writeTextFile(manifest, probeManifest(root, ["notes"]));
  await Deno.writeTextFile(
    join(root, "ironclaw.toml"),
    `[runtime]\nstate_dir = "state"\n\n[serve]\npool = 1\n`,
  );
  const config = await loadRuntimeConfig({ path: join(root, "ironclaw.toml") });
  const errors: unknown[] = [];
  const server = await startServer({
    config,
    agentsDir: join(root, "agents"),
    port: 0,
    concurrency: 2,
    onError: (e) => errors.push(e),
  });
  return {
    server,
    root,
    manifest,
    stateDir: config.runtime.state_dir,
    async [Symbol.asyncDispose]() {
      await server.close({ stop: true });
      await Deno.remove(root, { recursive: true }).catch(() => {});
      assert.deepEqual(errors, [], "no internal error");
    },
  };
}

function probeManifest(root: string, read: string[]): string {
  return `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${PROBE}"\n\n` +
    `[capabilities.fs]\nread = ${JSON.stringify(read.map((r) => join(root, r)))}\n` +
    `write = ["${join(root, "out")}"]\n`;
}

async function call(server: ServeHandle, path: string, json?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(server.url + path, {
    method: json === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${server.token}` },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const body = await res.json();
  assert.ok(res.ok, JSON.stringify(body));
  return body;
}

async function idle(server: ServeHandle): Promise<number> {
  const agents = await call(server, "/v1/agents") as unknown as { pool: { idle: number } | null }[];
  return agents[0]?.pool?.idle ?? -1;
}

/** Submits a probe run of `calls` and waits for its end; its events and replies. */
async function probeRun(
  s: { server: ServeHandle; stateDir: string },
  calls: [string, unknown][],
): Promise<{ events: RunEvent[]; replies: { ok?: unknown; error?: { code: string } }[] }> {
  const { id } = await call(s.server, "/v1/runs", { agent: "probe", task: JSON.stringify({ calls }) });
  let events: RunEvent[] = [];
  await until("the run ended", async () => {
    events = (await showRun(s.stateDir, String(id))).events;
    return events.some((e) => e.type === "end");
  });
  const end = events.find((e) => e.type === "end")!;
  assert.equal(end.state, "ok", JSON.stringify(end));
  return { events, replies: JSON.parse(String(end.output)) };
}

/** The pid of each of the pool's sandboxes that waits or runs now, from their command lines. */
function poolPids(stateDir: string): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmd.includes(`--channel=${join(stateDir, "channels", "pool-")}`) && !cmd.includes("setsid")) {
        out.push(Number(entry.name));
      }
    } catch { /* gone */ }
  }
  return out;
}

Deno.test("serve with a pool: pooled runs say so, run with the agent's own command, and the pool refills", async (t) => {
  await using s = await pooledServer();
  await until("the pool has a sandbox waiting", async () => await idle(s.server) === 1);
  const first = await probeRun(s, [["fs.read", { path: join(s.root, "notes", "a.txt") }]]);
  const run1 = first.events.find((e) => e.type === "run")!;

  await t.step("the run took the waiting sandbox, prepared before the task was known", () => {
    assert.equal(run1.pooled, true);
    const timing = first.events.find((e) => e.type === "timing")!;
    assert.equal(timing.phase, "pool");
    assert.deepEqual(timing.warmed, ["guest worker", "compiled module"]);
    assert.deepEqual(first.replies[0]?.ok, { data: "note a\n" });
  });

  await t.step("its command is the agent's plan, but for the pool slot's channel", async () => {
    const config = await loadRuntimeConfig({ path: join(s.root, "ironclaw.toml") });
    const cold = await planAgent(await loadAgent(s.manifest, config), config, { id: "RUN" });
    const slot = /channels\/(pool-[\d-]+)/.exec((run1.command as string[]).join(" "))![1]!;
    assert.deepEqual((run1.command as string[]).map((a) => a.replaceAll(slot, "RUN")), cold.command);
  });

  await t.step("the pool refills, with a new sandbox", async () => {
    await until("the pool has a sandbox again", async () => await idle(s.server) === 1);
    const second = await probeRun(s, [["fs.read", { path: join(s.root, "notes", "a.txt") }]]);
    const run2 = second.events.find((e) => e.type === "run")!;
    assert.equal(run2.pooled, true);
    assert.notDeepEqual(run2.command, run1.command, "another slot's channel");
  });

  await t.step("a sandbox that dies while it waits is replaced", async () => {
    await until("the pool has a sandbox again", async () => await idle(s.server) === 1);
    const [pid] = poolPids(s.stateDir);
    assert.ok(pid !== undefined, "the waiting sandbox is found");
    Deno.kill(pid, "SIGKILL");
    await until("it is gone", () => gone(pid));
    await until("another one waits", async () => {
      const pids = poolPids(s.stateDir);
      return pids.length === 1 && pids[0] !== pid && await idle(s.server) === 1;
    });
    const third = await probeRun(s, [["fs.read", { path: join(s.root, "notes", "a.txt") }]]);
    assert.equal(third.events.find((e) => e.type === "run")?.pooled, true);
  });
});

Deno.test("serve with a pool: a sandbox started for a manifest that has since changed never runs it", async () => {
  await using s = await pooledServer();
  await until("the pool has a sandbox waiting", async () => await idle(s.server) === 1);
  // The operator takes the read grant away while a sandbox started with it waits.
  await Deno.writeTextFile(s.manifest, probeManifest(s.root, []));
  const path = join(s.root, "notes", "a.txt");
  const ran = await probeRun(s, [["fs.read", { path }]]);
  assert.equal(ran.events.find((e) => e.type === "run")?.pooled, undefined, "started cold");
  assert.equal(ran.replies[0]?.error?.code, "ERR_CAPABILITY_DENIED");
  // The pool refills from the manifest as it is now, and its sandbox holds the narrower grant too.
  await until("the pool has a sandbox of the new manifest", async () => await idle(s.server) === 1);
  const again = await probeRun(s, [["fs.read", { path }]]);
  const run = again.events.find((e) => e.type === "run")!;
  assert.equal(run.pooled, true);
  assert.equal(again.replies[0]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.ok(!(run.command as string[]).some((a) => a.startsWith("--allow-read") && a.includes(path)));
});

Deno.test("a WASI preview1 module runs in a pooled sandbox, its output pipes made when the run takes it", async () => {
  await using agent = await agentDir(PROBE_C);
  const ran = await runPooled(agent, "read /notes/a.txt\nwrite /out/r.txt\nread /etc/hostname");
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  assert.equal(ran.events.find((e) => e.type === "run")?.pooled, true);
  assert.deepEqual(ran.events.find((e) => e.type === "timing")?.warmed, ["guest worker"]);
  const out = (ran.outcome.output ?? "").split("\n").filter((l) => l !== "");
  assert.doesNotMatch(String(ran.events.find((e) => e.type === "run")?.id), /^pool-/, "the run's own id");
  assert.equal(out[0], "OK /notes/a.txt note a");
  assert.equal(out[1], "OK /out/r.txt");
  assert.match(out[2] ?? "", /^ERR \/etc\/hostname/);
});

for (const language of ["javascript", "python"] as const) {
  Deno.test(`CodeAct in ${language} runs in a pooled sandbox, its interpreter loaded ahead, state kept`, async () => {
    const set = language === "python" ? "x = 41" : "globalThis.x = 41";
    const show = language === "python" ? "print(x + 1)" : "console.log(x + 1)";
    await using agent = await loopAgent({
      kind: "codeact",
      language,
      turns: [{ reply: code(language, set) }, { reply: code(language, show) }, {
        reply: { content: "done" },
      }],
    });
    const ran = await runPooled(agent, "count");
    assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
    assert.equal(ran.events.find((e) => e.type === "run")?.pooled, true);
    assert.deepEqual(ran.events.find((e) => e.type === "timing")?.warmed, ["interpreter"]);
    const steps = ran.events.filter((e) => e.type === "code");
    assert.match(String(steps[1]?.observation), /42/);
  });
}

Deno.test("a pooled sandbox loads its plugins at the start, in their own realms, as a cold one does", async () => {
  await using agent = await pluginAgent(["calculator"]);
  const ran = await runPooled(
    agent,
    JSON.stringify({
      calls: [
        ["tool.call", { name: "calculator.evaluate", input: { expression: "6 * 7" } }],
        ["tool.call", { name: "kv-memory.get", input: { key: "x" } }],
      ],
    }),
  );
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  assert.equal(ran.events.find((e) => e.type === "run")?.pooled, true);
  const [evaluated, unused] = JSON.parse(ran.outcome.output!);
  assert.deepEqual(evaluated.ok, { output: { value: 42 } });
  assert.equal(unused.error.code, "ERR_CAPABILITY_DENIED", "a plugin the agent does not use stays out");
});

Deno.test("a pooled sandbox's [mcp] plugin server starts beside it, is the run's, and ends with it", async () => {
  const plugins = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-pool-mcp-" }));
  try {
    await Deno.mkdir(join(plugins, "raw"));
    await Deno.copyFile(join(ROOT, "tests/mcp_servers/raw_server.ts"), join(plugins, "raw", "server.ts"));
    await Deno.writeTextFile(
      join(plugins, "raw", "plugin.toml"),
      `[plugin]\nname = "raw"\nversion = "0.1.0"\n\n[mcp]\ncommand = "server.ts"\n`,
    );
    await using agent = await pluginAgent(["raw"], { pluginsDir: plugins });
    const ran = await runPooled(
      agent,
      JSON.stringify({ calls: [["tool.call", { name: "raw.echo", input: { n: 7 } }]] }),
    );
    assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
    assert.equal(ran.events.find((e) => e.type === "run")?.pooled, true);
    const [echoed] = JSON.parse(ran.outcome.output!);
    assert.deepEqual(echoed.ok, { output: '{"n":7}' }, JSON.stringify(echoed));
    // Its start was recorded by the pool and handed to the run; its end by the run.
    const starts = ran.events.filter((e) => e.type === "mcp" && e.phase === "start");
    assert.equal(starts.length, 1, JSON.stringify(ran.events.filter((e) => e.type === "mcp")));
    const startSeq = starts[0]!.seq as number;
    const runSeq = ran.events.find((e) => e.type === "run")!.seq as number;
    assert.ok(startSeq > runSeq, "recorded in the run, after its run event");
    const poolSeq = ran.events.find((e) => e.type === "timing" && e.phase === "pool")!.seq as number;
    assert.ok(startSeq < poolSeq, "started while the sandbox waited: recorded with what the pool saw");
    await until("the server is gone", () => gone(starts[0]!.pid as number));
  } finally {
    await Deno.remove(plugins, { recursive: true });
  }
});

Deno.test("serve with a pool: closing it ends its sandboxes, waiting or still starting; none is left", async () => {
  for (const when of ["while its sandbox starts", "once its sandbox waits"]) {
    const s = await pooledServer();
    try {
      if (when === "once its sandbox waits") {
        await until("a sandbox waits", async () => await idle(s.server) === 1);
      } else await until("a sandbox starts", () => poolPids(s.stateDir).length > 0);
      const pids = poolPids(s.stateDir);
      await s.server.close({ stop: true });
      assert.deepEqual(poolPids(s.stateDir), [], when);
      for (const pid of pids) assert.ok(gone(pid), `${when}: ${pid} is gone`);
    } finally {
      await s[Symbol.asyncDispose]();
    }
  }
});

Deno.test("a pool replaces a sandbox that waited too long, and stops trying after three failed starts", async (t) => {
  await t.step("maxIdleMs: the waiting sandbox is ended and another one starts", async () => {
    await using agent = await agentDir(PROBE);
    const pool = new SandboxPool({
      config: agent.config,
      agents: new Map([["probe", agent.manifest]]),
      size: 1,
      maxIdleMs: 500,
    });
    try {
      await until("a sandbox waits", () => pool.stats("probe")?.idle === 1);
      const [first] = poolPids(agent.config.runtime.state_dir);
      assert.ok(first !== undefined);
      await until("it is replaced", () => {
        const now = poolPids(agent.config.runtime.state_dir);
        return gone(first) && now.length === 1 && pool.stats("probe")?.idle === 1;
      });
    } finally {
      await pool.close();
    }
  });
  await t.step(
    "an agent whose sandbox cannot start: three failures, the last one saying it gives up",
    async () => {
      await using agent = await agentDir(join(ROOT, "tests/agents/out/missing.wasm"));
      const events: PoolEvent[] = [];
      const pool = new SandboxPool({
        config: agent.config,
        agents: new Map([["probe", agent.manifest]]),
        size: 1,
        onEvent: (e) => events.push(e),
      });
      try {
        await until("three failures", () => events.length >= 3);
        await new Promise((r) => setTimeout(r, 1000)); // no fourth start follows on its own
        assert.deepEqual(events.map((e) => e.type === "failed" && e.gaveUp), [false, false, true]);
        assert.equal(pool.stats("probe")?.starting, 0);
      } finally {
        await pool.close();
      }
    },
  );
});

Deno.test("prepareMessageOf() gives a pooled sandbox the run's grant, module and assets, never a task, id or secret", async () => {
  await using agent = await agentDir(PROBE);
  const policy = (await loadAgent(agent.manifest, agent.config)).policy;
  const plan = await planAgent({ policy }, agent.config, { id: "pool-test-1" });
  const message = prepareMessageOf(plan);
  assert.deepEqual(Object.keys(message).sort(), [
    "assets",
    "gateChecks",
    "module",
    "pluginData",
    "policy",
    "type",
    "v",
  ]);
  assert.equal(message.gateChecks, true);
  assert.equal(message.module, plan.module);
});
