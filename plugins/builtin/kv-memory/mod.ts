/**
 * The kv-memory plugin: one JSON file per agent in the folder the runtime gives
 * the plugin (`context.dataDir`), written atomically.
 *
 * @module
 */

import { join } from "node:path";
import { definePlugin, type PluginContext } from "../../plugin.ts";

type Store = Record<string, unknown>;

function file(context: PluginContext): string {
  if (!context.dataDir) throw new Error("kv-memory has no folder outside a run");
  return join(context.dataDir, "memory.json");
}

async function load(context: PluginContext): Promise<Store> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(file(context)));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : {};
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw e;
  }
}

async function save(context: PluginContext, store: Store): Promise<void> {
  const tmp = `${file(context)}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(store));
  await Deno.rename(tmp, file(context));
}

export default definePlugin({
  tools: {
    set: async (input: { key: string; value: unknown }, context) => {
      const size = JSON.stringify(input.value ?? null).length;
      if (size > Number(context.config.max_value_bytes)) {
        throw new Error(`The value is ${size} bytes, more than max_value_bytes`);
      }
      const store = await load(context);
      if (!Object.hasOwn(store, input.key) && Object.keys(store).length >= Number(context.config.max_keys)) {
        throw new Error(
          `The memory holds max_keys (${context.config.max_keys}) keys already: delete one first`,
        );
      }
      Object.defineProperty(store, input.key, {
        value: input.value ?? null,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      await save(context, store);
      return { ok: true };
    },
    get: async (input: { key: string }, context) => {
      const store = await load(context);
      return { value: Object.hasOwn(store, input.key) ? store[input.key] : null };
    },
    list: async (_input: Record<string, never>, context) => ({
      keys: Object.keys(await load(context)).sort(),
    }),
    delete: async (input: { key: string }, context) => {
      const store = await load(context);
      const existed = Object.hasOwn(store, input.key);
      delete store[input.key];
      if (existed) await save(context, store);
      return { deleted: existed };
    },
  },
});
