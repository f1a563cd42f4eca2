/**
 * Plugin state in the store: a key-value table scoped to (plugin, agent), each
 * operation one immediate transaction, so concurrent runs never lose an
 * acknowledged write; `cas` compares the stored JSON text.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { IronclawError } from "../../manifests/errors.ts";

/** The longest key, in characters. */
export const MAX_STATE_KEY = 256;
/** The largest value, as JSON text in UTF-8 bytes, whatever a plugin's own cap says. */
export const MAX_STATE_VALUE_BYTES = 1024 * 1024;

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
  | { op: "set"; key: string; value: unknown; maxValueBytes?: number }
  | { op: "delete"; key: string }
  | { op: "cas"; key: string; expected: unknown; value: unknown; maxValueBytes?: number }
  | { op: "list"; prefix?: string };

/** What an operation answers: `get` `{found, value}`, `set` `{}`, `delete` and `cas` `{done}`, `list` `{keys}`. */
export type StateAnswer =
  | { found: boolean; value: unknown }
  | { done: boolean }
  | { keys: string[] }
  | Record<string, never>;

function invalid(message: string, hint: string): IronclawError {
  return new IronclawError("ERR_INVALID_ARGS", message, { hint });
}

/** Checks a key: a string of 1 to {@linkcode MAX_STATE_KEY} characters. */
export function checkStateKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0) {
    throw invalid("A plugin state key must be a non-empty string", 'pass a key such as "notes.today"');
  }
  if (key.length > MAX_STATE_KEY) {
    throw invalid(
      `A plugin state key is ${key.length} characters, more than ${MAX_STATE_KEY}`,
      "use a shorter key",
    );
  }
  return key;
}

/** A value as its JSON text, checked against the cap (the plugin's own, at most the store's). */
export function stateValueText(value: unknown, maxValueBytes?: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw invalid(`A plugin state value is not JSON: ${(e as Error).message}`, "store plain JSON data");
  }
  if (text === undefined) {
    throw invalid("A plugin state value is not JSON (undefined)", "use null, or delete");
  }
  const cap = Math.min(maxValueBytes ?? MAX_STATE_VALUE_BYTES, MAX_STATE_VALUE_BYTES);
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > cap) {
    throw new IronclawError("ERR_LIMIT", `A plugin state value is ${bytes} bytes as JSON, more than ${cap}`, {
      hint:
        "store less per key (split it over several keys), or raise the plugin's max_value_bytes (at most 1 MiB)",
    });
  }
  return text;
}

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
    throw invalid(
      `Unknown plugin state operation "${(op as { op: unknown }).op}"`,
      "use get, set, delete, cas or list",
    );
  }
  const text = stateValueText(op.value, op.maxValueBytes);
  if (op.op === "cas") {
    const expected = op.expected === undefined ? undefined : stateValueText(op.expected);
    if ((row?.value) !== expected) return { done: false };
  }
  db.prepare(
    `INSERT INTO plugin_state (plugin, agent, key, value, version, updated) VALUES (?, ?, ?, ?, 1, ?)
     ON CONFLICT (plugin, agent, key) DO UPDATE SET value = excluded.value, version = version + 1,
       updated = excluded.updated`,
  ).run(plugin, agent, key, text, new Date().toISOString());
  return op.op === "cas" ? { done: true } : {};
}
