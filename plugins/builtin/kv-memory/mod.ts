/**
 * The kv-memory plugin: a key-value memory per agent in the plugin's
 * `context.store` (the run store), so runs of one agent at once never lose
 * each other's writes. A `memory.json` left in its folder by an older version
 * is imported once (keys already in the store win) and renamed
 * `memory.json.imported`.
 *
 * @module
 */

import { join } from "node:path";
import { definePlugin, type PluginContext } from "../../plugin.ts";

/** Imports the `memory.json` of an older version once, if there is one. */
async function importOld(context: PluginContext): Promise<void> {
  if (!context.dataDir) return;
  const file = join(context.dataDir, "memory.json");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    return; // none (the usual case)
  }
  let old: unknown;
  try {
    old = JSON.parse(text);
  } catch {
    old = null;
  }
  if (typeof old === "object" && old !== null && !Array.isArray(old)) {
    for (const [key, value] of Object.entries(old)) await context.store.cas(key, undefined, value);
  }
  try {
    await Deno.rename(file, `${file}.imported`);
  } catch { /* another run imported it first */ }
}

export default definePlugin({
  tools: {
    set: async (input: { key: string; value: unknown }, context) => {
      const value = input.value ?? null;
      const size = JSON.stringify(value).length;
      if (size > Number(context.config.max_value_bytes)) {
        throw new Error(`The value is ${size} bytes, more than max_value_bytes`);
      }
      await importOld(context);
      // max_keys is kept by the store, counted in the transaction that adds a key (runs at once cannot pass it).
      await context.store.set(input.key, value);
      return { ok: true };
    },
    get: async (input: { key: string }, context) => {
      await importOld(context);
      return { value: (await context.store.get(input.key)) ?? null };
    },
    list: async (_input: Record<string, never>, context) => {
      await importOld(context);
      return { keys: await context.store.list() };
    },
    delete: async (input: { key: string }, context) => {
      await importOld(context);
      return { deleted: await context.store.delete(input.key) };
    },
  },
});
