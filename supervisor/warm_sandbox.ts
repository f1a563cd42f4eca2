/**
 * A pooled sandbox: spawned from an agent's plan before any run is known, its
 * channel open, said `ready`, and sent `prepare` (the run's grant, module and
 * assets; no task, no run id, no secret), so it loaded its kind's code and
 * made its agent's realm. A run takes it whole (`RunOptions.warm`): the same
 * process, flags and channel, the run's `start` sent at once.
 *
 * The only parts of a plan's command that differ from run to run (the channel
 * socket, a WASI guest's pipes' folder) are named by the pool slot's id in
 * place of the run's; the run records that command as it is.
 *
 * @module
 */

import { join } from "node:path";
import { IronclawError } from "../manifests/errors.ts";
import {
  encodeMessage,
  parseChildMessage,
  type PrepareMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  readLines,
  type RunEvent,
} from "../protocol/protocol.ts";
import { lineCap, lineCapOf } from "../protocol/line_cap.ts";
import { narrowGrant } from "../protocol/grant.ts";
import { ChannelListener, channelPath } from "./channel.ts";
import type { RunPlan } from "./plan.ts";
import { SandboxProcess } from "./spawn.ts";
import type { McpHost } from "./mcp_host.ts";

/** The most events a sandbox may send while it prepares (they are recorded by the run that takes it). */
const MAX_EARLY_EVENTS = 64;

/** A started, prepared sandbox waiting for a run. */
export interface WarmSandbox {
  /** The plan it was spawned from (its id is the pool slot's). */
  readonly plan: RunPlan;
  /** The sandbox process. */
  readonly process: SandboxProcess;
  /** Its channel, connected. */
  readonly conn: Deno.UnixConn;
  /** The channel's lines, `ready` and `prepared` read. */
  readonly lines: AsyncGenerator<string>;
  /** The line cap its command names. */
  readonly lineCap: number;
  /** Its own Deno cache folder (removed with the run that takes it). */
  readonly denoDir: string;
  /** What it recorded while preparing (a note on the interpreter's start). */
  readonly early: RunEvent[];
  /** How long it took from spawn to `ready`, in ms. */
  readonly startedMs: number;
  /** How long it took to prepare, in ms. */
  readonly preparedMs: number;
  /** What it started ahead ("guest worker", "interpreter"). */
  readonly warmed: string[];
  /** When it became ready to take (`performance.now()`). */
  readonly readyAt: number;
  /**
   * The servers of the agent's `[mcp]` plugins, started beside it (their events go to {@linkcode early} until
   * a run takes them with {@linkcode WarmSandbox.record}); null when it uses none.
   */
  readonly mcp: McpHost | null;
  /** From now on, the MCP servers' events go to the run that took the sandbox. */
  record(emit: (event: RunEvent) => void): void;
}

/** The MCP servers of a plan, started now, their events kept until a run takes them. */
async function startMcp(plan: RunPlan, early: RunEvent[]): Promise<Pick<WarmSandbox, "mcp" | "record">> {
  if (!plan.policy.plugins.some((p) => p.mcp?.command)) return { mcp: null, record() {} };
  const { McpHost } = await import("./mcp_host.ts");
  let sink: ((event: RunEvent) => void) | null = null;
  const mcp = new McpHost(plan.policy, {
    emit: (event) => sink ? sink(event) : early.length < MAX_EARLY_EVENTS && early.push(event),
  });
  return { mcp, record: (emit) => sink = emit };
}

/**
 * The `prepare` message of a plan: exactly the grant, module, assets and plugin folders its run's `start`
 * will name (see `RunSession`), so the sandbox keeps what it prepared.
 *
 * @param plan The plan.
 * @returns The message.
 */
export function prepareMessageOf(plan: RunPlan): PrepareMessage {
  return {
    v: PROTOCOL_VERSION,
    type: "prepare",
    policy: narrowGrant(plan.policy, plan.paths, { pinned: plan.pinned ?? {} }),
    module: plan.module,
    gateChecks: true,
    pluginData: { ...plan.paths.pluginData },
    assets: plan.assets,
  };
}

