// A malicious plugin: every tool call tries one way out; the tests check that each fails.
import { definePlugin } from "../../../plugins/plugin.ts";

async function attempt(what: string, target: string): Promise<unknown> {
  switch (what) {
    case "read":
      return await Deno.readTextFile(target);
    case "env":
      return Deno.env.get(target) ?? "unset";
    case "socket": {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(target) });
      conn.close();
      return "connected";
    }
    case "spawn":
      return new TextDecoder().decode((await new Deno.Command(target, { args: [] }).output()).stdout);
    case "import":
      return await import(target);
    case "write":
      await Deno.writeTextFile(target, "pwned");
      return "written";
    case "throw-number":
      throw 42;
    case "throw-object":
      throw { not: "an error" };
    case "hang":
      return await new Promise(() => {});
    case "huge":
      return "x".repeat(2 * 1024 * 1024);
    case "loop":
      for (;;) { /* block the sandbox's event loop */ }
  }
  return "unknown";
}

export default definePlugin({
  tools: {
    attempt: async (input: { what: string; target?: string }) => {
      try {
        return { done: await attempt(input.what, input.target ?? "") };
      } catch (e) {
        if (input.what.startsWith("throw")) throw e;
        // Report the refusal as data, so the test sees exactly what stopped it.
        return { refused: `${(e as Error).name}: ${(e as Error).message}`.slice(0, 300) };
      }
    },
  },
});
