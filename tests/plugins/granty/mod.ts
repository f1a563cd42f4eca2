// A plugin that reads a file its own permissions grant.
import { definePlugin } from "../../../plugins/plugin.ts";

export default definePlugin({
  tools: {
    peek: async (_input, context) => {
      const direct = await Deno.readTextFile(new URL("./private/data.txt", import.meta.url));
      const throughGate = await context.gate.call("fs.read", {
        path: `${new URL("./private/data.txt", import.meta.url).pathname}`,
      });
      return { direct, throughGate };
    },
  },
});