/** Rejects after `ms` with a start error, unless cleared. */
function deadline(ms: number, what: string): { promise: Promise<never>; clear(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(startError(`The pooled sandbox did not ${what} within ${ms} ms`)), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

function startError(message: string): IronclawError {
  return new IronclawError("ERR_SANDBOX_START", message, {
    hint: "the machine may be overloaded: lower [serve] pool, or see the sandbox's stderr",
  });
}

/**
 * Spawns a plan's sandbox and prepares it: connected, `ready`, `prepare` sent and `prepared` read.
 *
 * @param plan A plan whose id names the pool slot.
 * @param options How long it may take.
 * @returns The warm sandbox.
 * @throws {IronclawError} `ERR_SANDBOX_START` when it does not start or prepare in time, or breaks the protocol.
 */
export async function startWarmSandbox(
  plan: RunPlan,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<WarmSandbox> {
  const stateDir = plan.config.runtime.state_dir;
  const denoDir = join(stateDir, "sandbox-cache", plan.id);
  const early: RunEvent[] = [];
  const servers = await startMcp(plan, early);
  let listener: ChannelListener;
  try {
    listener = ChannelListener.open(channelPath(stateDir, plan.id));
  } catch (e) {
    await servers.mcp?.close();
    throw e;
  }
  const at = performance.now();
  let process: SandboxProcess;
  try {
    process = SandboxProcess.spawn(plan.command, plan.policy, {
      denoDir,
      ...(plan.entry.seed ? { seed: plan.entry.seed } : {}),
    });
  } catch (e) {
    listener.close();
    await servers.mcp?.close();
    throw startError(`Cannot start a pooled sandbox: ${(e as Error).message}`);
  }
  const limit = deadline(options.timeoutMs, "start and prepare");
  const abort = aborted(options.signal);
  try {
    const warm = await Promise.race([
      limit.promise,
      abort.promise,
      converse(plan, { process, listener, denoDir, at, early }),
    ]);
    return { ...warm, ...servers };
  } catch (e) {
    await servers.mcp?.close();
    process.kill();
    listener.close();
    await Deno.remove(denoDir, { recursive: true }).catch(() => {});
    throw e instanceof IronclawError ? e : startError(`A pooled sandbox failed: ${(e as Error).message}`);
  } finally {
    limit.clear();
    abort.clear();
  }
}

/** Rejects when the signal aborts (the pool is closing), unless cleared. */
function aborted(signal: AbortSignal | undefined): { promise: Promise<never>; clear(): void } {
  if (!signal) return { promise: new Promise<never>(() => {}), clear() {} };
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(startError("The pool closed while a sandbox started"));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, clear: () => signal.removeEventListener("abort", onAbort) };
}

/** The pool's side of a sandbox's start: takes its connection, reads `ready`, sends `prepare`, reads `prepared`. */
async function converse(
  plan: RunPlan,
  s: { process: SandboxProcess; listener: ChannelListener; denoDir: string; at: number; early: RunEvent[] },
): Promise<Omit<WarmSandbox, "mcp" | "record">> {
  const conn = await s.listener.accept(s.process.child.status);
  if (conn === null) throw startError("A pooled sandbox exited before it connected");
  const cap = lineCapOf(plan.command) ?? lineCap({ outputBytes: plan.policy.limits.maxOutputKb * 1024 });
  const lines = readLines(conn.readable, cap);
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw startError("A pooled sandbox closed its channel while it started");
    return parseChildMessage(line.value);
  };
  if ((await next()).type !== "ready") throw new ProtocolError("The first message was not ready");
  const startedMs = Math.round(performance.now() - s.at);
  const writer = conn.writable.getWriter();
  await writer.write(encodeMessage(prepareMessageOf(plan)));
  writer.releaseLock();
  const { early } = s;
  for (;;) {
    const m = await next();
    if (m.type === "prepared") {
      return {
        plan,
        process: s.process,
        conn,
        lines,
        lineCap: cap,
        denoDir: s.denoDir,
        early,
        startedMs,
        preparedMs: m.ms,
        warmed: m.warmed,
        readyAt: performance.now(),
      };
    }
    if (m.type !== "event" || early.length >= MAX_EARLY_EVENTS) {
      throw new ProtocolError(`A ${m.type} message while the sandbox prepared`);
    }
    early.push(m.event);
  }
}

/**
 * Ends a warm sandbox no run took: kills it and removes its cache folder.
 *
 * @param warm The sandbox.
 */
export async function discardWarmSandbox(warm: WarmSandbox): Promise<void> {
  warm.process.kill();
  await warm.mcp?.close();
  try {
    warm.conn.close();
  } catch { /* closed */ }
  await Promise.all([
    warm.process.child.status.catch(() => {}),
    warm.process.child.stdout.cancel().catch(() => {}),
    warm.process.child.stderr.cancel().catch(() => {}),
  ]);
  await Deno.remove(warm.denoDir, { recursive: true }).catch(() => {});
}
