/**
 * The PostgreSQL run store (`[store] url`): one database that the
 * supervisors and workers of many machines share. It keeps the SQLite store's
 * tables and answers alike; a queued run wakes idle workers at once through
 * `NOTIFY ironclaw_queue`, and a claim skips the rows another worker has
 * locked, so no two workers take the same run.
 *
 * @module
 */

// @ts-types="@types/pg"
import pg from "pg";
import type { RunEvent } from "../../protocol/protocol.ts";
import { EXIT_CODES } from "../outcome.ts";
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
import { currentOwner, ownerGone } from "./owner.ts";
import { migratePostgres } from "./postgres_migrations.ts";
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
import { applyStateOpPostgres } from "./postgres_state.ts";
import type { StateAnswer, StateOp, StateScope } from "./plugin_state.ts";
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

/** The channel a queued run is announced on. */
const QUEUE_CHANNEL = "ironclaw_queue";

/** The hint of every `ERR_STORE` of the PostgreSQL store. */
const PG_HINT =
  "check [store] url, that the PostgreSQL server runs and accepts connections from this machine, and the password (set PGPASSWORD, or use ~/.pgpass)";

/** Options of {@linkcode PostgresRunStore.open}. */
export interface PostgresStoreOptions {
  /** How many connections the store keeps at most (besides the one that listens for queued runs); default 4. */
  poolSize?: number;
  /** How long to wait for a connection, in ms; default 10 000. */
  connectTimeoutMs?: number;
}

/**
 * A URL as it may be shown: without its password (in the authority or as a `password` parameter).
 *
 * @param url A PostgreSQL URL.
 * @returns The URL without its password.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "";
    u.searchParams.delete("password");
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, "//$1@").replace(/password=[^&]*/gi, "password=");
  }
}

/** A row as PostgreSQL gives it (a BIGINT is a string): the epoch-ms columns become numbers. */
function rowOf(r: Record<string, unknown>): Row {
  const ms = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return { ...(r as unknown as Row), lease_expires: ms(r.lease_expires), queued_at: ms(r.queued_at) };
}

/** A connection inside a transaction. */
type Tx = pg.PoolClient;

/** The PostgreSQL {@linkcode RunStore}. */
export class PostgresRunStore implements RunStore {
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #shown: string;
  #listener: Promise<pg.Client> | null = null;
  #waiters = new Set<() => void>();
  #notified = false;
  #closed = false;

  private constructor(pool: pg.Pool, url: string) {
    this.#pool = pool;
    this.#url = url;
    this.#shown = redactUrl(url);
  }

