/**
 * Run records: every run gets an id, a row in the run store
 * (`<state_dir>/ironclaw.db`) and its events, written in batches as they
 * arrive (see `store/`).
 *
 * @module
 */

import { openStore, type RunFilter, type RunRecordView, type RunSummary } from "./store/mod.ts";

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
    store.close();
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
    store.close();
  }
}
