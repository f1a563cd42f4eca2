/**
 * Plugin state in the store: a key-value table scoped to (plugin, agent), each
 * operation one immediate transaction, so concurrent runs never lose an
 * acknowledged write; `cas` compares the stored JSON text.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import {
  checkKeyRoom,
  checkStateKey,
  stateValueText,
  unknownStateOp,
} from "../../capabilities/plugin_state_rules.ts";

export {
  checkKeyRoom,
  checkStateKey,
  MAX_STATE_KEY,
  MAX_STATE_VALUE_BYTES,
  stateValueText,
} from "../../capabilities/plugin_state_rules.ts";

/** Whose state: one plugin's, for one agent. */
export interface StateScope {
  /** The plugin's name. */
  plugin: string;
  /** The agent's name. */
  agent: string;
}

/** One operation on a plugin's state. */
export type StateOp =
  | { op: "get"; key: string }
  | { op: "set"; key: string; value: unknown; maxValueBytes?: number; maxKeys?: number }
  | { op: "delete"; key: string }
  | { op: "cas"; key: string; expected: unknown; value: unknown; maxValueBytes?: number; maxKeys?: number }
  | { op: "list"; prefix?: string };

/** What an operation answers: `get` `{found, value}`, `set` `{}`, `delete` and `cas` `{done}`, `list` `{keys}`. */
export type StateAnswer =
  | { found: boolean; value: unknown }
  | { done: boolean }
  | { keys: string[] }
  | Record<string, never>;

/**
 * Runs one operation inside the caller's transaction.
 *
 * @param db The database (in a transaction).
 * @param request The plugin and agent (`scope`), and the operation (`op`).
 * @returns Its answer.
 */
export function applyStateOp(db: DatabaseSync, request: { scope: StateScope; op: StateOp }): StateAnswer {
  const { scope, op } = request;
  const { plugin, agent } = scope;
  if (op.op === "list") {
    const prefix = op.prefix ?? "";
    const rows = db.prepare(
      "SELECT key FROM plugin_state WHERE plugin = ? AND agent = ? AND substr(key, 1, ?) = ? ORDER BY key",
    ).all(plugin, agent, prefix.length, prefix) as unknown as { key: string }[];
    return { keys: rows.map((r) => r.key) };
  }
  const key = checkStateKey(op.key);
  const row = db.prepare("SELECT value FROM plugin_state WHERE plugin = ? AND agent = ? AND key = ?")
    .get(plugin, agent, key) as { value: string } | undefined;
  if (op.op === "get") {
    return row ? { found: true, value: JSON.parse(row.value) } : { found: false, value: null };
  }
  if (op.op === "delete") {
    if (row) {
      db.prepare("DELETE FROM plugin_state WHERE plugin = ? AND agent = ? AND key = ?").run(
        plugin,
        agent,
        key,
      );
    }
    return { done: row !== undefined };
  }
  if (op.op !== "set" && op.op !== "cas") {
    throw unknownStateOp((op as { op: unknown }).op);
  }
  const text = stateValueText(op.value, op.maxValueBytes);
  if (op.op === "cas") {
    const expected = op.expected === undefined ? undefined : stateValueText(op.expected);
    if ((row?.value) !== expected) return { done: false };
  }
  if (!row && op.maxKeys !== undefined) {
    const { n } = db.prepare("SELECT COUNT(*) AS n FROM plugin_state WHERE plugin = ? AND agent = ?")
      .get(plugin, agent) as { n: number };
    checkKeyRoom(n, op.maxKeys);
  }
  db.prepare(
    `INSERT INTO plugin_state (plugin, agent, key, value, version, updated) VALUES (?, ?, ?, ?, 1, ?)
     ON CONFLICT (plugin, agent, key) DO UPDATE SET value = excluded.value, version = version + 1,
       updated = excluded.updated`,
  ).run(plugin, agent, key, text, new Date().toISOString());
  return op.op === "cas" ? { done: true } : {};
}
