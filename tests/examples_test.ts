/**
 * Every example runs to `ok` from the real CLI, as the README shows them: from
 * a folder outside the repository, with no `--config` (each example's
 * `ironclaw.toml` is found beside its manifest).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli } from "./_cli.ts";

const EXAMPLES: { name: string; task: string; output: RegExp }[] = [
  { name: "hello", task: "summarize my notes", output: /^Summarized 2 notes into out\/summary\.md\n$/ },
  { name: "wasi-wordcount", task: "count", output: /\d+/ },
  { name: "react-files", task: "What does release 0.1 ship?", output: /\S/ },
  { name: "codeact-data", task: "Revenue per region?", output: /north 249\.00, south 165\.50/ },
  { name: "codeact-python", task: "Revenue per region?", output: /north 249\.00, south 165\.50/ },
];

Deno.test("every example runs to ok with its config found beside its manifest", async (t) => {
  const cwd = await Deno.makeTempDir({ prefix: "ironclaw-examples-" });
  try {
    for (const example of EXAMPLES) {
      await t.step(example.name, async () => {
        const manifest = join(ROOT, "examples", example.name, "agent.toml");
        const r = await runCli(["run", manifest, "--task", example.task], { cwd });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, example.output);
        assert.match(r.stderr, /: ok/);
      });
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
