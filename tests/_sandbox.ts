/** Making real agent folders and running real sandboxes in tests. */

import { channelPath, withChannel } from "../supervisor/channel.ts";
import { newRunId, showRun } from "../supervisor/records.ts";
import { dirname, join } from "node:path";
import { ROOT } from "./_cli.ts";
import { parseRuntimeConfig, type RuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy, machineFacts } from "../supervisor/load.ts";
import { runAgent, type RunAgentOptions, runPlanned } from "../supervisor/run.ts";
import { SandboxPool } from "../supervisor/pool.ts";
import { type RunHandle, type RunOptions, type RunOutcome, startRun } from "../supervisor/supervisor.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { Policy } from "../capabilities/policy.ts";
import { toDenoFlags } from "../capabilities/deno_flags.ts";
import { sandboxEntry } from "../supervisor/assets.ts";

/** The built test agents (deno task build-agents). */
export const PROBE = join(ROOT, "tests/agents/out/probe.wasm");
export const PROBE_C = join(ROOT, "tests/agents/out/probe_c.wasm");

/** The test plugins (counter, evil, granty, shapes; the built-ins are found too). */
export const TEST_PLUGINS = join(ROOT, "tests/plugins");

/** A child that breaks the protocol or the limits on purpose (tests/children/hostile.ts). */
const HOSTILE = join(ROOT, "tests/children/hostile.ts");