  /**
   * Connects to the database at `url` and applies the migrations it lacks.
   *
   * @param url A PostgreSQL URL (`postgres://user@host:port/database`); the password comes best from PGPASSWORD
   *   or ~/.pgpass.
   * @param options The pool's size and connection timeout.
   * @returns The store; close it when done.
   * @throws {IronclawError} `ERR_STORE` when the server cannot be reached, refuses the login, or the schema cannot
   *   be applied: the message names the URL without its password.
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresRunStore> {
    let pool: pg.Pool | undefined;
    try {
      pool = new pg.Pool({
        connectionString: url,
        max: options.poolSize ?? 4,
        connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
        idleTimeoutMillis: 10_000,
        allowExitOnIdle: true,
      });
      pool.on(
        "error",
        () => {/* an idle connection broke: the pool drops it, the next query opens another */},
      );
      const client = await pool.connect();
      try {
        await migratePostgres(client);
      } finally {
        client.release();
      }
      return new PostgresRunStore(pool, url);
    } catch (e) {
      await pool?.end().catch(() => {});
      throw storeError(e, redactUrl(url), { hint: PG_HINT });
    }
  }

  /** The store's URL, without its password. */
  get url(): string {
    return this.#shown;
  }

  #error(e: unknown): Error {
    return storeError(e, this.#shown, { hint: PG_HINT });
  }

  async #query<T extends Record<string, unknown>>(sql: string, args: unknown[] = []): Promise<T[]> {
    try {
      return (await this.#pool.query<T>(sql, args)).rows;
    } catch (e) {
      throw this.#error(e);
    }
  }

  async #tx<T>(fn: (c: Tx) => Promise<T>): Promise<T> {
    let client: Tx;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw this.#error(e);
    }
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (e) {
      await client.query("ROLLBACK").catch((r) => (broken = r));
      throw this.#error(e);
    } finally {
      client.release(broken);
    }
  }

  /** Checks, inside a transaction, that the lease still holds, and locks the run's row. */
  async #fenced(c: Tx, lease: RunLease): Promise<void> {
    const { rows } = await c.query<{ fence: number; state: string }>(
      "SELECT fence, state FROM runs WHERE id = $1 FOR UPDATE",
      [lease.id],
    );
    const row = rows[0];
    if (!row || row.fence !== lease.fence || row.state !== "running") throw leaseLost(lease);
  }

  async #insert(c: Tx, id: string, events: RunEvent[]): Promise<void> {
    if (events.length === 0) return;
    await c.query(
      "INSERT INTO events (run_id, seq, body) SELECT $1, s, b FROM unnest($2::int[], $3::text[]) AS e (s, b)",
      [id, events.map((e) => e.seq as number), events.map((e) => JSON.stringify(e))],
    );
  }

  createRun(run: NewRun, options: { owner: RunOwner; leaseMs: number }): Promise<RunLease> {
    const { owner, leaseMs } = options;
    return this.#tx(async (c) => {
      const inserted = await c.query(
        `INSERT INTO runs (id, agent, manifest, task, started, state, owner_pid, owner_host, owner_start,
           lease_expires, fence, attempts) VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, 1, 1)
         ON CONFLICT (id) DO NOTHING`,
        [
          run.id,
          run.agent,
          run.manifest,
          run.task,
          run.started,
          owner.pid,
          owner.host,
          owner.startMark,
          Date.now() + leaseMs,
        ],
      );
      if (inserted.rowCount === 0) throw runExists(run.id);
      return { id: run.id, fence: 1 };
    });
  }

  appendEvents(lease: RunLease, events: RunEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return this.#tx(async (c) => {
      await this.#fenced(c, lease);
      await this.#insert(c, lease.id, events);
    });
  }

  renewLease(lease: RunLease, leaseMs: number): Promise<void> {
    return this.#tx(async (c) => {
      await this.#fenced(c, lease);
      await c.query("UPDATE runs SET lease_expires = $1 WHERE id = $2", [Date.now() + leaseMs, lease.id]);
    });
  }

  closeRun(lease: RunLease, end: RunClose & { events: RunEvent[] }): Promise<void> {
    return this.#tx(async (c) => {
      await this.#fenced(c, lease);
      await this.#insert(c, lease.id, end.events);
      await c.query(
        "UPDATE runs SET state = $1, exit_code = $2, ended = $3, lease_expires = NULL WHERE id = $4",
        [end.state, end.exitCode, new Date().toISOString(), lease.id],
      );
    });
  }

  async listRuns(filter: RunFilter = {}): Promise<RunSummary[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (sql: string, value: string | number) => where.push(sql.replace("?", `$${args.push(value)}`));
    if (filter.agent !== undefined) add("agent = ?", filter.agent);
    if (filter.state !== undefined) add("state = ?", filter.state);
    if (filter.since !== undefined) add("started >= ?", filter.since.toISOString());
    if (filter.before !== undefined) {
      add("(started, id) < (SELECT started, id FROM runs WHERE id = ?)", filter.before);
    }
    const limit = filter.limit !== undefined
      ? `LIMIT $${args.push(Math.max(0, Math.trunc(filter.limit)))}`
      : "";
    const rows = await this.#query(
      `SELECT * FROM runs ${where.length ? "WHERE " + where.join(" AND ") : ""}
       ORDER BY started DESC, id DESC ${limit}`,
      args,
    );
    return rows.map((r) => summaryOf(rowOf(r)));
  }

  async showRun(id: string): Promise<RunRecordView> {
    const exact = await this.#query("SELECT * FROM runs WHERE id = $1", [id]);
    const matches = exact.length > 0
      ? exact
      : await this.#query("SELECT * FROM runs WHERE left(id, $1) = $2 ORDER BY id LIMIT 2", [id.length, id]);
    if (matches.length !== 1) throw runNotFound(id, { store: this.#shown, several: matches.length > 1 });
    const summary = summaryOf(rowOf(matches[0]!));
    return { summary, events: await this.eventsAfter(summary.id, -1) };
  }

  async eventsAfter(id: string, after: number): Promise<RunEvent[]> {
    const rows = await this.#query<{ body: string }>(
      "SELECT body FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq",
      [id, after],
    );
    return rows.map((r) => JSON.parse(r.body));
  }

  async prune(before: Date): Promise<RunSummary[]> {
    const rows = await this.#query(
      "DELETE FROM runs WHERE started < $1 AND state != 'running' RETURNING *",
      [before.toISOString()],
    );
    return rows.map((r) => summaryOf(rowOf(r))).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async reapLost(): Promise<string[]> {
    const here = currentOwner();
    const now = Date.now();
    // In the order of their ids: two reapers lock rows in one order, so neither waits on the other.
    const running = (await this.#query("SELECT * FROM runs WHERE state = 'running' ORDER BY id")).map(rowOf);
    const lost = running.filter((r) =>
      r.lease_expires === null || r.lease_expires < now ||
      (r.owner_pid !== null &&
        ownerGone({ pid: r.owner_pid, host: r.owner_host ?? "", startMark: r.owner_start ?? "" }, here))
    );
    if (lost.length === 0) return [];
    return await this.#tx(async (c) => {
      const reaped: string[] = [];
      for (const r of lost) if (await this.#markLost(c, r)) reaped.push(r.id);
      return reaped;
    });
  }

  /**
   * Marks one run lost, unless it changed since it was read, and appends its `end` event; or, when it may be
   * retried and made no side effect, queues it again with a `requeued` event and wakes the workers.
   */
  async #markLost(c: Tx, r: Row): Promise<boolean> {
    const requeue = r.effects === 0 && r.attempts <= r.retries;
    const changed = requeue
      ? await c.query(
        `UPDATE runs SET state = 'queued', owner_pid = NULL, owner_host = NULL, owner_start = NULL,
           lease_expires = NULL, fence = fence + 1, queued_at = $1 WHERE id = $2 AND state = 'running' AND fence = $3`,
        [Date.now(), r.id, r.fence],
      )
      : await c.query(
        `UPDATE runs SET state = 'lost', exit_code = $1, ended = $2, lease_expires = NULL, fence = fence + 1
         WHERE id = $3 AND state = 'running' AND fence = $4`,
        [EXIT_CODES.lost, new Date().toISOString(), r.id, r.fence],
      );
    if (changed.rowCount === 0) return false;
    await this.#insert(c, r.id, [lostEvent(r, { seq: await this.#nextSeq(c, r.id), requeue })]);
    if (requeue) await c.query(`NOTIFY ${QUEUE_CHANNEL}`);
    return true;
  }

  /** The `seq` after a run's last event. */
  async #nextSeq(c: Tx, id: string): Promise<number> {
    const { rows } = await c.query<{ seq: number | null }>(
      "SELECT MAX(seq) AS seq FROM events WHERE run_id = $1",
      [id],
    );
    return (rows[0]?.seq ?? -1) + 1;
  }

  enqueueRun(run: QueuedRun): Promise<void> {
    return this.#tx(async (c) => {
      const inserted = await c.query(
        `INSERT INTO runs (id, agent, manifest, task, started, state, fence, attempts, retries, queued_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', 1, 0, $6, $7) ON CONFLICT (id) DO NOTHING`,
        [run.id, run.agent, run.manifest, run.task, run.started, run.retries, Date.now()],
      );
      if (inserted.rowCount === 0) throw runExists(run.id);
      await this.#insert(c, run.id, [queuedEvent()]);
      await c.query(`NOTIFY ${QUEUE_CHANNEL}`); // sent when the transaction commits
    });
  }

  claimRun(options: ClaimOptions): Promise<ClaimedRun | null> {
    const agents = options.agents;
    if (agents?.length === 0) return Promise.resolve(null);
    return this.#tx(async (c) => {
      const found = await c.query(
        `SELECT * FROM runs WHERE state = 'queued' ${agents ? "AND agent = ANY($1)" : ""}
         ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        agents ? [agents] : [],
      );
      if (!found.rows[0]) return null;
      const row = rowOf(found.rows[0]);
      const { owner } = options;
      const claimed = { ...row, state: "running", fence: row.fence + 1, attempts: row.attempts + 1 };
      await c.query(
        `UPDATE runs SET state = 'running', owner_pid = $1, owner_host = $2, owner_start = $3, lease_expires = $4,
           fence = $5, attempts = $6 WHERE id = $7`,
        [
          owner.pid,
          owner.host,
          owner.startMark,
          Date.now() + options.leaseMs,
          claimed.fence,
          claimed.attempts,
          row.id,
        ],
      );
      return claimedOf(claimed, { firstSeq: await this.#nextSeq(c, row.id) });
    });
  }

  releaseRun(lease: RunLease): Promise<void> {
    return this.#tx(async (c) => {
      await this.#fenced(c, lease);
      await c.query(
        `UPDATE runs SET state = 'queued', owner_pid = NULL, owner_host = NULL, owner_start = NULL,
           lease_expires = NULL, fence = fence + 1, attempts = attempts - 1 WHERE id = $1`,
        [lease.id],
      );
      await c.query(`NOTIFY ${QUEUE_CHANNEL}`);
    });
  }

  cancelQueued(id: string): Promise<boolean> {
    return this.#tx(async (c) => {
      // The row lock of the UPDATE orders it with a claim (FOR UPDATE): one of the two finds the run queued.
      const changed = await c.query(
        `UPDATE runs SET state = 'interrupted', exit_code = $1, ended = $2, fence = fence + 1
         WHERE id = $3 AND state = 'queued'`,
        [EXIT_CODES.interrupted, new Date().toISOString(), id],
      );
      if (changed.rowCount === 0) return false;
      await this.#insert(c, id, [cancelledEvent(await this.#nextSeq(c, id))]);
      return true;
    });
  }

  markEffect(lease: RunLease): Promise<void> {
    return this.#tx(async (c) => {
      await this.#fenced(c, lease);
      await c.query("UPDATE runs SET effects = 1 WHERE id = $1", [lease.id]);
    });
  }

  async waitForWork(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.#closed) return;
    try {
      await this.#listen();
    } catch {
      // No listening connection (the server went away): poll instead, the next claim reports the failure.
      return abortableSleep(Math.min(ms, 1000), signal);
    }
    if (this.#notified) {
      this.#notified = false;
      return;
    }
    const wake = new AbortController();
    const waiter = () => wake.abort();
    this.#waiters.add(waiter);
    const stop = signal ? AbortSignal.any([signal, wake.signal]) : wake.signal;
    try {
      await abortableSleep(ms, stop);
    } finally {
      this.#waiters.delete(waiter);
    }
  }

  /** The connection that listens on the queue's channel, opened on first use. */
  #listen(): Promise<pg.Client> {
    this.#listener ??= (async () => {
      const client = new pg.Client({ connectionString: this.#url });
      const forget = () => {
        this.#listener = null;
        client.end().catch(() => {});
        for (const wake of this.#waiters) wake(); // the workers look at the queue, and listen again next time
      };
      client.on("error", forget);
      client.on("end", () => (this.#listener = null));
      client.on("notification", () => {
        if (this.#waiters.size === 0) this.#notified = true;
        for (const wake of this.#waiters) wake();
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${QUEUE_CHANNEL}`);
      } catch (e) {
        forget();
        throw e;
      }
      return client;
    })();
    return this.#listener;
  }

  requestApproval(lease: RunLease, request: ApprovalRequest): Promise<Approval> {
    return this.#tx(async (c) => {
      await this.#fenced(c, lease);
      const id = newApprovalId();
      await c.query(
        `INSERT INTO approvals (id, run_id, op, args, digest, state, requested)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)`,
        [id, lease.id, request.op, JSON.stringify(request.args), request.digest, new Date().toISOString()],
      );
      return await approvalIn(c, id);
    });
  }

  async decideApproval(id: string, decision: DecideApproval): Promise<Approval> {
    checkDecision(decision);
    return await this.#tx(async (c) => {
      // The row lock makes two deciders take turns: the second sees the first's decision.
      const now = await approvalIn(c, id, { lock: true });
      if (now.state !== "pending") throw alreadyDecided(now);
      await c.query(
        "UPDATE approvals SET state = $1, decided = $2, decided_by = $3, remember = $4 WHERE id = $5",
        [
          decision.decision === "approve" ? "approved" : "denied",
          new Date().toISOString(),
          decision.by,
          decision.remember ?? null,
          id,
        ],
      );
      return await approvalIn(c, id);
    });
  }

  expireApproval(id: string): Promise<Approval> {
    return this.#tx(async (c) => {
      await c.query(
        "UPDATE approvals SET state = 'expired', decided = $1, decided_by = 'timeout' WHERE id = $2 AND state = 'pending'",
        [new Date().toISOString(), id],
      );
      return await approvalIn(c, id);
    });
  }

  async listApprovals(filter: ApprovalFilter = {}): Promise<Approval[]> {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.state !== undefined) args.push(filter.state) && where.push(`a.state = $${args.length}`);
    if (filter.runId !== undefined) args.push(filter.runId) && where.push(`a.run_id = $${args.length}`);
    const rows = await this.#query<ApprovalRow & Record<string, unknown>>(
      `SELECT a.*, r.agent FROM approvals a JOIN runs r ON r.id = a.run_id
       ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY a.requested, a.id`,
      args,
    );
    return rows.map(approvalOf);
  }

  getApproval(id: string): Promise<Approval> {
    return this.#tx((c) => approvalIn(c, id));
  }

  pluginState(scope: StateScope, op: StateOp): Promise<StateAnswer> {
    return this.#tx((c) => applyStateOpPostgres(c, { scope, op }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#waiters) wake();
    const listener = this.#listener;
    this.#listener = null;
    await listener?.then((c) => c.end()).catch(() => {});
    await this.#pool.end().catch(() => {});
  }
}

/** One approval with its run's agent, read in a transaction (locking its row when asked). */
async function approvalIn(c: Tx, id: string, options: { lock?: boolean } = {}): Promise<Approval> {
  const { rows } = await c.query<ApprovalRow>(
    `SELECT a.*, r.agent FROM approvals a JOIN runs r ON r.id = a.run_id WHERE a.id = $1
     ${options.lock ? "FOR UPDATE OF a" : ""}`,
    [id],
  );
  if (!rows[0]) throw approvalNotFound(id);
  return approvalOf(rows[0]);
}
