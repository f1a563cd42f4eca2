/**
 * The run store: runs and their events in `<state_dir>/ironclaw.db` (SQLite),
 * behind the {@linkcode RunStore} interface.
 *
 * @module
 */

import { IronclawError } from "../../manifests/errors.ts";
import type { RuntimeConfig } from "../../manifests/runtime_config.ts";
import { SqliteRunStore, type SqliteStoreOptions } from "./sqlite.ts";
import type { RunStore } from "./store.ts";

export type * from "./store.ts";
export {
  MAX_STATE_KEY,
  MAX_STATE_VALUE_BYTES,
  type StateAnswer,
  type StateOp,
  type StateScope,
} from "./plugin_state.ts";
export { SqliteRunStore, type SqliteStoreOptions, storeError } from "./sqlite.ts";
export { LEASE_MS, RENEW_MS, RunWriter, type RunWriterOptions } from "./run_writer.ts";

/**
 * Opens the store of a state folder, and marks `lost` the runs whose owner died.
 *
 * @param stateDir The runtime's state folder.
 * @param options Test-only settings.
 * @returns The store; close it when done.
 * @throws {IronclawError} `ERR_STORE` when it cannot be opened.
 */
export async function openStore(stateDir: string, options: SqliteStoreOptions = {}): Promise<RunStore> {
  if (options.url) {
    // The PostgreSQL store comes in its own change; until then a URL is refused rather than ignored.
    throw new IronclawError("ERR_STORE", "The PostgreSQL store is not available in this build", {
      hint: "remove [store] url to use the SQLite store of the state folder",
    });
  }
  const store = SqliteRunStore.open(stateDir, options);
  if (store.readOnly) return store;
  try {
    await store.reapLost();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

/**
 * Opens the store a runtime config names: PostgreSQL when it sets `[store] url`, else the SQLite store of its
 * state folder; runs whose owner died are marked `lost` (or queued again).
 *
 * @param config The runtime config in force.
 * @returns The store; close it when done.
 * @throws {IronclawError} `ERR_STORE` when it cannot be opened.
 */
export function openConfiguredStore(config: Pick<RuntimeConfig, "runtime" | "store">): Promise<RunStore> {
  return openStore(config.runtime.state_dir, config.store.url ? { url: config.store.url } : {});
}
