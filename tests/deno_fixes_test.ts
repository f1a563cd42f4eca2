/**
 * Regression tests for the Deno permission fixes IronClaw relies on, as they
 * apply to how it uses Deno: code holding a read grant of a folder (here a
 * plugin's own grant; an agent's code has none at all) must not reach a
 * daemon through a Unix socket in that folder, directly or as an HTTP proxy,
 * nor create a file there. Each attack is run in process mode and in worker
 * mode with the process widened to `--allow-all` (the Worker's permissions
 * alone), and its effect is checked from outside.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pluginAgent, run } from "./_sandbox.ts";
import type { RunOptions } from "../supervisor/supervisor.ts";

const PROBER_TOML = `[plugin]
name = "prober"
version = "0.0.1"
description = "Tries what Deno's permission fixes forbid"

[[tools]]
name = "try"
description = "One attempt"
input = { type = "object", properties = { what = { type = "string" } }, required = ["what"] }

[permissions.fs]
read = ["data"]
`;

const PROBER_MOD = `
const data = new URL("./data/", import.meta.url).pathname;
const attempts = {
  "unix connect": async () => (await Deno.connect({ transport: "unix", path: data + "daemon.sock" })).close(),
  "unix proxy": async () => {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: data + "daemon.sock" } });
    await fetch("http://daemon.invalid/", { client });
  },
  "create, write": () => Deno.openSync(data + "made-1.txt", { write: true, create: true }).close(),
  "create, append": () => Deno.openSync(data + "made-2.txt", { append: true, create: true }).close(),
  "create new": () => Deno.openSync(data + "made-3.txt", { write: true, createNew: true }).close(),
  "write file": () => Deno.writeTextFileSync(data + "made-4.txt", "x"),
  "node:fs wx": async () => (await import("node:fs")).writeFileSync(data + "made-5.txt", "x", { flag: "wx" }),
  "mkdir": () => Deno.mkdirSync(data + "made-6"),
  "symlink": () => Deno.symlinkSync("/etc/hostname", data + "made-7"),
};
export default {
  tools: {
    try: async ({ what }) => {
      try {
        await attempts[what]();
        return "done";
      } catch (e) {
        return "refused: " + e.name;
      }
    },
  },
};
`;

const ATTEMPTS = [
  "unix connect",
  "unix proxy",
  "create, write",
  "create, append",
  "create new",
  "write file",
  "node:fs wx",
  "mkdir",
  "symlink",
];

Deno.test("Deno's permission fixes hold where IronClaw relies on them", async (t) => {
  const pluginsDir = await Deno.makeTempDir({ prefix: "ironclaw-plugins-" });
  const dir = join(pluginsDir, "prober");
  await Deno.mkdir(join(dir, "data"), { recursive: true });
  await Deno.writeTextFile(join(dir, "plugin.toml"), PROBER_TOML);
  await Deno.writeTextFile(join(dir, "mod.ts"), PROBER_MOD);
  // A daemon's socket inside the granted folder: it counts every connection.
  const daemon = Deno.listen({ transport: "unix", path: join(dir, "data", "daemon.sock") });
  let connections = 0;
  (async () => {
    for await (const conn of daemon) {
      connections++;
      conn.close();
    }
  })();
  const modes: [string, Partial<RunOptions>][] = [
    ["process", {}],
    ["worker, process --allow-all", { sandboxMode: "worker", unsafeWidenProcessFlags: true }],
  ];
  try {
    for (const [mode, options] of modes) {
      await using agent = await pluginAgent(["prober"], { pluginsDir });
      const calls = ATTEMPTS.map((what) => ["tool.call", { name: "prober.try", input: { what } }]);
      const ran = await run(agent, JSON.stringify({ calls }), options);
      assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
      const replies = JSON.parse(ran.outcome.output!) as { ok?: unknown }[];
      for (const [i, what] of ATTEMPTS.entries()) {
        await t.step(`${mode}: ${what}`, () => {
          assert.match(JSON.stringify(replies[i]), /refused: NotCapable/, JSON.stringify(replies[i]));
        });
      }
    }
    await t.step("no effect: no connection reached the daemon, nothing was made", async () => {
      assert.equal(connections, 0);
      const names = [];
      for await (const e of Deno.readDir(join(dir, "data"))) names.push(e.name);
      assert.deepEqual(names, ["daemon.sock"]);
    });
  } finally {
    daemon.close();
    await Deno.remove(pluginsDir, { recursive: true });
  }
});
