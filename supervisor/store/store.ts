/**
 * The run store's interface: what a run needs from a database, so a SQLite
 * store (one machine, the default) and a PostgreSQL store (many machines, to
 * come) are used alike. Every method is asynchronous for the network backend;
 * the SQLite backend answers at once.
 *
 * @module
 */

import type { RunEvent } from "../../protocol/protocol.ts";
import type { StateAnswer, StateOp, StateScope } from "./plugin_state.ts";
import type { ApprovalStore } from "./approvals.ts";

export type * from "./approvals.ts";

/** The summary of one run. */
export interface RunSummary {
  /** The run's id: sortable by start time. */
  id: string;
  /** The agent's name. */
  agent: string;
  /** The manifest's absolute path. */
  manifest: string;
  /** The task given. */
  task: string;
  /** ISO start time. */
  started: string;
  /** ISO end time, or null while running. */
  ended: string | null;
  /** End state, or "running". */
  state: string;
  /** The exit code `ironclaw run` gave (or the `lost` code), or null while running. */
  exitCode: number | null;
  /** How many times it was started: 1 for a run started at once; 0 for a run still queued. */
  attempts: number;
}

/** What is known of a run when it is created. */
export type NewRun = Omit<RunSummary, "ended" | "state" | "exitCode" | "attempts">;

/** A run put in the queue (`ironclaw submit`), for a worker to take. */
export interface QueuedRun extends NewRun {
  /**
   * How many times it may be started again when its worker dies ([limits] retries): only while it made no
   * allowed side effect (a write, a fetch, a program).
   */
  retries: number;
}

/** A queued run a worker took: now running, held by the worker. */
export interface ClaimedRun {
  /** The run, in state `running`. */
  summary: RunSummary;
  /** Its lease: every write carries its fencing token. */
  lease: RunLease;
  /** This attempt's number: 1 for the first start. */
  attempt: number;
  /** The `seq` of this attempt's first event: earlier attempts keep theirs. */
  firstSeq: number;
  /** How long it waited in the queue, in ms. */
  queuedMs: number;
}

/** Options of {@linkcode RunStore.claimRun}. */
export interface ClaimOptions {
  /** The worker taking the run. */
  owner: RunOwner;
  /** How long its lease lasts without renewal, in ms. */
  leaseMs: number;
  /** Only runs of these agents (the agents this worker can run); default any. */
  agents?: readonly string[];
}

/** The process that owns a run: the one whose death makes the run `lost`. */
export interface RunOwner {
  /** Its process id. */
  pid: number;
  /** Its machine's host name ("" when unknown). */
  host: string;
  /** When the process started, as the kernel tells it ("" when unknown): tells a reused pid from the owner. */
  startMark: string;
}

/** A run held by its owner: every write carries the fencing token, refused once another process took the run. */
export interface RunLease {
  /** The run's id. */
  readonly id: string;
  /** The fencing token given when the lease was taken. */
  readonly fence: number;
}

/** Filters of {@linkcode RunStore.listRuns}. */
export interface RunFilter {
  /** Only runs of this agent. */
  agent?: string;
  /** Only runs in this state. */
  state?: string;
  /** Only runs started at or after this time. */
  since?: Date;
  /** At most this many (newest first). */
  limit?: number;
  /**
   * Only runs after this one in the order of the list (older, or as old with a smaller id): the id of the last
   * run of the page before, so pages stay right while new runs come. An id no longer in the store gives none.
   */
  before?: string;
}

/** A run's summary and events. */
export interface RunRecordView {
  /** The summary. */
  summary: RunSummary;
  /** Every event, in order. */
  events: RunEvent[];
}

/** How a run ended, for {@linkcode RunStore.closeRun}. */
export interface RunClose {
  /** The end state. */
  state: string;
  /** Its exit code. */
  exitCode: number;
}

