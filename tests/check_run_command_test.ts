/**
 * `ironclaw check` prints the command `ironclaw run` spawns: both come from
 * one RunPlan. For every example, from a folder outside the repository with no
 * `--config` (as the README shows them), the `command` of `check --json`
 * equals the `command` of the `run` event the run recorded.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli } from "./_cli.ts";
import { PLACEHOLDER_RUN_ID } from "../supervisor/plan.ts";

/** A task each example accepts; the outcome does not matter here, only what was spawned. */
const TASKS: Record<string, string> = {
  "hello": "summarize my notes",
  "wasi-wordcount": "count",
  "react-files": "What does release 0.1 ship?",
  "codeact-data": "Revenue per region?",
  "codeact-python": "Revenue per region?",
};

Deno.test("ironclaw check prints the command ironclaw run spawns, for every example", async (t) => {
  const cwd = await Deno.makeTempDir({ prefix: "ironclaw-check-run-" });
  try {
    for await (const entry of Deno.readDir(join(ROOT, "examples"))) {
      if (!entry.isDirectory) continue;
      await t.step(entry.name, async () => {
        const manifest = join(ROOT, "examples", entry.name, "agent.toml");
        const checked = await runCli(["check", "--json", manifest], { cwd });
        assert.equal(checked.code, 0, checked.stderr);
        const { command } = JSON.parse(checked.stdout) as { command: string[] };
        const ran = await runCli(["run", "--json", manifest, "--task", TASKS[entry.name] ?? "x"], { cwd });
        const first = JSON.parse(ran.stdout.split("\n")[0]!) as {
          type: string;
          id: string;
          command: string[];
        };
        assert.equal(first.type, "run", ran.stdout);
        // The one part that differs from run to run: a WASI guest's per-run pipes, named by the run's id.
        const expected = command.map((arg) => arg.replaceAll(PLACEHOLDER_RUN_ID, first.id));
        assert.deepEqual(first.command, expected);
        assert.equal(ran.code, 0, ran.stderr);
      });
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
