/**
 * What the SQLite and PostgreSQL stores share: the row of a run, the events
 * the store itself writes (queued, lost, requeued), and the errors both give,
 * so the two backends answer alike.
 *
 * @module
 */

import { IronclawError } from "../../manifests/errors.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import { EXIT_CODES } from "../outcome.ts";
import type { ClaimedRun, RunLease, RunSummary } from "./store.ts";

/** The hint of an `ERR_STORE` of the SQLite store. */
export const STORE_HINT =
  "check that the state folder exists, is a folder, is writable and its disk has room (or set [runtime] state_dir)";

/**
 * An `ERR_STORE` for a failure of the store at `path`; an `IronclawError` passes as it is.
 *
 * @param e What failed.
 * @param path The store, as the message names it (a file, or a URL without its password).
 * @param options The hint, when not the SQLite store's.
 * @returns The error.
 */
export function storeError(e: unknown, path: string, options: { hint?: string } = {}): IronclawError {
  if (e instanceof IronclawError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new IronclawError("ERR_STORE", `Cannot use the run store "${path}": ${message}`, {
    hint: options.hint ?? STORE_HINT,
    cause: e,
  });
}

/** A row of the `runs` table. */
export interface Row {
  id: string;
  agent: string;
  manifest: string;
  task: string;
  started: string;
  ended: string | null;
  state: string;
  exit_code: number | null;
  owner_pid: number | null;
  owner_host: string | null;
  owner_start: string | null;
  lease_expires: number | null;
  fence: number;
  attempts: number;
  retries: number;
  effects: number;
  queued_at: number | null;
}

/** A run's first event when it is queued. */
export function queuedEvent(): RunEvent {
  return { seq: 0, ms: 0, type: "state", state: "queued" };
}

/** The event that ends a lost run, or says it was queued again. */
export function lostEvent(
  r: Pick<Row, "owner_pid" | "owner_host" | "attempts">,
  options: { seq: number; requeue: boolean },
): RunEvent & { seq: number } {
  const { seq, requeue } = options;
  const owner = r.owner_pid === null ? "no owner recorded" : `pid ${r.owner_pid} on "${r.owner_host}"`;
  const message = `The run's supervisor died before the run ended (${owner})`;
  if (requeue) return { seq, ms: null, type: "requeued", attempt: r.attempts, reason: message };
  const error = {
    code: "ERR_LOST",
    message,
    hint: "the process that ran it was killed or crashed; run the agent again",
  };
  return { seq, ms: null, type: "end", state: "lost", output: null, error, exitCode: EXIT_CODES.lost };
}

/** The `end` event of a queued run cancelled before a worker took it. */
export function cancelledEvent(seq: number): RunEvent & { seq: number } {
  const error = {
    code: "ERR_INTERRUPTED",
    message: "The run was cancelled before it started",
    hint: "",
  };
  return {
    seq,
    ms: null,
    type: "end",
    state: "interrupted",
    output: null,
    error,
    exitCode: EXIT_CODES.interrupted,
  };
}

/** A claimed run as {@linkcode RunStore.claimRun} answers it. */
export function claimedOf(r: Row, options: { firstSeq: number }): ClaimedRun {
  return {
    summary: summaryOf(r),
    lease: { id: r.id, fence: r.fence },
    attempt: r.attempts,
    firstSeq: options.firstSeq,
    queuedMs: Math.max(0, Date.now() - (r.queued_at ?? Date.now())),
  };
}

/** Waits `ms`, or less when the signal aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A row as the summary the store answers. */
export function summaryOf(r: Row): RunSummary {
  return {
    id: r.id,
    agent: r.agent,
    manifest: r.manifest,
    task: r.task,
    started: r.started,
    ended: r.ended,
    state: r.state,
    exitCode: r.exit_code,
    attempts: r.attempts,
  };
}

/** The `ERR_RUN_EXISTS` of a taken id. */
export function runExists(id: string): IronclawError {
  return new IronclawError("ERR_RUN_EXISTS", `A run "${id}" already exists`, {
    hint: "give each run its own id (leave the id out and one is made)",
  });
}

/** The `ERR_LOST` of a write whose lease no longer holds. */
export function leaseLost(lease: RunLease): IronclawError {
  return new IronclawError("ERR_LOST", `The run "${lease.id}" is no longer held by this process`, {
    hint: "another process marked it lost (its lease expired); see ironclaw runs show " + lease.id,
  });
}

/** The `ERR_USAGE` of an id prefix that matches several runs, or the `ERR_NOT_FOUND` of one that matches none. */
export function runNotFound(id: string, options: { store: string; several: boolean }): IronclawError {
  if (options.several) {
    return new IronclawError("ERR_USAGE", `"${id}" matches more than one run`, {
      hint: "give more of the id",
    });
  }
  return new IronclawError("ERR_NOT_FOUND", `No run "${id}" in "${options.store}"`, {
    hint: "ironclaw runs list shows the runs",
  });
}
