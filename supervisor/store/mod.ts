/**
 * The run store: runs and their events in `<state_dir>/ironclaw.db` (SQLite),
 * behind the {@linkcode RunStore} interface.
 *
 * @module
 */

import { SqliteRunStore, type SqliteStoreOptions } from "./sqlite.ts";

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
export async function openStore(stateDir: string, options: SqliteStoreOptions = {}): Promise<SqliteRunStore> {
  const store = SqliteRunStore.open(stateDir, options);
  try {
    await store.reapLost();
  } catch (e) {
    store.close();
    throw e;
  }
  return store;
}
