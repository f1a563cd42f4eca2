/**
 * The rules of plugin state (`context.store`) that hold wherever it is kept:
 * keys, values as JSON text and their caps, and the cap on the number of
 * keys. Pure: the run stores (SQLite, PostgreSQL) apply them in their
 * transactions, and the plugin authors' test context applies them alike.
 *
 * @module
 */

import { IronclawError } from "../manifests/errors.ts";

/** The longest key, in characters. */
export const MAX_STATE_KEY = 256;
/** The largest value, as JSON text in UTF-8 bytes, whatever a plugin's own cap says. */
export const MAX_STATE_VALUE_BYTES = 1024 * 1024;

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
 * Refuses a new key when the scope holds `maxKeys` keys already: counted in the transaction that adds it, so
 * concurrent writers cannot pass the cap together.
 *
 * @param count How many keys the scope holds.
 * @param maxKeys The plugin's cap (its `max_keys`), or undefined for none.
 * @throws {IronclawError} `ERR_LIMIT` past the cap.
 */
export function checkKeyRoom(count: number, maxKeys: number | undefined): void {
  if (maxKeys !== undefined && count >= maxKeys) {
    throw new IronclawError("ERR_LIMIT", `The plugin's state holds ${count} keys, its max_keys`, {
      hint: "delete a key first, or raise the plugin's max_keys ([plugins.NAME] in ironclaw.toml)",
    });
  }
}

/** The error of an operation that is not one of get, set, delete, cas, list. */
export function unknownStateOp(op: unknown): IronclawError {
  return invalid(`Unknown plugin state operation "${String(op)}"`, "use get, set, delete, cas or list");
}
