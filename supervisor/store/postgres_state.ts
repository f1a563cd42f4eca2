/**
 * Plugin state in the PostgreSQL store: the operations of `plugin_state.ts`,
 * each inside the caller's transaction, under a transaction-scoped advisory
 * lock on its (plugin, agent, key), so concurrent writers on any machine never
 * lose an acknowledged write, and a `cas` on a missing key is decided once.
 *
 * @module
 */

// @ts-types="@types/pg"
import type pg from "pg";
import { unknownStateOp } from "../../capabilities/plugin_state_rules.ts";
import {
  checkKeyRoom,
  checkStateKey,
  type StateAnswer,
  type StateOp,
  type StateScope,
  stateValueText,
} from "./plugin_state.ts";

/** The first key of the advisory locks of plugin state (the second is a hash of the key). */
const STATE_LOCK_CLASS = 0x6b76;

/**
 * Runs one operation inside the caller's transaction.
 *
 * @param client A connection, in a transaction.
 * @param request The plugin and agent (`scope`), and the operation (`op`).
 * @returns Its answer.
 */
export async function applyStateOpPostgres(
  client: pg.ClientBase,
  request: { scope: StateScope; op: StateOp },
): Promise<StateAnswer> {
  const { scope, op } = request;
  const { plugin, agent } = scope;
  if (op.op === "list") {
    const prefix = op.prefix ?? "";
    const rows = await client.query<{ key: string }>(
      "SELECT key FROM plugin_state WHERE plugin = $1 AND agent = $2 AND left(key, $3) = $4 ORDER BY key",
      [plugin, agent, prefix.length, prefix],
    );
    return { keys: rows.rows.map((r) => r.key) };
  }
  const key = checkStateKey(op.key);
  if (op.op !== "get") {
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [
      STATE_LOCK_CLASS,
      JSON.stringify([plugin, agent, key]),
    ]);
  }
  const found = await client.query<{ value: string }>(
    `SELECT value FROM plugin_state WHERE plugin = $1 AND agent = $2 AND key = $3 ${
      op.op === "get" ? "" : "FOR UPDATE"
    }`,
    [plugin, agent, key],
  );
  const row = found.rows[0];
  if (op.op === "get") {
    return row ? { found: true, value: JSON.parse(row.value) } : { found: false, value: null };
  }
  if (op.op === "delete") {
    if (row) {
      await client.query("DELETE FROM plugin_state WHERE plugin = $1 AND agent = $2 AND key = $3", [
        plugin,
        agent,
        key,
      ]);
    }
    return { done: row !== undefined };
  }
  if (op.op !== "set" && op.op !== "cas") {
    throw unknownStateOp((op as { op: unknown }).op);
  }
  const text = stateValueText(op.value, op.maxValueBytes);
  if (op.op === "cas") {
    const expected = op.expected === undefined ? undefined : stateValueText(op.expected);
    if (row?.value !== expected) return { done: false };
  }
  if (!row && op.maxKeys !== undefined) {
    // New keys of one scope are counted and added one at a time (after the key's own lock: no cycle).
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [
      STATE_LOCK_CLASS,
      JSON.stringify([plugin, agent]),
    ]);
    const counted = await client.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM plugin_state WHERE plugin = $1 AND agent = $2",
      [plugin, agent],
    );
    checkKeyRoom(Number(counted.rows[0]?.n ?? 0), op.maxKeys);
  }
  await client.query(
    `INSERT INTO plugin_state (plugin, agent, key, value, version, updated) VALUES ($1, $2, $3, $4, 1, $5)
     ON CONFLICT (plugin, agent, key) DO UPDATE SET value = excluded.value,
       version = plugin_state.version + 1, updated = excluded.updated`,
    [plugin, agent, key, text, new Date().toISOString()],
  );
  return op.op === "cas" ? { done: true } : {};
}
