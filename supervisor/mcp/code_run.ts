/**
 * A CodeAct sandbox that an MCP client drives: the run of a CodeAct agent
 * whose "model" is the client. Each `run_javascript` or `run_python` call is
 * one step: its code goes to the loop as the model's answer (a fenced code
 * block), and the loop's next model request carries the step's observation
 * (output, last value, error), which is the call's answer. The interpreter
 * keeps its variables between steps because the sandbox lives as long as the
 * MCP session (or until the run ends: its `timeout_s`, its `max_steps`, a
 * cancelled step); every step is a `step` and a `code` event of that run.
 *
 * @module
 */

import type { Policy } from "../../capabilities/policy.ts";
import { IronclawError } from "../../manifests/errors.ts";
import type { RuntimeConfig } from "../../manifests/runtime_config.ts";
import type { CompletionRequest, CompletionResult } from "../../protocol/model_types.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import { planAgent } from "../plan.ts";
import { runPlanned } from "../run.ts";
import type { RunStore } from "../store/mod.ts";
import type { ModelClient, RunHandle, RunOutcome } from "../supervisor.ts";

/** The languages of the code tools. */
export type CodeLanguage = "javascript" | "python";

/** What one step answered. */
export interface CodeStepAnswer {
  /** The run the step belongs to. */
  runId: string;
  /** The step's number in that run. */
  step: number;
  /** The observation: output, last value and error, as the loop writes them. */
  observation: string;
  /** The error the code raised (or its timeout), or null. */
  error: string | null;
  /** True when this step started a new sandbox (the session's earlier variables are gone). */
  fresh: boolean;
}

/** Where the runs of code steps are made. */
export interface CodeRunContext {
  /** The runtime config in force. */
  config: RuntimeConfig;
  /** The store the runs are recorded in. */
  store: RunStore;
  /** The CodeAct Policy of the code tools (`--code`, or the built-in one that grants nothing). */
  policy: Policy;
}

/** A code step the loop is waiting for, or waiting on. */
interface Pending {
  code: string;
  resolve: (observation: string) => void;
  reject: (e: unknown) => void;
}

/** The model answer that ends the loop: no code block. */
const GOODBYE = "The MCP session ended.";

/** The code as the model's answer: one fenced block (code holding a fence could not be told from its end). */
function fenced(language: CodeLanguage, code: string): string {
  if (code.includes("```")) {
    throw new IronclawError("ERR_INVALID_ARGS", "The code holds three backticks in a row (```)", {
      hint: "write them another way, such as '`'.repeat(3)",
    });
  }
  return "```" + language + "\n" + code + "\n```";
}

/**
 * One sandbox of one language for one MCP session: started on the first step, started again after its run
 * ended, stopped with the session.
 */
export class CodeRun {
  readonly #ctx: CodeRunContext;
  readonly #language: CodeLanguage;
  readonly #label: string;
  #handle: RunHandle | null = null;
  #ended: RunOutcome | null = null;
  #waiting: ((code: string | null) => void) | null = null;
  #step: Pending | null = null;
  #steps = 0;
  #lastError: string | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * @param ctx The config, store and Policy.
   * @param options The language and a label for the run's task (the MCP session).
   */
  constructor(ctx: CodeRunContext, options: { language: CodeLanguage; label: string }) {
    this.#ctx = ctx;
    this.#language = options.language;
    this.#label = options.label;
  }

