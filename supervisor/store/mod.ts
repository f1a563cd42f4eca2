/**
 * The run store: runs and their events in `<state_dir>/ironclaw.db` (SQLite),
 * or in a PostgreSQL database shared by many machines (`[store] url`), behind
 * the {@linkcode RunStore} interface.
 *
 * @module
 */

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
 * Opens the store of a state folder (or the PostgreSQL store at `options.url`), and marks `lost` the runs whose
 * owner died (or queues them again).
 *
 * @param stateDir The runtime's state folder.
 * @param options A PostgreSQL URL, and test-only settings.
 * @returns The store; close it when done.
 * @throws {IronclawError} `ERR_STORE` when it cannot be opened.
 */
export async function openStore(stateDir: string, options: SqliteStoreOptions = {}): Promise<RunStore> {
  let store: RunStore;
  if (options.url) {
    // Loaded only when asked for: the SQLite path (and the CLI's start) never loads the PostgreSQL client.
    const { PostgresRunStore } = await import("./postgres.ts");
    store = await PostgresRunStore.open(options.url);
  } else {
    store = SqliteRunStore.open(stateDir, options);
  }
  if (store instanceof SqliteRunStore && store.readOnly) return store;
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
 * @param options `readOnly`: a SQLite store that cannot be written is opened to be read (nothing is reaped).
 * @returns The store; close it when done.
 * @throws {IronclawError} `ERR_STORE` when it cannot be opened.
 */
export function openConfiguredStore(
  config: Pick<RuntimeConfig, "runtime" | "store">,
  options: Pick<SqliteStoreOptions, "readOnly"> = {},
): Promise<RunStore> {
  return openStore(config.runtime.state_dir, {
    ...options,
    ...(config.store.url ? { url: config.store.url } : {}),
  });
}