/** A temporary agent folder with its manifest and runtime config; removed when disposed. */
export interface AgentDir {
  dir: string;
  manifest: string;
  config: RuntimeConfig;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Makes a temporary folder holding `files` (relative path: text; a path ending in `/` is an empty folder)
 * and `manifest` as agent.toml. Its config keeps records in `state/` and is not written (see
 * {@linkcode withConfig}).
 */
export async function agentFolder(files: Record<string, string>, manifest: string): Promise<AgentDir> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-test-" }));
  for (const [path, text] of Object.entries(files)) {
    if (path.endsWith("/")) {
      await Deno.mkdir(join(dir, path), { recursive: true });
      continue;
    }
    await Deno.mkdir(dirname(join(dir, path)), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  await Deno.writeTextFile(join(dir, "agent.toml"), manifest);
  const config = parseRuntimeConfig(`[runtime]\nstate_dir = "state"\n`, { path: join(dir, "ironclaw.toml") });
  return {
    dir,
    manifest: join(dir, "agent.toml"),
    config,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Writes `text` as the agent folder's ironclaw.toml and makes it the agent's config. */
/** Everything a run's record holds, as text: its summary and events, read from the run store. */
export async function recordText(agent: AgentDir, id: string): Promise<string> {
  return JSON.stringify(await showRun(agent.config.runtime.state_dir, id));
}

export async function withConfig(agent: AgentDir, text: string): Promise<AgentDir> {
  const path = join(agent.dir, "ironclaw.toml");
  await Deno.writeTextFile(path, text);
  agent.config = parseRuntimeConfig(text, { path });
  return agent;
}

/**
 * A probe agent's folder: notes/ (read), out/ (write), secret.txt beside them (not granted), and a manifest
 * for `module` with the given extra TOML.
 */
export function agentDir(module: string, extra = ""): Promise<AgentDir> {
  return agentFolder(
    { "notes/a.txt": "note a\n", "out/": "", "secret.txt": "the secret\n" },
    `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${module}"\n\n` +
      `[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n${extra}\n`,
  );
}

/** A probe agent that uses `plugins`, found in `pluginsDir` (the test plugins unless given). */
export async function pluginAgent(
  plugins: string[],
  options: { pluginsDir?: string; extra?: string } = {},
): Promise<AgentDir> {
  const agent = await agentDir(PROBE, `[plugins]\nuse = ${JSON.stringify(plugins)}\n${options.extra ?? ""}`);
  const pluginsDir = options.pluginsDir ?? TEST_PLUGINS;
  return await withConfig(agent, `[runtime]\nstate_dir = "state"\nplugins_dir = "${pluginsDir}"\n`);
}

/** What a run did. */
export interface Ran {
  outcome: RunOutcome;
  events: RunEvent[];
  policy: Policy;
  pid: number | null;
}

/** Runs the agent of `agent` on `task` in a real sandbox and waits for the end. */
export async function run(
  agent: AgentDir,
  task: string,
  options: Omit<RunAgentOptions, "task" | "onEvent"> = {},
): Promise<Ran> {
  const policy = await loadPolicy(agent.manifest, agent.config, { home: "/nonexistent-home" });
  const events: RunEvent[] = [];
  const handle = await runAgent(policy, agent.config, { ...options, task, onEvent: (e) => events.push(e) });
  const outcome = await handle.done;
  return { outcome, events, policy, pid: handle.pid };
}

/**
 * Runs the agent of `agent` on `task` in a pooled sandbox, as `ironclaw serve` with `[serve] pool` does: a pool
 * of one starts and prepares a sandbox before the task is known, and the run takes it.
 */
export async function runPooled(agent: AgentDir, task: string): Promise<Ran> {
  const policy = await loadPolicy(agent.manifest, agent.config);
  const pool = new SandboxPool({
    config: agent.config,
    agents: new Map([[policy.agent.name, agent.manifest]]),
    size: 1,
  });
  try {
    for (let i = 0; pool.stats(policy.agent.name)?.idle !== 1; i++) {
      if (i > 1200) throw new Error("the pooled sandbox did not start within a minute");
      await new Promise((r) => setTimeout(r, 50));
    }
    const warm = await pool.take(policy.agent.name, policy);
    if (warm === null) throw new Error("the pool gave no sandbox");
    const events: RunEvent[] = [];
    const handle = await runPlanned(warm.plan, { task, warm, onEvent: (e) => events.push(e) });
    pool.refillAfter(policy.agent.name, handle.done);
    const outcome = await handle.done;
    return { outcome, events, policy, pid: handle.pid };
  } finally {
    await pool.close();
  }
}

/** The replies of a probe run of `{"calls": [...]}`. */
export async function probeCalls(
  agent: AgentDir,
  calls: [string, unknown][],
  options: Omit<RunAgentOptions, "task" | "onEvent"> & { pooled?: boolean } = {},
): Promise<
  { replies: { ok?: unknown; error?: { code: string; message: string; hint: string } }[]; ran: Ran }
> {
  const ran = options.pooled
    ? await runPooled(agent, JSON.stringify({ calls }))
    : await run(agent, JSON.stringify({ calls }), options);
  if (ran.outcome.state !== "ok") {
    throw new Error(`the probe ended ${ran.outcome.state}: ${JSON.stringify(ran.outcome.error)}`);
  }
  return { replies: JSON.parse(ran.outcome.output!), ran };
}

/**
 * Starts tests/children/hostile.ts with `args` in place of a sandbox, under the flags of the agent's Policy,
 * as the supervisor starts a sandbox.
 */
export function hostileRun(agent: AgentDir, ...args: string[]): Promise<RunHandle> {
  return hostileRunWith(agent, {}, ...args);
}

/** {@linkcode hostileRun} with the run's id or store given. */
export async function hostileRunWith(
  agent: AgentDir,
  options: Pick<RunOptions, "id" | "store">,
  ...args: string[]
): Promise<RunHandle> {
  const policy = await loadPolicy(agent.manifest, agent.config);
  // The runtime paths a run without a module or plugins gets: the sandbox entry's folder.
  const runtime = { read: [sandboxEntry().dir], write: [], moduleFormat: policy.agent.moduleFormat };
  const stateDir = agent.config.runtime.state_dir;
  const id = options.id ?? newRunId();
  const command = [Deno.execPath(), "run", ...toDenoFlags(policy, { runtime }), HOSTILE, ...args];
  return startRun(policy, {
    ...(options.store ? { store: options.store } : {}),
    task: "",
    stateDir,
    module: null,
    runtime,
    id,
    command: withChannel(command, channelPath(stateDir, id)),
  });
}

/** What the evil test plugin tries, `[what, target]`, against an agent folder and a port it must not reach. */
export function evilTries(dir: string, port: number): [string, string][] {
  const secret = join(dir, "secret.txt");
  return [
    ["read", secret],
    ["read", "/etc/hostname"],
    ["env", "HOME"],
    ["socket", String(port)],
    ["spawn", "/usr/bin/id"],
    ["import", "https://example.com/evil.js"],
    ["import", new URL(`file://${secret}`).href],
    ["write", join(dir, "notes", "pwned.txt")],
  ];
}

/** The probe's call of the evil test plugin's tool. */
export function evilCall(input: Record<string, string>): [string, unknown] {
  return ["tool.call", { name: "evil.attempt", input }];
}

/** A program's absolute path, found on PATH as the supervisor finds the programs a manifest grants. */
export function which(name: string): string {
  const path = machineFacts().findProgram?.(name);
  if (!path) throw new Error(`${name} is not installed`);
  return path;
}

/** True when no process has this id any more. */
export function gone(pid: number | null): boolean {
  if (pid === null) return true;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.split(") ")[1]?.startsWith("Z") ?? true; // a zombie has ended
  } catch {
    return true;
  }
}

/** A loopback HTTP server that keeps what it was sent; shut down when disposed. */
export interface LoopbackServer extends AsyncDisposable {
  port: number;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  /** Each request as `METHOD /path`. */
  hits: string[];
  /** Each request's headers. */
  headers: Headers[];
}

/**
 * Starts a {@linkcode LoopbackServer} on 127.0.0.1; `answer` gets each request and its 1-based number
 * (by default a plain text answer).
 */
export function countingServer(
  answer: (req: Request, n: number) => Response | Promise<Response> = () =>
    new Response("hello from loopback", { headers: { "x-test": "1" } }),
): LoopbackServer {
  const hits: string[] = [];
  const headers: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    hits.push(`${req.method} ${new URL(req.url).pathname}`);
    headers.push(req.headers);
    return answer(req, hits.length);
  });
  const port = server.addr.port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    hits,
    headers,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
