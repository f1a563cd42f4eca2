// A plugin that bumps a counter in its context.store with compare-and-set retries.
import { definePlugin } from "../../../plugins/plugin.ts";

export default definePlugin({
  tools: {
    bump: async (input: { n: number }, context) => {
      let tries = 0;
      for (let i = 0; i < input.n; i++) {
        for (;;) {
          tries++;
          const now = await context.store.get("count");
          if (await context.store.cas("count", now, (typeof now === "number" ? now : 0) + 1)) break;
        }
      }
      return { tries };
    },
    peek: async (input: { key?: string }, context) => ({
      count: (await context.store.get("count")) ?? null,
      keys: await context.store.list(),
      other: input.key === undefined ? null : (await context.store.get(input.key)) ?? null,
    }),
    put: async (input: { key: string; value: unknown }, context) => {
      try {
        await context.store.set(input.key, input.value);
        return { ok: true };
      } catch (e) {
        return {
          code: (e as { code?: string }).code,
          name: (e as Error).name,
          hint: (e as { hint?: string }).hint,
        };
      }
    },
  },
});
