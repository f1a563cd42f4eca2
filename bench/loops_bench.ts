/**
 * Overheads of the built-in loops, excluding the model (a scripted provider
 * answers at once): `deno task bench-loops` (writes its rows into bench/RESULTS.md).
 *
 * - CodeAct step: a fresh step that evaluates a snippet with one tool call, in QuickJS in a real sandbox,
 *   timed inside the sandbox around the step (the `code` events' durationMs)
 * - ReAct tool call: one tool call through the gate, timed inside the sandbox (the `tool` events' durationMs)
 *
 * @module
 */

import { join } from "node:path";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent } from "../supervisor/run.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { writeSection } from "./_results.ts";

const STEPS = Number(Deno.env.get("BENCH_STEPS") ?? 200);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function run(kind: "react" | "codeact", turns: unknown[]): Promise<RunEvent[]> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-loop-" }));
  try {
    await Deno.mkdir(join(dir, "data"));
    await Deno.writeTextFile(join(dir, "data", "a.txt"), "a");
    await Deno.writeTextFile(join(dir, "transcript.json"), JSON.stringify({ label: "bench", turns }));
    const lang = kind === "codeact" ? 'language = "javascript"\n' : "";
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "bench"\nkind = "${kind}"\n${lang}instructions = "bench"\n[model]\nprovider = "m"\nname = "m"\n` +
        `max_calls = 10000\n[capabilities.fs]\nread = ["data"]\n[limits]\nmax_steps = 100000\nmax_tool_calls = 1000000\ntimeout_s = 600\n`,
    );
    const text =
      `[runtime]\nstate_dir = "state"\n[limits]\nmax_steps = 100000\nmax_tool_calls = 1000000\nmax_model_calls = 10000\n` +
      `[providers.m]\ntype = "scripted"\ntranscript = "transcript.json"\n`;
    const config = parseRuntimeConfig(text, { path: join(dir, "ironclaw.toml") });
    const policy = await loadPolicy(join(dir, "agent.toml"), config);
    const events: RunEvent[] = [];
    const outcome = await (await runAgent(policy, config, { task: "bench", onEvent: (e) => events.push(e) }))
      .done;
    if (outcome.state !== "ok") throw new Error(JSON.stringify(outcome.error));
    return events;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const snippet = {
  content: '```javascript\nconst r = await tools.read_file({ path: "data/a.txt" });\nr.data.length\n```',
};
const codeEvents = await run("codeact", [...Array(STEPS).fill({ reply: snippet }), {
  reply: { content: "done" },
}]);
const codeMs = median(codeEvents.filter((e) => e.type === "code").slice(5).map((e) => Number(e.durationMs)));

const call = { content: "", toolCalls: [{ name: "read_file", arguments: { path: "data/a.txt" } }] };
const reactEvents = await run("react", [...Array(STEPS).fill({ reply: call }), {
  reply: { content: "done" },
}]);
const toolMs = median(reactEvents.filter((e) => e.type === "tool").slice(5).map((e) => Number(e.durationMs)));

const rows = [
  `| CodeAct step: a snippet with one tool call (QuickJS in the sandbox, no model) | ${
    (codeMs * 1000).toFixed(0)
  } µs | median of ${STEPS - 5} steps |`,
  `| ReAct tool call: read_file through the gate, observation made (no model) | ${
    (toolMs * 1000).toFixed(0)
  } µs | median of ${STEPS - 5} calls |`,
];
console.log(rows.join("\n"));
const head = "## Loops (`deno task bench-loops`)";
const section =
  `${head}\n\nTargets (issue 4): CodeAct step overhead and ReAct tool-call overhead each under 1 ms.\n\n` +
  `| what | median | over |\n| --- | --- | --- |\n${rows.join("\n")}\n`;
await writeSection(section);
