/**
 * The store's schema, as numbered migrations applied in order when a store is
 * opened, each once (the `schema_migrations` table says which were), in one
 * transaction with the version it records. The same numbers will hold for the
 * PostgreSQL store.
 *
 * @module
 */

import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";

/** One step of the schema. */
export interface Migration {
  /** Its number: applied in increasing order, each once. */
  version: number;
  /** What it does. */
  name: string;
  /** Applies it (inside the transaction that records it). */
  up(db: DatabaseSync, context: { stateDir: string }): void;
}

/** The migrations, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "runs and events",
    up: (db) =>
      db.exec(`
        CREATE TABLE runs (
          id TEXT PRIMARY KEY,
          agent TEXT NOT NULL,
          manifest TEXT NOT NULL,
          task TEXT NOT NULL,
          started TEXT NOT NULL,
          ended TEXT,
          state TEXT NOT NULL,
          exit_code INTEGER,
          owner_pid INTEGER,
          owner_host TEXT,
          owner_start TEXT,
          lease_expires INTEGER,
          fence INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX runs_started ON runs (started);
        CREATE INDEX runs_state ON runs (state);
        CREATE TABLE events (
          run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
          seq INTEGER NOT NULL,
          body TEXT NOT NULL,
          PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID;
      `),
  },
  { version: 2, name: "import the file records of <state_dir>/runs", up: importFileRecords },
  {
    version: 3,
    name: "plugin state",
    up: (db) =>
      db.exec(`
        CREATE TABLE plugin_state (
          plugin TEXT NOT NULL,
          agent TEXT NOT NULL,
          key TEXT NOT NULL,
          value TEXT NOT NULL,
          version INTEGER NOT NULL,
          updated TEXT NOT NULL,
          PRIMARY KEY (plugin, agent, key)
        ) WITHOUT ROWID;
      `),
  },
  {
    version: 4,
    name: "the queue of runs, and approvals",
    up: (db) =>
      db.exec(`
        ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN effects INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN queued_at INTEGER;
        CREATE INDEX runs_queue ON runs (state, queued_at);
        CREATE TABLE approvals (
          id TEXT PRIMARY KEY,
          run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
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
      `),
  },
];

/**
 * Applies the migrations not yet applied, each in its own immediate transaction (so two processes opening a new
 * store at once apply each migration once).
 *
 * @param db The database.
 * @param context The state folder (for the import of file records).
 */
export function migrate(db: DatabaseSync, context: { stateDir: string }): void {
  db.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)",
  );
  const applied = db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
  for (const m of MIGRATIONS) {
    if (applied.get(m.version)) continue;
    db.exec("BEGIN IMMEDIATE");
    try {
      if (!applied.get(m.version)) {
        m.up(db, context);
        db.prepare("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)")
          .run(m.version, m.name, new Date().toISOString());
      }
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }
}

/** The records of IronClaw before the store (`runs/<id>/run.json` and `events.jsonl`), copied in; the files stay. */
function importFileRecords(db: DatabaseSync, context: { stateDir: string }): void {
  const dir = join(context.stateDir, "runs");
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return;
  }
  const run = db.prepare(
    `INSERT OR IGNORE INTO runs (id, agent, manifest, task, started, ended, state, exit_code)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const event = db.prepare("INSERT OR IGNORE INTO events (run_id, seq, body) VALUES (?, ?, ?)");
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const s = readJson(join(dir, e.name, "run.json")) ?? {};
    const text = (() => {
      try {
        return Deno.readTextFileSync(join(dir, e.name, "events.jsonl"));
      } catch {
        return "";
      }
    })();
    const str = (v: unknown, d: string) => typeof v === "string" ? v : d;
    // A record left "running" has no owner and no lease: the next reaping marks it lost.
    run.run(
      e.name,
      str(s.agent, "?"),
      str(s.manifest, "?"),
      str(s.task, ""),
      str(s.started, ""),
      typeof s.ended === "string" ? s.ended : null,
      str(s.state, "unreadable"),
      typeof s.exitCode === "number" ? s.exitCode : null,
    );
    let seq = 0;
    for (const line of text.split("\n")) {
      const parsed = line ? parseLine(line) : null;
      if (parsed) event.run(e.name, seq++, JSON.stringify({ ...parsed, seq: seq - 1 }));
    }
  }
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path));
    return typeof v === "object" && v !== null ? v : null;
  } catch {
    return null;
  }
}

function parseLine(line: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(line);
    return typeof v === "object" && v !== null && typeof v.type === "string" ? v : null;
  } catch {
    return null; // a torn last line
  }
}
