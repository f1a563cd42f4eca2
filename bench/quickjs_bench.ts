/**
 * What a CodeAct session of QuickJS costs in-process, without a sandbox or a
 * model: `deno task bench-quickjs`.
 *
 * - session creation: a fresh QuickJS instance with its tools bridged
 * - a step with one awaited tool call, and a step without a tool, in one session
 *
 * @module
 */

import { type CodeSession, createQuickJsSession } from "../sandbox/codeact/quickjs_session.ts";

const MiB = 1024 * 1024;

function open(): Promise<CodeSession> {
  return createQuickJsSession({
    tools: { echo: (args) => Promise.resolve(args) },
    memoryBytes: 16 * MiB,
    stepDeadlineMs: 5_000,
    maxOutputBytes: 1024,
  });
}

/** One session for the step benchmarks, released when the process ends. */
const session = await open();
globalThis.addEventListener("unload", () => session.dispose());

/** Runs `code` and fails the benchmark unless it gives `value`. */
async function step(code: string, value: string): Promise<void> {
  const result = await session.run(code);
  if (result.value !== value) throw new Error(`${code} gave ${JSON.stringify(result)}`);
}

Deno.bench("session creation", { group: "session" }, async (b) => {
  b.start();
  const created = await open();
  b.end();
  created.dispose();
});

Deno.bench("step with one tool call", { group: "step", baseline: true }, async () => {
  await step("(await tools.echo({ i: 7 })).i", "7");
});

Deno.bench("step without a tool", { group: "step" }, async () => {
  await step("6 + 1", "7");
});
