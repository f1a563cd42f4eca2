/**
 * Warm pools (`[serve] pool = N`): for each served agent, N sandboxes started
 * from that agent's plan and prepared ({@linkcode startWarmSandbox}), waiting
 * for a task. A run takes one when its agent's Policy and module are still
 * the ones the sandbox was started with; the pool starts a replacement in the
 * background. A sandbox that waited past `maxIdleMs` is replaced, so the
 * addresses its flags pinned at start do not grow old; one that exits while
 * it waits is replaced too. After three starts in a row fail, an agent's pool
 * stops trying (and says so) until a run of that agent next asks for a
 * sandbox; its runs start cold meanwhile.
 *
 * @module
 */

import type { Policy } from "../capabilities/policy.ts";
import type { Failure } from "../manifests/errors.ts";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";
import { loadAgent } from "./load.ts";
import { planAgent } from "./plan.ts";
import { discardWarmSandbox, startWarmSandbox, type WarmSandbox } from "./warm_sandbox.ts";

/** How long a pooled sandbox may take to start and prepare, by default, in ms. */
const START_TIMEOUT_MS = 60_000;
/** How long a pooled sandbox waits before it is replaced, by default, in ms. */
const MAX_IDLE_MS = 10 * 60_000;
/** How long after a take its replacement starts at the latest, in ms, when the run has not ended. */
const REFILL_MS = 2_000;
/** Failed starts in a row after which an agent's pool stops trying. */
const MAX_FAILURES = 3;

/** What a pool tells its owner. */
export type PoolEvent =
  | { type: "warm"; agent: string; startedMs: number; preparedMs: number }
  | { type: "failed"; agent: string; error: Failure; gaveUp: boolean };

/** Options of {@linkcode SandboxPool}. */
export interface PoolOptions {
  /** The runtime config: the state folder, and how plans are made. */
  config: RuntimeConfig;
  /** The pooled agents: name to manifest path. */
  agents: ReadonlyMap<string, string>;
  /** Sandboxes kept per agent. */
  size: number;
  /** Told when a sandbox is ready and when one fails to start. */
  onEvent?: (event: PoolEvent) => void;
  /** How long a sandbox waits before it is replaced, in ms; default 10 minutes. */
  maxIdleMs?: number;
}

/** One agent's sandboxes. */
interface AgentPool {
  manifest: string;
  idle: { warm: WarmSandbox; policyKey: string; moduleStamp: string | null; expiry: number }[];
  starting: number;
  failures: number;
}

/** How many sandboxes of an agent wait, and start. */
export interface PoolStats {
  /** Sandboxes waiting for a run. */
  idle: number;
  /** Sandboxes starting. */
  starting: number;
}

/** Warm sandboxes for the served agents. */
export class SandboxPool {
  readonly #o: PoolOptions;
  readonly #agents = new Map<string, AgentPool>();
  readonly #starts = new Set<Promise<void>>();
  /** Aborted at close: sandboxes still starting are ended at once. */
  readonly #closing = new AbortController();
  #closed = false;
  #next = 1;

