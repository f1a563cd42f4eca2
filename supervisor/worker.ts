/**
 * A worker: takes queued runs from the store (`ironclaw submit` put them
 * there), runs each under its own lease, and ends every run it took in a
 * terminal state. Several workers, on one machine or many (a PostgreSQL
 * store), share one queue: a claim is one transaction no other worker shares,
 * every write carries the run's fencing token, and a run whose worker died
 * is marked `lost` by the next worker that looks (or queued again when its
 * `[limits] retries` allow and it made no side effect).
 *
 * @module
 */

import { type Failure, failureOf as failureOrInternal, IronclawError } from "../manifests/errors.ts";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { AgentsByName } from "./agents_dir.ts";
import { loadAgent, type LoadedAgent } from "./load.ts";
import { EXIT_CODES } from "./outcome.ts";
import { planAgent } from "./plan.ts";
import { runPlanned } from "./run.ts";
import type { RunHandle } from "./supervisor.ts";
import type { SandboxPool } from "./pool.ts";
import { discardWarmSandbox } from "./warm_sandbox.ts";
import { type ClaimedRun, LEASE_MS, type RunStore, RunWriter } from "./store/mod.ts";
import { currentOwner } from "./store/owner.ts";

/** How often a worker marks the runs of dead workers, in ms. */
const REAP_MS = 2_000;
/** The longest an idle worker waits before it looks at the queue again, in ms. */
const IDLE_MS = 5_000;

/** What a worker tells of its runs. */
export type WorkerEvent =
  | { type: "claimed"; id: string; agent: string; attempt: number; queuedMs: number }
  | { type: "released"; id: string }
  | { type: "ended"; id: string; state: string; exitCode: number }
  | { type: "problem"; message: string; hint?: string | undefined };

/** The code and words of an error, for a run's `end` event. */
function failureOf(e: unknown): Failure {
  return failureOrInternal(e, "ERR_INTERNAL");
}

/** Options of {@linkcode runWorker}. */
export interface WorkerOptions {
  /** The runtime config in force: its state folder keeps caches, its store holds the queue (unless `store`). */
  config: RuntimeConfig;
  /** The store of the queue; default the config's, opened by the caller. */
  store: RunStore;
  /** How many runs at once; default 1. */
  concurrency?: number;
  /** The agents this worker runs, by name (`--agents DIR`); default each run's recorded manifest. */
  agents?: AgentsByName;
  /** Aborted: take no more runs, hand back those not started, let the running ones end. */
  drain?: AbortSignal;
  /** Aborted (after `drain`): stop the running ones too (they end `interrupted`). */
  stop?: AbortSignal;
  /** Told of each run taken, handed back and ended, and of problems with the store. */
  onEvent?: (event: WorkerEvent) => void;
  /** Receives the events of every run. */
  onRunEvent?: (event: RunEvent) => void;
  /** Told each time events of a run (or its end) are durable in the store. */
  onRunStored?: () => void;
  /** Warm sandboxes of the agents (`[serve] pool`): a run takes one when one waits, else starts cold. */
  pool?: SandboxPool;
}

/** What a worker did. */
export interface WorkerSummary {
  /** The runs it ran to an end. */
  ran: number;
  /** The runs it handed back. */
  released: number;
}

/**
 * Runs a worker until `drain` aborts and its runs have ended.
 *
 * @param options The config, the store, how many runs at once, the agents, the signals.
 * @returns How many runs it ran and handed back.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  return await startWorker(options).done;
}

/** A worker started by {@linkcode startWorker}. */
export interface WorkerHandle {
  /** Resolves when `drain` aborted and its runs have ended. */
  readonly done: Promise<WorkerSummary>;
  /** How many runs it holds now (taken, being prepared or running). */
  readonly running: number;
  /**
   * Stops one run this worker holds: a running one ends `interrupted` (as on `stop`); one being prepared ends
   * `interrupted` before its sandbox starts.
   *
   * @param id The run's full id.
   * @param reason Why, for its `state` event and its end's error.
   * @returns True when this worker holds the run; false when it does not (queued, ended, or another worker's).
   */
  cancel(id: string, reason?: string): boolean;
  /** Looks for queued runs now instead of at its next poll (its owner has just queued one). */
  wake(): void;
}

/**
 * Starts a worker that runs until `drain` aborts and its runs have ended, and can stop one of its runs.
 *
 * @param options The config, the store, how many runs at once, the agents, the signals.
 * @returns The worker: its end, and a way to stop one run.
 * @example
 * ```ts ignore
 * const worker = startWorker({ config, store, concurrency: 4, drain: drain.signal });
 * worker.cancel(runId, "cancelled by its submitter");
 * const { ran } = await worker.done;
 * ```
 */
