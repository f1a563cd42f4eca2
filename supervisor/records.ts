/**
 * Run records: every run gets an id, a row in the run store
 * (`<state_dir>/ironclaw.db`) and its events, written in batches as they
 * arrive (see `store/`).
 *
 * @module
 */

import type { RunEvent } from "../protocol/protocol.ts";
import { abortableSleep } from "./store/sqlite.ts";
import {
  openStore,
  type RunFilter,
  type RunRecordView,
  type RunStore,
  type RunSummary,
} from "./store/mod.ts";

export type { RunFilter, RunSummary } from "./store/mod.ts";

/** A new run id: UTC start time and a random suffix, so ids sort by start. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const rand = crypto.getRandomValues(new Uint8Array(3));
  return `${stamp}-${[...rand].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * The runs recorded in a state folder, newest first. Runs whose supervisor died are marked `lost` first.
 *
 * @param stateDir The runtime's state folder.
 * @param filter Only runs of an agent, in a state, started since a time; at most `limit` of them.
 * @returns Their summaries.
 * @throws {IronclawError} `ERR_STORE` when the store cannot be opened.
 */
export async function listRuns(stateDir: string, filter: RunFilter = {}): Promise<RunSummary[]> {
  const store = await openStore(stateDir);
  try {
    return await store.listRuns(filter);
  } finally {
    await store.close();
  }
}

/**
 * One run's summary and events.
 *
 * @param stateDir The runtime's state folder.
 * @param id The run's id, or a unique prefix of it.
 * @returns The summary and every event, in order.
 * @throws {IronclawError} `ERR_NOT_FOUND` when no run matches, `ERR_USAGE` when several do, `ERR_STORE` when the
 *   store cannot be opened.
 */
export async function showRun(stateDir: string, id: string): Promise<RunRecordView> {
  const store = await openStore(stateDir);
  try {
    return await store.showRun(id);
  } finally {
    await store.close();
  }
}

/** How often {@linkcode followRun} looks for new events, in ms. */
const FOLLOW_MS = 200;

/**
 * Follows a run's events as they are written, from the first, until its `end` event (a run whose owner died
 * meanwhile gets its `lost` end, as the store is reaped while waiting).
 *
 * @param store The store.
 * @param options The run's id or unique prefix, what receives each event, and a signal to stop following.
 * @returns The `end` event, or null when the signal aborted first.
 * @throws {IronclawError} `ERR_NOT_FOUND` when no run matches, `ERR_STORE` when the store cannot be read.
 */
export async function followRun(
  store: RunStore,
  options: { id: string; onEvent: (event: RunEvent) => void; signal?: AbortSignal },
): Promise<RunEvent | null> {
  const { summary } = await store.showRun(options.id);
  let after = -1;
  while (!options.signal?.aborted) {
    const events = await store.eventsAfter(summary.id, after);
    for (const e of events) {
      options.onEvent(e);
      after = e.seq as number;
      if (e.type === "end") return e;
    }
    if (events.length === 0) {
      await store.reapLost(); // an owner that died meanwhile: its run gets its end
      await abortableSleep(FOLLOW_MS, options.signal);
    }
  }
  return null;
}