  /**
   * Starts filling the pool of every agent.
   *
   * @param options The agents, the size, and the config.
   */
  constructor(options: PoolOptions) {
    this.#o = options;
    for (const [name, manifest] of options.agents) {
      this.#agents.set(name, { manifest, idle: [], starting: 0, failures: 0 });
    }
    if (options.size > 0) { for (const name of this.#agents.keys()) this.#fill(name); }
  }

  /** The pool's size per agent. */
  get size(): number {
    return this.#o.size;
  }

  /**
   * How many sandboxes of an agent wait and start.
   *
   * @param agent The agent's name.
   * @returns The counts, or null for an agent without a pool.
   */
  stats(agent: string): PoolStats | null {
    const pool = this.#agents.get(agent);
    return pool && this.#o.size > 0 ? { idle: pool.idle.length, starting: pool.starting } : null;
  }

  /**
   * Takes a waiting sandbox of an agent whose Policy and module are still the ones it was started with; one
   * that no longer matches is ended. A replacement starts in the background.
   *
   * @param agent The agent's name.
   * @param policy The agent's Policy as it is now.
   * @returns The sandbox, or null when none waits (the run starts cold).
   */
  async take(agent: string, policy: Policy): Promise<WarmSandbox | null> {
    const pool = this.#agents.get(agent);
    if (!pool || this.#closed) return null;
    const key = policyKey(policy);
    const stamp = await moduleStamp(policy);
    let found: WarmSandbox | null = null;
    while (found === null && pool.idle.length > 0) {
      const slot = pool.idle.shift()!;
      if (slot.policyKey === key && slot.moduleStamp === stamp) found = slot.warm;
      else void discardWarmSandbox(slot.warm);
    }
    pool.failures = found === null ? 0 : pool.failures;
    if (found === null) this.#fill(agent);
    return found;
  }

  /**
   * Starts the replacement of a sandbox a run took once that run has ended, or after `REFILL_MS` at the
   * latest: a sandbox starting beside a run competes with it for the cores and the supervisor's thread.
   *
   * @param agent The agent's name.
   * @param ended Settles when the run that took the sandbox has ended.
   */
  refillAfter(agent: string, ended: Promise<unknown>): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => timer = setTimeout(r, REFILL_MS));
    Promise.race([ended.catch(() => {}), late]).then(() => {
      clearTimeout(timer);
      this.#fill(agent);
    });
  }

  /** Ends every waiting sandbox and those still starting, and starts no more. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    await Promise.all([...this.#starts]);
    const idle = [...this.#agents.values()].flatMap((p) => p.idle.splice(0));
    await Promise.all(idle.map((s) => discardWarmSandbox(s.warm)));
  }

  /** Starts sandboxes of an agent until its pool is full, one at a time (starts compete for the same cores). */
  #fill(agent: string): void {
    const pool = this.#agents.get(agent)!;
    if (this.#closed || pool.starting > 0 || pool.failures >= MAX_FAILURES) return;
    if (pool.idle.length >= this.#o.size) return;
    pool.starting++;
    const start = this.#startOne(agent, pool).finally(() => {
      pool.starting--;
      this.#starts.delete(start);
      this.#fill(agent);
    });
    this.#starts.add(start);
  }

  async #startOne(agent: string, pool: AgentPool): Promise<void> {
    let warm: WarmSandbox;
    let policy: Policy;
    try {
      const loaded = await loadAgent(pool.manifest, this.#o.config);
      policy = loaded.policy;
      const plan = await planAgent(loaded, this.#o.config, { id: `pool-${Deno.pid}-${this.#next++}` });
      warm = await startWarmSandbox(plan, { timeoutMs: START_TIMEOUT_MS, signal: this.#closing.signal });
    } catch (e) {
      if (this.#closed) return;
      pool.failures++;
      const error = failureOf(e);
      this.#o.onEvent?.({ type: "failed", agent, error, gaveUp: pool.failures >= MAX_FAILURES });
      return;
    }
    if (this.#closed) return void await discardWarmSandbox(warm);
    pool.failures = 0;
    const slot = {
      warm,
      policyKey: policyKey(policy),
      moduleStamp: await moduleStamp(policy),
      expiry: performance.now() + (this.#o.maxIdleMs ?? MAX_IDLE_MS),
    };
    pool.idle.push(slot);
    this.#watch(agent, pool, slot);
    this.#o.onEvent?.({ type: "warm", agent, startedMs: warm.startedMs, preparedMs: warm.preparedMs });
  }

  /** Replaces a waiting sandbox when it exits or has waited too long. */
  #watch(agent: string, pool: AgentPool, slot: AgentPool["idle"][number]): void {
    const timer = setTimeout(() => drop(), Math.max(0, slot.expiry - performance.now()));
    Deno.unrefTimer(timer);
    const drop = () => {
      clearTimeout(timer);
      const at = pool.idle.indexOf(slot);
      if (at === -1) return; // taken
      pool.idle.splice(at, 1);
      void discardWarmSandbox(slot.warm).then(() => this.#fill(agent));
    };
    slot.warm.process.child.status.then(drop, drop);
  }
}

/** A Policy's identity: a pooled sandbox runs only for the Policy it was started with. */
function policyKey(policy: Policy): string {
  return JSON.stringify(policy);
}

/** The module file's stamp (size, mtime, inode): a module changed on disk is not the one a sandbox prepared. */
async function moduleStamp(policy: Policy): Promise<string | null> {
  const path = policy.agent.module;
  if (path === null) return null;
  const info = await Deno.stat(path).catch(() => null);
  return info ? `${info.size}:${info.mtime?.getTime()}:${info.ino}:${info.dev}` : "missing";
}

function failureOf(e: unknown): Failure {
  const err = e as { code?: unknown; message?: unknown; hint?: unknown };
  return {
    code: typeof err?.code === "string" ? err.code as Failure["code"] : "ERR_SANDBOX_START",
    message: typeof err?.message === "string" ? err.message : String(e),
    hint: typeof err?.hint === "string" ? err.hint : "",
  };
}
