/**
 * The SQLite run store: `<state_dir>/ironclaw.db`, opened with Deno's built-in
 * `node:sqlite`, in WAL mode with a busy timeout, so several processes on one
 * machine read and write it at once.
 *
 * @module
 */

import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { IronclawError } from "../../manifests/errors.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import { EXIT_CODES } from "../outcome.ts";
import { migrate, MIGRATIONS } from "./migrations.ts";
import { applyStateOp, type StateAnswer, type StateOp, type StateScope } from "./plugin_state.ts";
import { currentOwner, ownerGone } from "./owner.ts";
import {
  alreadyDecided,
  type Approval,
  type ApprovalFilter,
  approvalNotFound,
  approvalOf,
  type ApprovalRequest,
  type ApprovalRow,
  checkDecision,
  type DecideApproval,
  newApprovalId,
} from "./approvals.ts";
import {
  abortableSleep,
  cancelledEvent,
  claimedOf,
  leaseLost,
  lostEvent,
  queuedEvent,
  type Row,
  runExists,
  runNotFound,
  storeError,
  summaryOf,
} from "./_shared.ts";
import type {
  ClaimedRun,
  ClaimOptions,
  NewRun,
  QueuedRun,
  RunClose,
  RunFilter,
  RunLease,
  RunOwner,
  RunRecordView,
  RunStore,
  RunSummary,
} from "./store.ts";

export {
  abortableSleep,
  claimedOf,
  lostEvent,
  queuedEvent,
  type Row,
  runExists,
  storeError,
  summaryOf,
} from "./_shared.ts";

/** How long a writer waits for another process's lock, in ms. */
const BUSY_TIMEOUT_MS = 5000;

/** Options of {@linkcode SqliteRunStore.open}. */
export interface SqliteStoreOptions {
  /** Test-only: the most pages the database may hold, to make it fill up like a full disk. */
  maxPageCount?: number;
  /** A PostgreSQL URL (`[store] url`): the store is that database, and the SQLite file is not used. */
  url?: string;
  /**
   * The caller only reads (`ironclaw runs list`, `show`, `tail`): when the store cannot be opened for writing
   * (a read-only disk) but its database exists, it is opened read-only instead, and every write fails with
   * `ERR_STORE`. Runs whose owner died are then not marked lost.
   */
  readOnly?: boolean;
}

/** How often an idle worker looks at a SQLite queue, in ms. */
const POLL_MS = 200;