export function startWorker(options: WorkerOptions): WorkerHandle {
  const worker = new QueueWorker(options);
  const done = worker.run();
  return {
    done,
    get running() {
      return worker.holding;
    },
    cancel: (id, reason) => worker.cancel(id, reason ?? "cancelled"),
    wake: () => worker.poke(),
  };
}

class QueueWorker {
  readonly #o: WorkerOptions;
  readonly #store: RunStore;
  readonly #owner = currentOwner();
  readonly #running = new Map<string, Promise<void>>();
  readonly #handles = new Map<string, RunHandle>();
  /** Telemetry exports of ended runs still in flight: the worker's end waits for them. */
  readonly #exports = new Set<Promise<void>>();
  /** Runs cancelled while being prepared, with the reason: they end before their sandbox starts. */
  readonly #cancelled = new Map<string, string>();
  readonly #summary: WorkerSummary = { ran: 0, released: 0 };
  #wake: () => void = () => {};
  #lastReap = 0;
  /** Whether {@linkcode QueueWorker.poke} was called since the last wait, and how to end the current wait. */
  #poked = false;
  #endWait: (() => void) | null = null;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#store = options.store;
    options.stop?.addEventListener("abort", () => {
      for (const h of this.#handles.values()) h.stop("the worker was stopped");
    }, { once: true });
  }

