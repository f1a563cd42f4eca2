/**
 * How a run ends: its end states, their exit codes, the outcome's shape, and
 * what a sandbox that ended without a result died of. The first end decided
 * wins ({@linkcode FirstEnd}): a limit, a stop, a protocol break, the result.
 *
 * @module
 */

import type { Failure } from "../manifests/errors.ts";

/** How a run ended. */
export type EndState = "ok" | "error" | "timeout" | "oom" | "interrupted" | "lost";

/** The exit code of `ironclaw run` for each end state. */
export const EXIT_CODES: Readonly<Record<EndState, number>> = Object.freeze({
  ok: 0,
  error: 1,
  timeout: 124,
  oom: 125,
  interrupted: 130,
  /** Never given by `ironclaw run` itself: the state of a run whose supervisor died, as the store records it. */
  lost: 137,
});

/** The outcome of a run. */
export interface RunOutcome {
  /** The run's id. */
  id: string;
  /** How it ended. */
  state: EndState;
  /** What the agent returned (ok), or null. */
  output: string | null;
  /** Why it did not end ok, or null. */
  error: Failure | null;
  /** The exit code `ironclaw run` gives. */
  exitCode: number;
  /** What the model budget was and how much of it the run used, or null for a run without a model. */
  modelUsage: ModelUsageReport | null;
}

/** A run's use of its model budget. */
export interface ModelUsageReport {
  /** Calls made. */
  calls: number;
  /** Prompt tokens. */
  inputTokens: number;
  /** Answer tokens. */
  outputTokens: number;
  /** The manifest's max_calls. */
  maxCalls: number;
  /** The manifest's max_tokens. */
  maxTokens: number;
}

/** How a run ended, before the record closes. */
export type RunEnd = Pick<RunOutcome, "state" | "output" | "error">;

/**
 * The end of a run: the first one decided is kept.
 *
 * @example
 * ```ts
 * import { FirstEnd } from "./outcome.ts";
 * const end = new FirstEnd();
 * end.decide({ state: "timeout", output: null, error: { code: "ERR_TIMEOUT", message: "late", hint: "" } });
 * end.decide({ state: "ok", output: "done", error: null });
 * if (end.value?.state !== "timeout") throw new Error("the first end wins");
 * ```
 */
export class FirstEnd {
  #value: RunEnd | null = null;

  /** The end decided first, or null while none is. */
  get value(): RunEnd | null {
    return this.#value;
  }

  /**
   * Decides the end, unless one already is.
   *
   * @param end The state, output and error.
   */
  decide(end: RunEnd): void {
    this.#value ??= { ...end };
  }
}

/**
 * The end of a sandbox that exited without a result: out of memory when its
 * last words or its signal say so, else a crash.
 *
 * @param status How the process exited.
 * @param options `stderrTail`, the end of what it wrote on stderr, and `memoryMb`, the run's memory limit
 *   (for the message).
 * @returns The end.
 * @example
 * ```ts
 * import { crashEnd } from "./outcome.ts";
 * const end = crashEnd({ success: false, code: 134, signal: "SIGABRT" }, { stderrTail: "", memoryMb: 64 });
 * if (end.state !== "oom" || end.error?.code !== "ERR_MEMORY") throw new Error("unexpected");
 * ```
 */
export function crashEnd(
  status: Deno.CommandStatus,
  options: { stderrTail: string; memoryMb: number },
): RunEnd {
  const { stderrTail, memoryMb } = options;
  const oom = /out of memory|heap limit|Allocation failed/i.test(stderrTail) ||
    status.signal === "SIGABRT" ||
    status.signal === "SIGTRAP";
  if (oom) {
    return {
      state: "oom",
      output: null,
      error: {
        code: "ERR_MEMORY",
        message: `The sandbox ran out of memory (limit ${memoryMb} MiB)`,
        hint: "raise [limits] memory_mb in the manifest",
      },
    };
  }
  const signal = status.signal ? `, signal ${status.signal}` : "";
  return {
    state: "error",
    output: null,
    error: {
      code: "ERR_SANDBOX_CRASHED",
      message: `The sandbox ended without a result (exit code ${status.code}${signal})`,
      hint: "see the run's record for the sandbox's last words",
    },
  };
}