/** A store call as a promise: a throw becomes a rejection. */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The SQLite {@linkcode RunStore}. */
export class SqliteRunStore implements RunStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #readOnly: boolean;
  readonly #insertEvent: StatementSync;

  private constructor(db: DatabaseSync, path: string, readOnly = false) {
    this.#db = db;
    this.#path = path;
    this.#readOnly = readOnly;
    this.#insertEvent = db.prepare("INSERT INTO events (run_id, seq, body) VALUES (?, ?, ?)");
  }

  /**
   * Opens (and creates, migrates) `<stateDir>/ironclaw.db`.
   *
   * @param stateDir The runtime's state folder.
   * @param options Test-only settings.
   * @returns The store.
   * @throws {IronclawError} `ERR_STORE` when it cannot be opened or migrated.
   */
  static open(stateDir: string, options: SqliteStoreOptions = {}): SqliteRunStore {
    const path = join(stateDir, "ironclaw.db");
    let db: DatabaseSync | undefined;
    try {
      Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      db = new DatabaseSync(path);
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      if (options.maxPageCount) db.exec(`PRAGMA max_page_count = ${Math.trunc(options.maxPageCount)}`);
      migrate(db, { stateDir });
      return new SqliteRunStore(db, path);
    } catch (e) {
      try {
        db?.close();
      } catch { /* closed */ }
      if (options.readOnly) {
        const readOnly = SqliteRunStore.#openImmutable(path);
        if (readOnly) return readOnly;
      }
      throw storeError(e, path);
    }
  }

  /**
   * Opens an existing database that cannot be written (its disk is read-only, so nothing else writes it
   * either) as immutable: SQLite then needs neither its `-wal` nor its `-shm` file.
   *
   * @returns The store, or null when there is no database to read.
   * @throws {IronclawError} `ERR_STORE` when the database is older than this IronClaw (it cannot be migrated).
   */
  static #openImmutable(path: string): SqliteRunStore | null {
    let db: DatabaseSync;
    try {
      if (!Deno.statSync(path).isFile) return null;
      db = new DatabaseSync(`${pathToFileURL(path).href}?immutable=1`, { readOnly: true });
    } catch {
      return null;
    }
    try {
      const latest = MIGRATIONS.at(-1)?.version ?? 0;
      if (!db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?").get(latest)) {
        throw new IronclawError(
          "ERR_STORE",
          `The read-only run store "${path}" was made by an older IronClaw`,
          {
            hint: "open it once with this IronClaw where it can be written, so it is brought up to date",
          },
        );
      }
      return new SqliteRunStore(db, path, true);
    } catch (e) {
      db.close();
      throw storeError(e, path);
    }
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  /** Whether it was opened read-only (see {@linkcode SqliteStoreOptions.readOnly}): every write fails. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  #tx<T>(fn: () => T): T {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (e) {
      throw storeError(e, this.#path);
    }
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (e) {
      try {
        this.#db.exec("ROLLBACK");
      } catch { /* no transaction left */ }
      throw storeError(e, this.#path);
    }
  }

  /** Checks, inside a transaction, that the lease still holds. */
  #fenced(lease: RunLease): void {
    const row = this.#db.prepare("SELECT fence, state FROM runs WHERE id = ?").get(lease.id) as
      | Pick<Row, "fence" | "state">
      | undefined;
    if (!row || row.fence !== lease.fence || row.state !== "running") throw leaseLost(lease);
  }

  #insert(lease: RunLease, events: RunEvent[]): void {
    for (const e of events) this.#insertEvent.run(lease.id, e.seq as number, JSON.stringify(e));
  }

  createRun(run: NewRun, options: { owner: RunOwner; leaseMs: number }): Promise<RunLease> {
    return attempt(() => this.createRunSync(run, options));
  }

  /**
   * {@linkcode RunStore.createRun}, at once: `startRun` hands out its handle synchronously.
   *
   * @param run What is known at the start.
   * @param options The owner and how long its lease lasts.
   * @returns The lease.
   * @throws {IronclawError} `ERR_RUN_EXISTS` when the id is taken, `ERR_STORE` when the store cannot be written.
   */
  createRunSync(run: NewRun, options: { owner: RunOwner; leaseMs: number }): RunLease {
    const { owner, leaseMs } = options;
    return this.#tx(() => {
      this.#refuseTaken(run.id);
      this.#db.prepare(
        `INSERT INTO runs (id, agent, manifest, task, started, state, owner_pid, owner_host, owner_start,
           lease_expires, fence, attempts) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, 1, 1)`,
      ).run(
        run.id,
        run.agent,
        run.manifest,
        run.task,
        run.started,
        owner.pid,
        owner.host,
        owner.startMark,
        Date.now() + leaseMs,
      );
      return { id: run.id, fence: 1 };
    });
  }

  #refuseTaken(id: string): void {
    if (this.#db.prepare("SELECT 1 FROM runs WHERE id = ?").get(id)) throw runExists(id);
  }

  appendEvents(lease: RunLease, events: RunEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return attempt(() =>
      this.#tx(() => {
        this.#fenced(lease);
        this.#insert(lease, events);
      })
    );
  }

  renewLease(lease: RunLease, leaseMs: number): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        this.#fenced(lease);
        this.#db.prepare("UPDATE runs SET lease_expires = ? WHERE id = ?").run(
          Date.now() + leaseMs,
          lease.id,
        );
      })
    );
  }

  closeRun(lease: RunLease, end: RunClose & { events: RunEvent[] }): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        this.#fenced(lease);
        this.#insert(lease, end.events);
        this.#db.prepare(
          "UPDATE runs SET state = ?, exit_code = ?, ended = ?, lease_expires = NULL WHERE id = ?",
        ).run(end.state, end.exitCode, new Date().toISOString(), lease.id);
      })
    );
  }

  listRuns(filter: RunFilter = {}): Promise<RunSummary[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.agent !== undefined) where.push("agent = ?") && args.push(filter.agent);
    if (filter.state !== undefined) where.push("state = ?") && args.push(filter.state);
    if (filter.since !== undefined) where.push("started >= ?") && args.push(filter.since.toISOString());
    if (filter.before !== undefined) {
      where.push("(started, id) < (SELECT started, id FROM runs WHERE id = ?)") && args.push(filter.before);
    }
    const sql = `SELECT * FROM runs ${where.length ? "WHERE " + where.join(" AND ") : ""}
      ORDER BY started DESC, id DESC ${filter.limit !== undefined ? "LIMIT ?" : ""}`;
    if (filter.limit !== undefined) args.push(Math.max(0, Math.trunc(filter.limit)));
    return attempt(() => (this.#db.prepare(sql).all(...args) as unknown as Row[]).map(summaryOf));
  }

  async showRun(id: string): Promise<RunRecordView> {
    const row = this.#db.prepare("SELECT * FROM runs WHERE id = ?").get(id) as Row | undefined;
    const matches = row ? [row] : this.#db.prepare(
      "SELECT * FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 2",
    ).all(id.length, id) as unknown as Row[];
    if (matches.length !== 1) throw runNotFound(id, { store: this.#path, several: matches.length > 1 });
    const summary = summaryOf(matches[0]!);
    return { summary, events: await this.eventsAfter(summary.id, -1) };
  }

  eventsAfter(id: string, after: number): Promise<RunEvent[]> {
    return attempt(() => {
      const rows = this.#db.prepare("SELECT body FROM events WHERE run_id = ? AND seq > ? ORDER BY seq")
        .all(id, after) as unknown as { body: string }[];
      return rows.map((r) => JSON.parse(r.body));
    });
  }

  prune(before: Date): Promise<RunSummary[]> {
    return attempt(() =>
      this.#tx(() => {
        const rows = this.#db.prepare(
          "SELECT * FROM runs WHERE started < ? AND state != 'running' ORDER BY id",
        )
          .all(before.toISOString()) as unknown as Row[];
        const del = this.#db.prepare("DELETE FROM runs WHERE id = ?");
        for (const r of rows) del.run(r.id);
        return rows.map(summaryOf);
      })
    );
  }

  reapLost(): Promise<string[]> {
    return attempt(() => this.#reap());
  }

  #reap(): string[] {
    const here = currentOwner();
    const now = Date.now();
    const running = this.#db.prepare("SELECT * FROM runs WHERE state = 'running'").all() as unknown as Row[];
    const lost = running.filter((r) =>
      r.lease_expires === null || r.lease_expires < now ||
      (r.owner_pid !== null &&
        ownerGone({ pid: r.owner_pid, host: r.owner_host ?? "", startMark: r.owner_start ?? "" }, here))
    );
    if (lost.length === 0) return [];
    return this.#tx(() => lost.filter((r) => this.#markLost(r)).map((r) => r.id));
  }

  /**
   * Marks one run lost, unless it changed since it was read, and appends its `end` event; or, when it may be
   * retried and made no side effect, queues it again with a `requeued` event.
   */
  #markLost(r: Row): boolean {
    const requeue = r.effects === 0 && r.attempts <= r.retries;
    const exitCode = EXIT_CODES.lost;
    const changed = requeue
      ? this.#db.prepare(
        `UPDATE runs SET state = 'queued', owner_pid = NULL, owner_host = NULL, owner_start = NULL,
           lease_expires = NULL, fence = fence + 1, queued_at = ? WHERE id = ? AND state = 'running' AND fence = ?`,
      ).run(Date.now(), r.id, r.fence)
      : this.#db.prepare(
        `UPDATE runs SET state = 'lost', exit_code = ?, ended = ?, lease_expires = NULL, fence = fence + 1
         WHERE id = ? AND state = 'running' AND fence = ?`,
      ).run(exitCode, new Date().toISOString(), r.id, r.fence);
    if (Number(changed.changes) === 0) return false;
    const event = lostEvent(r, { seq: this.#nextSeq(r.id), requeue });
    this.#insertEvent.run(r.id, event.seq, JSON.stringify(event));
    return true;
  }

  /** The `seq` after a run's last event. */
  #nextSeq(id: string): number {
    const last = this.#db.prepare("SELECT MAX(seq) AS seq FROM events WHERE run_id = ?").get(id) as {
      seq: number | null;
    };
    return (last.seq ?? -1) + 1;
  }

  enqueueRun(run: QueuedRun): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        this.#refuseTaken(run.id);
        this.#db.prepare(
          `INSERT INTO runs (id, agent, manifest, task, started, state, fence, attempts, retries, queued_at)
           VALUES (?, ?, ?, ?, ?, 'queued', 1, 0, ?, ?)`,
        ).run(run.id, run.agent, run.manifest, run.task, run.started, run.retries, Date.now());
        this.#insertEvent.run(run.id, 0, JSON.stringify(queuedEvent()));
      })
    );
  }

  claimRun(options: ClaimOptions): Promise<ClaimedRun | null> {
    const agents = options.agents;
    if (agents?.length === 0) return Promise.resolve(null);
    const only = agents ? `AND agent IN (${agents.map(() => "?").join(", ")})` : "";
    return attempt(() =>
      this.#tx(() => {
        const row = this.#db.prepare(
          `SELECT * FROM runs WHERE state = 'queued' ${only} ORDER BY queued_at, id LIMIT 1`,
        ).get(...(agents ?? [])) as Row | undefined;
        if (!row) return null;
        const { owner } = options;
        const claimed = { ...row, state: "running", fence: row.fence + 1, attempts: row.attempts + 1 };
        this.#db.prepare(
          `UPDATE runs SET state = 'running', owner_pid = ?, owner_host = ?, owner_start = ?, lease_expires = ?,
             fence = ?, attempts = ? WHERE id = ?`,
        ).run(
          owner.pid,
          owner.host,
          owner.startMark,
          Date.now() + options.leaseMs,
          claimed.fence,
          claimed.attempts,
          row.id,
        );
        return claimedOf(claimed, { firstSeq: this.#nextSeq(row.id) });
      })
    );
  }

  releaseRun(lease: RunLease): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        this.#fenced(lease);
        this.#db.prepare(
          `UPDATE runs SET state = 'queued', owner_pid = NULL, owner_host = NULL, owner_start = NULL,
             lease_expires = NULL, fence = fence + 1, attempts = attempts - 1 WHERE id = ?`,
        ).run(lease.id);
      })
    );
  }

  cancelQueued(id: string): Promise<boolean> {
    return attempt(() =>
      this.#tx(() => {
        const changed = this.#db.prepare(
          `UPDATE runs SET state = 'interrupted', exit_code = ?, ended = ?, fence = fence + 1
           WHERE id = ? AND state = 'queued'`,
        ).run(EXIT_CODES.interrupted, new Date().toISOString(), id);
        if (Number(changed.changes) === 0) return false;
        const event = cancelledEvent(this.#nextSeq(id));
        this.#insertEvent.run(id, event.seq, JSON.stringify(event));
        return true;
      })
    );
  }

  markEffect(lease: RunLease): Promise<void> {
    return attempt(() =>
      this.#tx(() => {
        this.#fenced(lease);
        this.#db.prepare("UPDATE runs SET effects = 1 WHERE id = ?").run(lease.id);
      })
    );
  }

  waitForWork(ms: number, signal?: AbortSignal): Promise<void> {
    return abortableSleep(Math.min(ms, POLL_MS), signal);
  }

  requestApproval(lease: RunLease, request: ApprovalRequest): Promise<Approval> {
    return attempt(() =>
      this.#tx(() => {
        this.#fenced(lease);
        const id = newApprovalId();
        this.#db.prepare(
          `INSERT INTO approvals (id, run_id, op, args, digest, state, requested)
           VALUES (?, ?, ?, ?, ?, 'pending', ?)`,
        ).run(
          id,
          lease.id,
          request.op,
          JSON.stringify(request.args),
          request.digest,
          new Date().toISOString(),
        );
        return this.#approval(id);
      })
    );
  }

  decideApproval(id: string, decision: DecideApproval): Promise<Approval> {
    return attempt(() => {
      checkDecision(decision);
      return this.#tx(() => {
        const now = this.#approval(id);
        if (now.state !== "pending") throw alreadyDecided(now);
        this.#db.prepare(
          "UPDATE approvals SET state = ?, decided = ?, decided_by = ?, remember = ? WHERE id = ? AND state = 'pending'",
        ).run(
          decision.decision === "approve" ? "approved" : "denied",
          new Date().toISOString(),
          decision.by,
          decision.remember ?? null,
          id,
        );
        return this.#approval(id);
      });
    });
  }

  expireApproval(id: string): Promise<Approval> {
    return attempt(() =>
      this.#tx(() => {
        this.#db.prepare(
          "UPDATE approvals SET state = 'expired', decided = ?, decided_by = 'timeout' WHERE id = ? AND state = 'pending'",
        ).run(new Date().toISOString(), id);
        return this.#approval(id);
      })
    );
  }

  listApprovals(filter: ApprovalFilter = {}): Promise<Approval[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.state !== undefined) where.push("a.state = ?") && args.push(filter.state);
    if (filter.runId !== undefined) where.push("a.run_id = ?") && args.push(filter.runId);
    const sql = `SELECT a.*, r.agent FROM approvals a JOIN runs r ON r.id = a.run_id
      ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY a.requested, a.id`;
    return attempt(() => (this.#db.prepare(sql).all(...args) as unknown as ApprovalRow[]).map(approvalOf));
  }

  getApproval(id: string): Promise<Approval> {
    return attempt(() => this.#approval(id));
  }

  #approval(id: string): Approval {
    const row = this.#db.prepare(
      "SELECT a.*, r.agent FROM approvals a JOIN runs r ON r.id = a.run_id WHERE a.id = ?",
    ).get(id) as ApprovalRow | undefined;
    if (!row) throw approvalNotFound(id);
    return approvalOf(row);
  }

  pluginState(scope: StateScope, op: StateOp): Promise<StateAnswer> {
    return attempt(() => this.#tx(() => applyStateOp(this.#db, { scope, op })));
  }

  close(): Promise<void> {
    try {
      this.#db.close();
    } catch { /* closed */ }
    return Promise.resolve();
  }
}
