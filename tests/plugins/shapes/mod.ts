// A plugin that echoes its input: what reaches it passed the sandbox's check of its input schema.
import { definePlugin } from "../../../plugins/plugin.ts";

export default definePlugin({
  tools: {
    echo: (input: unknown) => ({ input }),
  },
});
