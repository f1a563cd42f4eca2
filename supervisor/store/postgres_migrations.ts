/**
 * The PostgreSQL store's schema: the same numbered migrations as the SQLite
 * store's (`migrations.ts`), with the same versions and names, each applied
 * once in its own transaction that holds an advisory lock, so two processes
 * opening a new database at once apply each migration once.
 *
 * @module
 */

// @ts-types="@types/pg"
import type pg from "pg";

/** One step of the PostgreSQL schema. */
export interface PostgresMigration {
  /** Its number, as in the SQLite store. */
  version: number;
  /** What it does, as in the SQLite store. */
  name: string;
  /** The SQL that applies it ("" for a step that has nothing to do here). */
  sql: string;
}

/** The advisory lock every migration transaction takes (any constant; this one spells "ironclaw"). */
const MIGRATION_LOCK = 0x69726f6e636c6177n;

/** The migrations, in order. Text that is sorted or compared by prefix is in the "C" collation, as in SQLite. */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: "runs and events",
    sql: `
      CREATE TABLE runs (
        id TEXT COLLATE "C" PRIMARY KEY,
        agent TEXT NOT NULL,
        manifest TEXT NOT NULL,
        task TEXT NOT NULL,
        started TEXT COLLATE "C" NOT NULL,
        ended TEXT,
        state TEXT NOT NULL,
        exit_code INTEGER,
        owner_pid INTEGER,
        owner_host TEXT,
        owner_start TEXT,
        lease_expires BIGINT,
        fence INTEGER NOT NULL DEFAULT 1
      );
      CREATE INDEX runs_started ON runs (started);
      CREATE INDEX runs_state ON runs (state);
      CREATE TABLE events (
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
    `,
  },
  // The file records of older versions belong to one machine's state folder, not to a database that many
  // machines share: they are imported into the SQLite store only, and this step is recorded as applied.
  { version: 2, name: "import the file records of <state_dir>/runs", sql: "" },
  {
    version: 3,
    name: "plugin state",
    sql: `
      CREATE TABLE plugin_state (
        plugin TEXT NOT NULL,
        agent TEXT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated TEXT NOT NULL,
        PRIMARY KEY (plugin, agent, key)
      );
    `,
  },
  {
    version: 4,
    name: "the queue of runs, and approvals",
    sql: `
      ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN effects INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN queued_at BIGINT;
      CREATE INDEX runs_queue ON runs (state, queued_at);
      CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        run_id TEXT COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        op TEXT NOT NULL,
        args TEXT NOT NULL,
        digest TEXT NOT NULL,
        state TEXT NOT NULL,
        requested TEXT NOT NULL,
        decided TEXT,
        decided_by TEXT,
        remember TEXT
      );
      CREATE INDEX approvals_state ON approvals (state);
      CREATE INDEX approvals_run ON approvals (run_id);
    `,
  },
];

/**
 * Applies the migrations not yet applied, each in its own transaction under one advisory lock.
 *
 * @param client A connection, not in a transaction.
 */
export async function migratePostgres(client: pg.ClientBase): Promise<void> {
  for (const m of POSTGRES_MIGRATIONS) {
    await client.query("BEGIN");
    try {
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK.toString()]);
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)",
      );
      const done = await client.query("SELECT 1 FROM schema_migrations WHERE version = $1", [m.version]);
      if (done.rowCount === 0) {
        if (m.sql) await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)", [
          m.version,
          m.name,
          new Date().toISOString(),
        ]);
      }
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    }
  }
}
