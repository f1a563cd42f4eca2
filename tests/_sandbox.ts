/** Making real agent folders and running real sandboxes in tests. */

import { join } from "node:path";
import { ROOT } from "./_cli.ts";
import { parseRuntimeConfig, type RuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent, type RunAgentOptions } from "../supervisor/run.ts";
import type { RunOutcome } from "../supervisor/supervisor.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { Policy } from "../capabilities/policy.ts";

/** The built test agents (deno task build-agents). */
export const PROBE = join(ROOT, "tests/agents/out/probe.wasm");
export const PROBE_C = join(ROOT, "tests/agents/out/probe_c.wasm");

/** A temporary agent folder: notes/ (read), out/ (write), secret.txt beside them (not granted). */
export interface AgentDir {
  dir: string;
  manifest: string;
  config: RuntimeConfig;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Makes an agent folder with a manifest for `module` and the given extra TOML.
 * Default grants: read notes, write out.
 */
export async function agentDir(
  module: string,
  extra = "",
  grants = 'read = ["notes"]\nwrite = ["out"]',
): Promise<AgentDir> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-test-" }));
  await Deno.mkdir(join(dir, "notes"));
  await Deno.mkdir(join(dir, "out"));
  await Deno.writeTextFile(join(dir, "notes", "a.txt"), "note a\n");
  await Deno.writeTextFile(join(dir, "secret.txt"), "the secret\n");
  const manifest = join(dir, "agent.toml");
  await Deno.writeTextFile(
    manifest,
    `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${module}"\n\n[capabilities.fs]\n${grants}\n${extra}\n`,
  );
  const config = parseRuntimeConfig(`[runtime]\nstate_dir = "state"\n`, { path: join(dir, "ironclaw.toml") });
  return {
    dir,
    manifest,
    config,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
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

/** The replies of a probe run of `{"calls": [...]}`. */
export async function probeCalls(
  agent: AgentDir,
  calls: [string, unknown][],
  options: Omit<RunAgentOptions, "task" | "onEvent"> = {},
): Promise<
  { replies: { ok?: unknown; error?: { code: string; message: string; hint: string } }[]; ran: Ran }
> {
  const ran = await run(agent, JSON.stringify({ calls }), options);
  if (ran.outcome.state !== "ok") {
    throw new Error(`the probe ended ${ran.outcome.state}: ${JSON.stringify(ran.outcome.error)}`);
  }
  return { replies: JSON.parse(ran.outcome.output!), ran };
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

/** A loopback HTTP server that counts the requests it gets. */
export function countingServer(): { port: number; hits: string[]; [Symbol.asyncDispose](): Promise<void> } {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    hits.push(`${req.method} ${new URL(req.url).pathname}`);
    return new Response("hello from loopback", { headers: { "x-test": "1" } });
  });
  return { port: server.addr.port, hits, [Symbol.asyncDispose]: () => server.shutdown() };
}