  /**
   * Runs one step, after the session's earlier ones (one at a time).
   *
   * @param code The code.
   * @param signal Aborted when the client cancels the call: the run is stopped (it ends `interrupted`).
   * @returns The step's answer.
   */
  step(code: string, signal: AbortSignal): Promise<CodeStepAnswer> {
    const next = this.#queue.then(() => this.#stepNow(code, signal));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #stepNow(code: string, signal: AbortSignal): Promise<CodeStepAnswer> {
    if (this.#closed) throw new IronclawError("ERR_INTERRUPTED", "The MCP session is closed");
    const answer = fenced(this.#language, code);
    signal.throwIfAborted();
    const fresh = this.#handle === null || this.#ended !== null;
    if (fresh) await this.#start();
    const handle = this.#handle!;
    const stop = () => handle.stop("cancelled by the MCP client");
    signal.addEventListener("abort", stop, { once: true });
    if (signal.aborted) stop(); // cancelled while the sandbox was starting
    try {
      const observation = await new Promise<string>((resolve, reject) => {
        this.#step = { code: answer, resolve, reject };
        this.#lastError = null;
        this.#offer();
      });
      return { runId: handle.id, step: this.#steps, observation, error: this.#lastError, fresh };
    } finally {
      signal.removeEventListener("abort", stop);
      this.#step = null;
    }
  }

  /** Hands the pending step's code to the loop when it is waiting for its next answer. */
  #offer(): void {
    if (this.#step === null || this.#waiting === null) return;
    const give = this.#waiting;
    this.#waiting = null;
    give(this.#step.code);
  }

  /** Starts the sandbox: a CodeAct run whose model is this object. */
  async #start(): Promise<void> {
    const { config, store } = this.#ctx;
    const policy = { ...this.#ctx.policy, agent: { ...this.#ctx.policy.agent, language: this.#language } };
    const plan = await planAgent({ policy }, config);
    this.#ended = null;
    this.#steps = 0;
    const handle = await runPlanned(plan, {
      task: `${this.#language} steps from the MCP client (${this.#label})`,
      store,
      model: this.#model(),
      onEvent: (e) => this.#onEvent(e),
    });
    this.#handle = handle;
    handle.done.then((outcome) => this.#onEnd(outcome), (e) => this.#onEnd(null, e));
  }

  #onEvent(e: RunEvent): void {
    if (e.type === "code") {
      this.#steps = Number(e.step) || this.#steps + 1;
      const error = typeof e.error === "string" ? e.error : null;
      this.#lastError = e.timedOut === true ? (error ?? "the step timed out") : error;
    }
  }

  #onEnd(outcome: RunOutcome | null, e?: unknown): void {
    this.#ended = outcome ?? { state: "error" } as RunOutcome;
    this.#waiting?.(null);
    this.#waiting = null;
    const failure = outcome?.error ?? null;
    this.#step?.reject(
      e ?? new IronclawError(
        failure?.code ?? "ERR_INTERNAL",
        `The code sandbox ended (${outcome?.state}): ${failure?.message ?? "no error"}`,
        { hint: failure?.hint ?? "call again: a new sandbox starts (the earlier variables are gone)" },
      ),
    );
  }

  /** The loop's model: each request after the first carries the observation of the step just run. */
  #model(): ModelClient {
    let calls = 0;
    // No budget of tokens: the loop asks at most max_steps + 1 times (each step, then its end).
    const maxCalls = this.#ctx.policy.limits.maxSteps + 1;
    return {
      complete: (req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> => {
        calls++;
        const last = req.messages.at(-1);
        if (this.#step !== null && req.messages.length > 2 && last?.role === "user") {
          this.#step.resolve(last.content.replace(/^Observation:\n/, ""));
          this.#step = null;
        }
        return new Promise<string | null>((resolve) => {
          this.#waiting = resolve;
          signal.addEventListener("abort", () => resolve(null), { once: true });
          if (this.#closed) resolve(null);
          this.#offer();
        }).then((code) => answerOf(code ?? GOODBYE));
      },
      usage: () => ({ calls, inputTokens: 0, outputTokens: 0, maxCalls, maxTokens: 0 }),
    };
  }

  /**
   * Ends the sandbox: the loop is answered without code (the run ends `ok`), or stopped if a step runs.
   *
   * @returns When the run has ended.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const handle = this.#handle;
    if (handle === null || this.#ended !== null) return;
    if (this.#waiting !== null) {
      const give = this.#waiting;
      this.#waiting = null;
      give(null);
    } else handle.stop("the MCP session ended");
    await handle.done.catch(() => {});
  }
}

function answerOf(content: string): CompletionResult {
  return {
    message: { role: "assistant", content, toolCalls: [] },
    usage: { inputTokens: 0, outputTokens: 0 },
    stopReason: "stop",
    model: "mcp-client",
  };
}
