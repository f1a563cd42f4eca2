/**
 * The supervisor's limits of a run, each written once: the wall time, the
 * output (bytes of stdout, stderr and log events, WASI pipes and the result
 * together), and the bytes of protocol messages the sandbox may write.
 *
 * @module
 */

import type { Policy } from "../capabilities/policy.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { RunEnd } from "./outcome.ts";

/** A limit that ends a run when passed. */
export type RunLimit = "timeout_s" | "max_output_kb";

/** What passing a limit does: the run's end, and the `limit` event the record gets. */
export interface LimitBreach {
  /** The run's end. */
  end: RunEnd;
  /** The `limit` event. */
  event: RunEvent;
}

/**
 * The end and the record of a run that passed a limit.
 *
 * @param policy The run's Policy (its limits).
 * @param limit Which limit.
 * @returns The end and the event.
 * @example
 * ```ts
 * import { limitBreach } from "./limits.ts";
 * import type { Policy } from "../capabilities/policy.ts";
 * const policy = { limits: { timeoutS: 5, maxOutputKb: 64 } } as unknown as Policy;
 * const { end } = limitBreach(policy, "timeout_s");
 * if (end.state !== "timeout" || end.error?.code !== "ERR_TIMEOUT") throw new Error("unexpected");
 * ```
 */
export function limitBreach(policy: Policy, limit: RunLimit): LimitBreach {
  const l = policy.limits;
  if (limit === "timeout_s") {
    return {
      end: {
        state: "timeout",
        output: null,
        error: {
          code: "ERR_TIMEOUT",
          message: `The run took longer than ${l.timeoutS} s`,
          hint: "raise [limits] timeout_s in the manifest",
        },
      },
      event: { type: "limit", limit, value: l.timeoutS },
    };
  }
  return {
    end: {
      state: "error",
      output: null,
      error: {
        code: "ERR_LIMIT",
        message: `The agent's output passed ${l.maxOutputKb} KiB`,
        hint: "raise [limits] max_output_kb in the manifest",
      },
    },
    event: { type: "limit", limit, value: l.maxOutputKb },
  };
}

/**
 * The counters of one run's limits.
 *
 * @example
 * ```ts
 * import { RunLimits } from "./limits.ts";
 * import type { Policy } from "../capabilities/policy.ts";
 * const limits = new RunLimits({ limits: { timeoutS: 5, maxOutputKb: 1 } } as unknown as Policy);
 * if (limits.addOutput(1000) || !limits.addOutput(100)) throw new Error("1 KiB is 1024 bytes");
 * ```
 */
export class RunLimits {
  /** The most output, in bytes. */
  readonly output: number;
  /** The most bytes of protocol messages the sandbox may write: the output's eightfold, at least 16 MiB. */
  readonly messageBytes: number;
  /** The wall time, in ms. */
  readonly wallMs: number;
  #outputUsed = 0;

  /** @param policy The run's Policy. */
  constructor(policy: Policy) {
    this.output = policy.limits.maxOutputKb * 1024;
    this.messageBytes = Math.max(16 * 1024 * 1024, this.output * 8);
    this.wallMs = policy.limits.timeoutS * 1000;
  }

  /**
   * Counts output.
   *
   * @param n UTF-8 bytes of output (count a string with `utf8ByteLength`).
   * @returns Whether the output is now past its limit.
   */
  addOutput(n: number): boolean {
    this.#outputUsed += n;
    return this.#outputUsed > this.output;
  }

  /**
   * Whether a result of this size fits in what is left of the output.
   *
   * @param n The result's length in UTF-8 bytes.
   * @returns True when it fits.
   */
  resultFits(n: number): boolean {
    return n + this.#outputUsed <= this.output;
  }
}