  #tell(event: WorkerEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch { /* a listener's failure changes nothing */ }
  }

  /** Ends the current wait for work, or the next one at once. */
  poke(): void {
    this.#poked = true;
    this.#endWait?.();
  }

  /** Settles when poked (at once when poked since the last wait). */
  #pokedWait(): Promise<void> {
    if (this.#poked) {
      this.#poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#endWait = () => {
        this.#poked = false;
        this.#endWait = null;
        resolve();
      };
    });
  }

  get holding(): number {
    return this.#running.size;
  }

  cancel(id: string, reason: string): boolean {
    if (!this.#running.has(id)) return false;
    const handle = this.#handles.get(id);
    if (handle) handle.stop(reason);
    else this.#cancelled.set(id, reason);
    return true;
  }

  get #draining(): boolean {
    return this.#o.drain?.aborted === true;
  }

  async run(): Promise<WorkerSummary> {
    const concurrency = Math.max(1, this.#o.concurrency ?? 1);
    // One promise for the whole run: a listener per idle wait would pile up on the signal of a long-lived worker.
    const drain = this.#o.drain;
    const drained = drain
      ? new Promise<void>((r) => drain.addEventListener("abort", () => r(), { once: true }))
      : null;
    while (!this.#draining) {
      await this.#reap();
      const claimed = this.#running.size < concurrency ? await this.#claim() : null;
      if (claimed) {
        const id = claimed.lease.id;
        this.#running.set(id, this.#execute(claimed).finally(() => this.#done(id)));
        continue;
      }
      const slotFreed = new Promise<void>((r) => this.#wake = r);
      await Promise.race([
        slotFreed,
        ...(this.#running.size < concurrency
          ? [this.#store.waitForWork(IDLE_MS, this.#o.drain), this.#pokedWait()]
          : []),
        ...(drained ? [drained] : []),
      ]);
    }
    await Promise.all(this.#running.values());
    await Promise.all(this.#exports);
    return this.#summary;
  }

  #done(id: string): void {
    this.#running.delete(id);
    this.#handles.delete(id);
    this.#cancelled.delete(id);
    this.#wake();
  }

  async #reap(): Promise<void> {
    if (Date.now() - this.#lastReap < REAP_MS) return;
    this.#lastReap = Date.now();
    try {
      await this.#store.reapLost();
    } catch (e) {
      this.#tell({ type: "problem", ...failureOf(e) });
    }
  }

  async #claim(): Promise<ClaimedRun | null> {
    try {
      const agents = this.#o.agents ? [...this.#o.agents.keys()] : undefined;
      return await this.#store.claimRun({
        owner: this.#owner,
        leaseMs: LEASE_MS,
        ...(agents ? { agents } : {}),
      });
    } catch (e) {
      // A store that cannot be reached: said once per try, and tried again after the idle wait.
      this.#tell({ type: "problem", ...failureOf(e) });
      await this.#store.waitForWork(IDLE_MS, this.#o.drain).catch(() => {});
      return null;
    }
  }

  /** Runs one claimed run to its end; a run that cannot start ends `error` with the reason, never stays taken. */
  async #execute(claimed: ClaimedRun): Promise<void> {
    const { summary, lease } = claimed;
    this.#tell({
      type: "claimed",
      id: lease.id,
      agent: summary.agent,
      attempt: claimed.attempt,
      queuedMs: claimed.queuedMs,
    });
    try {
      const manifest = this.#o.agents ? this.#o.agents.get(summary.agent) : summary.manifest;
      if (manifest === undefined) throw notHere(summary.agent);
      const agent = await loadAgent(manifest, this.#o.config);
      if (agent.policy.agent.name !== summary.agent) throw renamed(summary.agent, manifest);
      const cancelled = this.#cancelled.get(lease.id);
      if (cancelled !== undefined) return await this.#endWith(claimed, stoppedBefore(cancelled));
      if (this.#draining) return await this.#release(claimed);
      const handle = await this.#start(claimed, agent);
      this.#handles.set(lease.id, handle);
      if (this.#o.stop?.aborted) handle.stop("the worker was stopped");
      const late = this.#cancelled.get(lease.id); // cancelled while its sandbox was being started
      if (late !== undefined) handle.stop(late);
      const outcome = await handle.done;
      const exported = handle.exported;
      if (exported) {
        this.#exports.add(exported);
        exported.finally(() => this.#exports.delete(exported));
      }
      this.#summary.ran++;
      this.#tell({ type: "ended", id: lease.id, state: outcome.state, exitCode: outcome.exitCode });
    } catch (e) {
      await this.#endWith(claimed, e);
    }
  }

  /**
   * Starts a claimed run: in a warm sandbox of its agent when the pool has one, else in a new one. A warm
   * sandbox's replacement starts once the run that took it has ended (or it could not start).
   */
  async #start(claimed: ClaimedRun, agent: LoadedAgent): Promise<RunHandle> {
    const { summary, lease } = claimed;
    const pool = this.#o.pool;
    const warm = await pool?.take(summary.agent, agent.policy) ?? null;
    const plan = warm?.plan ?? await planAgent(agent, this.#o.config, { id: lease.id });
    try {
      const handle = await runPlanned(plan, {
        task: summary.task,
        store: this.#store,
        claimed,
        ...(warm ? { warm } : {}),
        ...(this.#o.onRunEvent ? { onEvent: this.#o.onRunEvent } : {}),
        ...(this.#o.onRunStored ? { onStored: this.#o.onRunStored } : {}),
      });
      if (warm) pool!.refillAfter(summary.agent, handle.done);
      return handle;
    } catch (e) {
      if (warm) pool!.refillAfter(summary.agent, discardWarmSandbox(warm));
      throw e;
    }
  }

  /** Hands a run back to the queue: the worker is stopping and had not started it. */
  async #release(claimed: ClaimedRun): Promise<void> {
    await this.#store.releaseRun(claimed.lease);
    this.#summary.released++;
    this.#tell({ type: "released", id: claimed.lease.id });
  }

  /** Ends a claimed run that could not start with `error` and its reason (`interrupted` when it was cancelled). */
  async #endWith(claimed: ClaimedRun, e: unknown): Promise<void> {
    const error = failureOf(e);
    const record = new RunWriter(this.#store, claimed.lease, {
      firstSeq: claimed.firstSeq,
      onError: (f) => this.#tell({ type: "problem", message: f.message, hint: f.hint }),
    });
    const state = error.code === "ERR_INTERRUPTED" ? "interrupted" : "error";
    const exitCode = EXIT_CODES[state];
    const end = record.append({ type: "end", state, output: null, error, exitCode });
    this.#o.onRunEvent?.(end);
    await record.close(state, exitCode);
    this.#summary.ran++;
    this.#tell({ type: "ended", id: claimed.lease.id, state, exitCode });
  }
}

function stoppedBefore(reason: string): IronclawError {
  return new IronclawError("ERR_INTERRUPTED", `The run was stopped before it started: ${reason}`, {
    hint: "submit the run again to run it",
  });
}

function notHere(agent: string): IronclawError {
  return new IronclawError("ERR_NOT_FOUND", `This worker has no agent "${agent}" in its agents folder`, {
    hint: "give every worker the same agents folder (--agents DIR), or submit the run with a manifest path",
  });
}

function renamed(agent: string, manifest: string): IronclawError {
  return new IronclawError(
    "ERR_NOT_FOUND",
    `The manifest "${manifest}" no longer names the agent "${agent}"`,
    {
      hint: "the manifest changed after the run was queued: submit the run again",
    },
  );
}
