/**
 * One MCP call of an agent tool: the run is queued in the store like one of
 * `ironclaw submit` or `POST /v1/runs`, the in-process worker runs it, and
 * the call follows its events in the store until its `end`, telling the
 * client of its progress; a cancelled call cancels the run.
 *
 * @module
 */

import type { EventBell } from "../serve/sse.ts";
import type { Policy } from "../../capabilities/policy.ts";
import { taskProblem } from "../../capabilities/task_rule.ts";
import type { IronclawError } from "../../manifests/errors.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import { newRunId } from "../records.ts";
import type { RunStore } from "../store/mod.ts";
import { abortableSleep } from "../store/sqlite.ts";
import { checkTaskBytes } from "../supervisor.ts";
import type { WorkerHandle } from "../worker.ts";

/** How often a call looks for new events of its run, in ms. */
const POLL_MS = 100;

/** An agent offered as a tool: its manifest and Policy. */
export interface McpAgent {
  /** The manifest's absolute path. */
  manifest: string;
  /** Its Policy. */
  policy: Policy;
}

/** What an agent call needs: the store, the worker that runs the queue, and when to give up. */
export interface AgentCallContext {
  /** The store of runs and the queue. */
  store: RunStore;
  /** The in-process worker that runs the queued runs of the served agents. */
  worker: WorkerHandle;
  /** Aborted when the server stops. */
  closing: AbortSignal;
  /** Rung when the worker has written events: a call looks at once instead of at its next poll. */
  bell?: EventBell;
}

/** A tool's answer, as MCP's `CallToolResult`. */
export interface ToolAnswer {
  [key: string]: unknown;
  /** The text items. */
  content: { type: "text"; text: string }[];
  /** The same, as data. */
  structuredContent?: Record<string, unknown>;
  /** True for a failed call (a tool error, not a protocol error). */
  isError?: boolean;
}

/** Options of {@linkcode callAgent}. */
export interface AgentCallOptions {
  /** The task, or undefined when none was given. */
  task: string | undefined;
  /** Aborted when the client cancels the call. */
  signal: AbortSignal;
  /** Told of the run's progress: a count that grows, and a word on what happened. */
  onProgress?: (progress: number, message: string) => void;
}

/**
 * A tool error: the error's code, message and hint as text and data.
 *
 * @param error The error.
 * @param runId The run, when there is one.
 * @returns The answer, with `isError`.
 */
export function toolError(
  error: { code: string; message: string; hint?: string | undefined },
  runId?: string,
): ToolAnswer {
  const text = `${error.code}: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ""}`;
  return {
    content: [{ type: "text", text }, ...(runId ? [{ type: "text" as const, text: `run ${runId}` }] : [])],
    structuredContent: {
      ...(runId ? { run_id: runId } : {}),
      error: { code: error.code, message: error.message, hint: error.hint ?? "" },
    },
    isError: true,
  };
}

/**
 * Runs an agent for an MCP call: queues the run, follows it to its end, answers with its output and id.
 *
 * @param ctx The store, the worker and the server's closing signal.
 * @param agent The agent.
 * @param options The task, the call's signal and where progress goes.
 * @returns The output and the run id, or a tool error with the run's error code and hint.
 */
export async function callAgent(
  ctx: AgentCallContext,
  agent: McpAgent,
  options: AgentCallOptions,
): Promise<ToolAnswer> {
  const { policy } = agent;
  const problem = taskProblem(policy, options.task, { give: '"task": "..."', omit: 'the "task" argument' });
  if (problem) return toolError({ code: "ERR_USAGE", ...problem });
  try {
    checkTaskBytes(options.task ?? "");
  } catch (e) {
    return toolError(e as IronclawError);
  }
  const id = newRunId();
  await ctx.store.enqueueRun({
    id,
    agent: policy.agent.name,
    manifest: agent.manifest,
    task: options.task ?? "",
    started: new Date().toISOString(),
    retries: policy.limits.retries,
  });
  ctx.worker.wake();
  const end = await follow(ctx, id, options);
  return end === null
    ? toolError({ code: "ERR_INTERRUPTED", message: "The server is stopping", hint: "call again later" }, id)
    : answerOf(id, end);
}

/** The answer of an ended run. */
function answerOf(id: string, end: RunEvent): ToolAnswer {
  const state = String(end.state);
  if (state === "ok") {
    const output = typeof end.output === "string" ? end.output : "";
    return {
      content: [{ type: "text", text: output }, { type: "text", text: `run ${id}` }],
      structuredContent: { run_id: id, state, output },
    };
  }
  const e = (end.error ?? {}) as { code?: string; message?: string; hint?: string };
  const answer = toolError({
    code: e.code ?? "ERR_INTERNAL",
    message: e.message ?? `The run ended ${state}`,
    hint: e.hint,
  }, id);
  answer.structuredContent = { ...answer.structuredContent, state };
  return answer;
}

/** A word on an event worth telling the client of, or null. */
function progressWord(e: RunEvent): string | null {
  if (e.type === "state") return `state ${e.state}`;
  if (e.type === "step") return `step ${e.step}`;
  if (e.type === "tool") return `tool ${e.tool}`;
  if (e.type === "code") return `code step ${e.step}`;
  if (e.type === "log" && typeof e.message === "string") return `log: ${e.message.slice(0, 200)}`;
  return null;
}

/** Follows a run's events to its `end` (null when the server stops first); cancels it when the call is. */
async function follow(
  ctx: AgentCallContext,
  id: string,
  options: AgentCallOptions,
): Promise<RunEvent | null> {
  let after = -1;
  let seen = 0;
  let cancelled = false;
  while (!ctx.closing.aborted) {
    const events = await ctx.store.eventsAfter(id, after);
    let word: string | null = null;
    for (const e of events) {
      after = e.seq as number;
      if (e.type === "end") return e;
      word = progressWord(e) ?? word;
    }
    seen += events.length;
    if (word !== null) options.onProgress?.(seen, word);
    if (options.signal.aborted && !cancelled) cancelled = await cancel(ctx, id);
    if (events.length > 0) continue;
    if (ctx.bell) await ctx.bell.wait(POLL_MS, ctx.closing);
    else await abortableSleep(POLL_MS, ctx.closing);
  }
  return null;
}

/** Cancels a queued or running run; false when it is in between (taken, not yet held): try again. */
async function cancel(ctx: AgentCallContext, id: string): Promise<boolean> {
  const { summary } = await ctx.store.showRun(id);
  if (summary.state === "queued") return await ctx.store.cancelQueued(id);
  if (summary.state === "running") return ctx.worker.cancel(id, "cancelled by the MCP client");
  return true; // ended
}
