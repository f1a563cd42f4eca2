/**
 * A provider that replays a transcript file: offline demos and tests, with
 * no model and no network.
 *
 * @module
 */

import { basename } from "node:path";
import { ModelError } from "./errors.ts";
import type { Provider } from "./provider.ts";
import type { CompletionRequest, CompletionResult, Usage } from "../../protocol/model_types.ts";
import { isCount, isRecord, quote } from "./_wire.ts";

/** One answer of a transcript, and what the conversation must look like when it is given. */
export interface ScriptedTurn {
  /** Checked against the last message of the request. */
  expect?: { lastRole?: "user" | "tool"; contains?: string };
  /** The answer. */
  reply: { content: string; toolCalls?: { name: string; arguments: Record<string, unknown> }[] };
  /** The tokens to report; default none. */
  usage?: Usage;
}

/** A checked transcript (see {@linkcode loadTranscript} for the file format). */
export interface Transcript {
  /** What the transcript shows, for people. */
  label?: string;
  /** The answers, in order. */
  turns: ScriptedTurn[];
}

const FORMAT =
  'a transcript is {"label"?: "...", "turns": [{"expect"?: {"lastRole"?: "user" | "tool", "contains"?: "..."}, "reply": {"content": "...", "toolCalls"?: [{"name": "...", "arguments": {...}}]}, "usage"?: {"inputTokens": 0, "outputTokens": 0}}]}';

/**
 * Reads and checks a transcript file. The file is JSON:
 *
 * ```json
 * {
 *   "label": "summarize the notes",
 *   "turns": [
 *     {
 *       "expect": { "lastRole": "user", "contains": "notes" },
 *       "reply": { "content": "", "toolCalls": [{ "name": "list_files", "arguments": { "path": "notes" } }] },
 *       "usage": { "inputTokens": 120, "outputTokens": 12 }
 *     },
 *     { "expect": { "lastRole": "tool" }, "reply": { "content": "Two notes, both about cats." } }
 *   ]
 * }
 * ```
 *
 * - `label` (optional): what the transcript shows, for people.
 * - `turns`: one per model call, replayed in order.
 * - `expect` (optional): the last message of the request must come from `lastRole` and contain `contains`.
 * - `reply`: the answer: `content`, and `toolCalls` (each a tool `name` and its `arguments` object).
 * - `usage` (optional): the tokens reported for the call (default 0 and 0), counted against max_tokens.
 *
 * Every other key is refused.
 *
 * @param path The transcript file.
 * @returns The checked transcript.
 * @throws {ModelError} `ERR_MODEL_SCRIPT` when the file cannot be read, is not JSON, or does not follow the format.
 * @example
 * ```ts
 * import { loadTranscript } from "./scripted.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, JSON.stringify({ turns: [{ reply: { content: "hello" } }] }));
 * const transcript = await loadTranscript(path);
 * await Deno.remove(path);
 * if (transcript.turns[0]?.reply.content !== "hello") throw new Error("unexpected");
 * ```
 */
export async function loadTranscript(path: string): Promise<Transcript> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ModelError("ERR_MODEL_SCRIPT", `Cannot read transcript "${path}": ${quote(String(e))}`, {
      hint: "check transcript in the [providers] table of the runtime config",
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelError("ERR_MODEL_SCRIPT", `Transcript "${path}" is not JSON: ${quote(String(e))}`, {
      hint: FORMAT,
      cause: e,
    });
  }
  return checkTranscript(json, path);
}

