/** Agents of the built-in loops, in real sandboxes, with scripted or served models. */

import { join } from "node:path";
import { parseRuntimeConfig, type RuntimeConfig } from "../manifests/runtime_config.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent } from "../supervisor/run.ts";
import type { RunOutcome } from "../supervisor/supervisor.ts";
import type { RunEvent } from "../protocol/protocol.ts";

/** A scripted turn: what the model says next. */
export interface Turn {
  expect?: { lastRole?: "user" | "tool"; contains?: string };
  reply: { content: string; toolCalls?: { name: string; arguments: Record<string, unknown> }[] };
  usage?: { inputTokens: number; outputTokens: number };
}

/** A temporary folder with data/ (read), out/ (write), secret.txt beside them, a manifest and a runtime config. */
export async function loopAgent(options: {
  kind: "react" | "codeact";
  language?: "javascript" | "python";
  turns?: Turn[];
  /** Instead of a transcript: the runtime config's provider table (TOML lines). */
  provider?: string;
  extra?: string;
}): Promise<
  { dir: string; manifest: string; config: RuntimeConfig; [Symbol.asyncDispose](): Promise<void> }
> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-loop-" }));
  await Deno.mkdir(join(dir, "data"));
  await Deno.mkdir(join(dir, "out"));
  await Deno.writeTextFile(join(dir, "data", "numbers.csv"), "n\n1\n2\n3\n");
  await Deno.writeTextFile(join(dir, "secret.txt"), "the secret outside the grants\n");
  const language = options.kind === "codeact" ? `language = "${options.language ?? "javascript"}"\n` : "";
  const manifest = join(dir, "agent.toml");
  await Deno.writeTextFile(
    manifest,
    `[agent]\nname = "loop"\nkind = "${options.kind}"\n${language}instructions = "You test the loop."\n\n` +
      `[model]\nprovider = "m"\nname = "test-model"\n\n[capabilities.fs]\nread = ["data"]\nwrite = ["out"]\n${
        options.extra ?? ""
      }\n`,
  );
  let provider = options.provider ?? `type = "scripted"\ntranscript = "transcript.json"\n`;
  if (options.turns) {
    await Deno.writeTextFile(
      join(dir, "transcript.json"),
      JSON.stringify({ label: "test", turns: options.turns }),
    );
  } else provider = options.provider!;
  const text = `[runtime]\nstate_dir = "state"\n\n[providers.m]\n${provider}`;
  await Deno.writeTextFile(join(dir, "ironclaw.toml"), text);
  const config = parseRuntimeConfig(text, { path: join(dir, "ironclaw.toml") });
  return { dir, manifest, config, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Runs a loop agent and returns how it ended and what it recorded. */
export async function runLoop(
  agent: { manifest: string; config: RuntimeConfig },
  task = "go",
): Promise<{ outcome: RunOutcome; events: RunEvent[] }> {
  const policy = await loadPolicy(agent.manifest, agent.config, { home: "/nonexistent-home" });
  const events: RunEvent[] = [];
  const handle = await runAgent(policy, agent.config, { task, onEvent: (e) => events.push(e) });
  return { outcome: await handle.done, events };
}

/** A reply with one code block. */
export function code(language: "javascript" | "python", source: string): Turn["reply"] {
  return { content: "```" + language + "\n" + source + "\n```" };
}
