/** Agents of the built-in loops, with scripted or served models; run them with `run` of _sandbox.ts. */

import { join } from "node:path";
import { type AgentDir, agentFolder, withConfig } from "./_sandbox.ts";

/** A scripted turn: what the model says next. */
export interface Turn {
  expect?: { lastRole?: "user" | "tool"; contains?: string };
  reply: { content: string; toolCalls?: { name: string; arguments: Record<string, unknown> }[] };
  usage?: { inputTokens: number; outputTokens: number };
}

/**
 * A temporary folder with data/ (read), out/ (write), secret.txt beside them, a manifest, and a runtime
 * config whose provider replays `turns` (or is the given `provider` table).
 */
export async function loopAgent(options: {
  kind: "react" | "codeact";
  language?: "javascript" | "python";
  turns?: Turn[];
  /** Instead of a transcript: the runtime config's provider table (TOML lines). */
  provider?: string;
  /** More lines of the manifest's [model] table. */
  model?: string;
  extra?: string;
}): Promise<AgentDir> {
  const language = options.kind === "codeact" ? `language = "${options.language ?? "javascript"}"\n` : "";
  const files: Record<string, string> = {
    "data/numbers.csv": "n\n1\n2\n3\n",
    "out/": "",
    "secret.txt": "the secret outside the grants\n",
  };
  const agent = await agentFolder(
    files,
    `[agent]\nname = "loop"\nkind = "${options.kind}"\n${language}instructions = "You test the loop."\n\n` +
      `[model]\nprovider = "m"\nname = "test-model"\n${options.model ?? ""}\n` +
      `[capabilities.fs]\nread = ["data"]\nwrite = ["out"]\n${options.extra ?? ""}\n`,
  );
  if (options.turns) await script(agent, options.turns);
  const provider = options.provider ?? `type = "scripted"\ntranscript = "transcript.json"\n`;
  return await withConfig(agent, `[runtime]\nstate_dir = "state"\n\n[providers.m]\n${provider}`);
}

/** Writes `turns` as the transcript the scripted model of a loop agent replays. */
export async function script(agent: AgentDir, turns: Turn[]): Promise<void> {
  await Deno.writeTextFile(join(agent.dir, "transcript.json"), JSON.stringify({ label: "test", turns }));
}

/** A reply with one code block. */
export function code(language: "javascript" | "python", source: string): Turn["reply"] {
  return { content: "```" + language + "\n" + source + "\n```" };
}