function checkTranscript(json: unknown, path: string): Transcript {
  const invalid = (at: string, what: string) =>
    new ModelError("ERR_MODEL_SCRIPT", `Transcript "${path}" is invalid at ${at}: ${what}`, { hint: FORMAT });
  const object = (v: unknown, at: string, keys: string[]): Record<string, unknown> => {
    if (!isRecord(v)) throw invalid(at, "expected an object");
    const unknown = Object.keys(v).find((k) => !keys.includes(k));
    if (unknown !== undefined) throw invalid(at, `unknown key "${quote(unknown)}"`);
    return v;
  };
  const string = (v: unknown, at: string): string => {
    if (typeof v !== "string") throw invalid(at, "expected a string");
    return v;
  };
  const root = object(json, "the top", ["label", "turns"]);
  if (!Array.isArray(root.turns) || root.turns.length === 0) {
    throw invalid("turns", "expected a non-empty array");
  }
  const turns = root.turns.map((t: unknown, i): ScriptedTurn => {
    const at = `turns[${i}]`;
    const turn = object(t, at, ["expect", "reply", "usage"]);
    const reply = object(turn.reply, `${at}.reply`, ["content", "toolCalls"]);
    const out: ScriptedTurn = { reply: { content: string(reply.content, `${at}.reply.content`) } };
    if (reply.toolCalls !== undefined) {
      if (!Array.isArray(reply.toolCalls)) throw invalid(`${at}.reply.toolCalls`, "expected an array");
      out.reply.toolCalls = reply.toolCalls.map((c: unknown, j) => {
        const call = object(c, `${at}.reply.toolCalls[${j}]`, ["name", "arguments"]);
        const name = string(call.name, `${at}.reply.toolCalls[${j}].name`);
        if (!isRecord(call.arguments)) {
          throw invalid(`${at}.reply.toolCalls[${j}].arguments`, "expected an object");
        }
        return { name, arguments: call.arguments };
      });
    }
    if (turn.expect !== undefined) {
      const expect = object(turn.expect, `${at}.expect`, ["lastRole", "contains"]);
      out.expect = {};
      if (expect.lastRole !== undefined) {
        if (expect.lastRole !== "user" && expect.lastRole !== "tool") {
          throw invalid(`${at}.expect.lastRole`, 'expected "user" or "tool"');
        }
        out.expect.lastRole = expect.lastRole;
      }
      if (expect.contains !== undefined) {
        out.expect.contains = string(expect.contains, `${at}.expect.contains`);
      }
    }
    if (turn.usage !== undefined) {
      const usage = object(turn.usage, `${at}.usage`, ["inputTokens", "outputTokens"]);
      if (!isCount(usage.inputTokens) || !isCount(usage.outputTokens)) {
        throw invalid(`${at}.usage`, "expected inputTokens and outputTokens, both whole numbers from 0");
      }
      out.usage = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
    }
    return out;
  });
  return root.label === undefined ? { turns } : { label: string(root.label, "label"), turns };
}

/**
 * A provider that answers each call with the transcript's next turn. Tool
 * calls get the ids `call_<turn>_<n>`; results name the model
 * `scripted:<file name>`, so a replay is never mistaken for a model.
 *
 * @param transcript The transcript, from {@linkcode loadTranscript}.
 * @param file The transcript's path, for the model's name and for messages.
 * @returns The provider; it keeps its place in the transcript.
 * @throws {ModelError} From `complete()`: `ERR_MODEL_SCRIPT` when the turns have run out or a turn's `expect` does not hold.
 * @example
 * ```ts
 * import { scriptedProvider } from "./scripted.ts";
 * const provider = scriptedProvider({ turns: [{ reply: { content: "hello" } }] }, "/demo/hello.json");
 * const r = await provider.complete({ messages: [{ role: "user", content: "hi" }] }, new AbortController().signal);
 * if (r.message.content !== "hello" || r.model !== "scripted:hello.json") throw new Error("unexpected");
 * ```
 */
export function scriptedProvider(transcript: Transcript, file: string): Provider {
  const model = `scripted:${basename(file)}`;
  let next = 0;
  const replay = (req: CompletionRequest, signal: AbortSignal): CompletionResult => {
    signal.throwIfAborted();
    const turn = transcript.turns[next];
    const n = next + 1;
    if (!turn) {
      throw new ModelError(
        "ERR_MODEL_SCRIPT",
        `Transcript "${file}" has no turn ${n}: all ${next} were replayed`,
        {
          hint: `add a turn to "${file}", or make the agent stop sooner`,
        },
      );
    }
    const last = req.messages.at(-1);
    const { lastRole, contains } = turn.expect ?? {};
    const wrong = lastRole !== undefined && last?.role !== lastRole
      ? `the last message from "${lastRole}", not "${last?.role}"`
      : contains !== undefined && !last?.content.includes(contains)
      ? `the last message to contain "${quote(contains)}"`
      : undefined;
    if (wrong) {
      throw new ModelError("ERR_MODEL_SCRIPT", `Transcript "${file}" expected at turn ${n} ${wrong}`, {
        hint: `the agent took another path than "${file}" records: update the transcript, or the agent`,
      });
    }
    next++;
    const toolCalls = (turn.reply.toolCalls ?? []).map((c, j) => ({
      id: `call_${n - 1}_${j}`,
      name: c.name,
      arguments: structuredClone(c.arguments),
    }));
    return {
      message: { role: "assistant", content: turn.reply.content, toolCalls },
      usage: { ...(turn.usage ?? { inputTokens: 0, outputTokens: 0 }) },
      stopReason: toolCalls.length ? "tool_calls" : "stop",
      model,
    };
  };
  return { complete: (req, signal) => Promise.try(() => replay(req, signal)) };
}