/** The store of runs and their events, and of the approvals their gate calls wait for. */
export interface RunStore extends ApprovalStore {
  /**
   * Creates a run, held by its owner.
   *
   * @throws {IronclawError} `ERR_RUN_EXISTS` when the id is taken, `ERR_STORE` when the store cannot be written.
   */
  createRun(run: NewRun, options: { owner: RunOwner; leaseMs: number }): Promise<RunLease>;
  /**
   * Appends events (stamped with their `seq`) in one transaction; refused once the lease is lost.
   *
   * @throws {IronclawError} `ERR_LOST` when the lease was lost, `ERR_STORE` when the store cannot be written.
   */
  appendEvents(lease: RunLease, events: RunEvent[]): Promise<void>;
  /**
   * Renews a lease until `leaseMs` from now.
   *
   * @throws {IronclawError} `ERR_LOST` when the lease was lost, `ERR_STORE` when the store cannot be written.
   */
  renewLease(lease: RunLease, leaseMs: number): Promise<void>;
  /**
   * Appends the last events and closes the run in one transaction.
   *
   * @throws {IronclawError} `ERR_LOST` when the lease was lost, `ERR_STORE` when the store cannot be written.
   */
  closeRun(lease: RunLease, end: RunClose & { events: RunEvent[] }): Promise<void>;
  /** Runs, newest first. */
  listRuns(filter?: RunFilter): Promise<RunSummary[]>;
  /**
   * One run by id or unique prefix.
   *
   * @throws {IronclawError} `ERR_NOT_FOUND` when no run matches, `ERR_USAGE` when several do.
   */
  showRun(id: string): Promise<RunRecordView>;
  /** A run's events with `seq` greater than `after` (-1 for all), in order. */
  eventsAfter(id: string, after: number): Promise<RunEvent[]>;
  /** Deletes the runs that started before `before` and are not running; returns them. */
  prune(before: Date): Promise<RunSummary[]>;
  /**
   * Marks `lost` every running run whose lease expired or whose owner on this host is gone, and returns their
   * ids. A lost run that may be retried (its `retries` not used up) and made no allowed side effect is queued
   * again instead, with a `requeued` event.
   */
  reapLost(): Promise<string[]>;
  /**
   * Puts a run in the queue, in state `queued`, and wakes the workers.
   *
   * @throws {IronclawError} `ERR_RUN_EXISTS` when the id is taken, `ERR_STORE` when the store cannot be written.
   */
  enqueueRun(run: QueuedRun): Promise<void>;
  /**
   * Takes the oldest queued run (of the given agents), in one transaction that no other worker can share: it
   * becomes `running`, held by the owner, with a new fencing token.
   *
   * @returns The run, or null when none waits.
   * @throws {IronclawError} `ERR_STORE` when the store cannot be written.
   */
  claimRun(options: ClaimOptions): Promise<ClaimedRun | null>;
  /**
   * Hands a claimed run back to the queue before it started (a worker stopping): `queued` again, this attempt
   * not counted, and the old lease fenced off.
   *
   * @throws {IronclawError} `ERR_LOST` when the lease was lost, `ERR_STORE` when the store cannot be written.
   */
  releaseRun(lease: RunLease): Promise<void>;
  /**
   * Ends a run that is still queued as `interrupted` (exit 130) with an `end` event, in one transaction that
   * changes nothing when the run is no longer queued (a worker took it, or it ended).
   *
   * @param id The run's full id.
   * @returns True when the run was queued and is now ended; false when it was not queued (or does not exist).
   * @throws {IronclawError} `ERR_STORE` when the store cannot be written.
   */
  cancelQueued(id: string): Promise<boolean>;
  /**
   * Records that the run made an allowed side effect (a write, a fetch, a program): it is never retried.
   *
   * @throws {IronclawError} `ERR_LOST` when the lease was lost, `ERR_STORE` when the store cannot be written.
   */
  markEffect(lease: RunLease): Promise<void>;
  /**
   * Waits until a run may have been queued (PostgreSQL: a notification; SQLite: the poll interval), at most
   * `ms`, or until the signal aborts.
   */
  waitForWork(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * One operation on a plugin's state for one agent (get, set, delete, cas, list), in one transaction: concurrent
   * writers never lose an acknowledged write.
   *
   * @throws {IronclawError} `ERR_INVALID_ARGS` for a bad key or value, `ERR_LIMIT` for a value over its cap,
   *   `ERR_STORE` when the store cannot be written.
   */
  pluginState(scope: StateScope, op: StateOp): Promise<StateAnswer>;
  /** Closes the store. */
  close(): Promise<void>;
}
