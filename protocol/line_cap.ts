/**
 * The protocol's line cap of a run, computed from the run's limits, so every
 * payload the documentation allows fits in one line: the task, a model answer,
 * the output, and the file operations' data, each JSON-escaped at worst, plus
 * the message around it. The supervisor reads the sandbox's lines with it and
 * tells the sandbox the same cap (`--max-line=N`) for the lines it reads.
 *
 * @module
 */

import { IronclawError } from "../manifests/errors.ts";

/** The longest task a run takes, in UTF-8 bytes; a longer one is refused before anything is spawned. */
export const MAX_TASK_BYTES = 8 * 1024 * 1024;

/** The longest model answer the supervisor accepts from a provider, in UTF-8 bytes (`ERR_MODEL_RESPONSE` past it). */
export const MAX_MODEL_ANSWER_BYTES = 16 * 1024 * 1024;

/** The most bytes of one file operation (`fs.read`, `fs.write`): the gate's `MAX_FILE_BYTES`. */
export const MAX_FILE_OP_BYTES = 8 * 1024 * 1024;

/** Room for the message around a payload (its other fields, the Policy of a start), in bytes. */
export const LINE_ENVELOPE_BYTES = 1024 * 1024;

/**
 * How much larger JSON makes a string at worst: a control character (1 byte
 * of UTF-8) is written `\u0001` (6 bytes), and a lone surrogate (counted as 3)
 * too.
 */
export const JSON_ESCAPE_FACTOR = 6;

/** The sandbox's argument that gives it the run's line cap. */
export const MAX_LINE_ARG = "--max-line=";

/** What a run's line cap is computed from. */
export interface LineCapLimits {
  /** The run's output cap, `max_output_kb` in bytes. */
  outputBytes: number;
  /** The run's task, in UTF-8 bytes (at most {@linkcode MAX_TASK_BYTES}, so it never raises the cap); default 0. */
  taskBytes?: number;
}

/**
 * The line cap of a run: the largest payload it may carry (its task, its
 * output cap, {@linkcode MAX_MODEL_ANSWER_BYTES}, {@linkcode MAX_FILE_OP_BYTES}),
 * JSON-escaped at worst, plus {@linkcode LINE_ENVELOPE_BYTES}. The sandbox
 * must be told it on its command line; `ironclaw check` shows it there.
 *
 * @param limits The run's output cap and task size.
 * @returns The cap, in bytes.
 * @example
 * ```ts
 * import { lineCap, LINE_ENVELOPE_BYTES, MAX_MODEL_ANSWER_BYTES } from "./line_cap.ts";
 * const cap = lineCap({ outputBytes: 1024 * 1024 });
 * if (cap !== 6 * MAX_MODEL_ANSWER_BYTES + LINE_ENVELOPE_BYTES) throw new Error(String(cap));
 * if (lineCap({ outputBytes: 64 * 1024 * 1024 }) <= cap) throw new Error("a larger output cap raises it");
 * ```
 */
export function lineCap(limits: LineCapLimits): number {
  const payload = Math.max(
    limits.outputBytes,
    limits.taskBytes ?? 0,
    MAX_MODEL_ANSWER_BYTES,
    MAX_FILE_OP_BYTES,
  );
  return payload * JSON_ESCAPE_FACTOR + LINE_ENVELOPE_BYTES;
}

/**
 * The line cap named on a sandbox's command line.
 *
 * @param args The process's arguments.
 * @returns The cap, or null when none (or no valid one) was given.
 * @example
 * ```ts
 * import { lineCapOf } from "./line_cap.ts";
 * if (lineCapOf(["--channel=/c", "--max-line=1000"]) !== 1000) throw new Error();
 * if (lineCapOf(["--max-line=x"]) !== null || lineCapOf([]) !== null) throw new Error();
 * ```
 */
export function lineCapOf(args: readonly string[]): number | null {
  const arg = args.find((a) => a.startsWith(MAX_LINE_ARG));
  const n = arg === undefined ? NaN : Number(arg.slice(MAX_LINE_ARG.length));
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/**
 * A protocol line longer than the run's line cap: a limit (`ERR_LIMIT`), not
 * a broken protocol, with a hint saying which limit raises the cap.
 */
export class LineTooLongError extends IronclawError {
  /** The cap that was passed, in bytes. */
  readonly cap: number;

  /** @param cap The run's line cap, in bytes. */
  constructor(cap: number) {
    super(
      "ERR_LIMIT",
      `A protocol message is longer than the run's line cap of ${cap} bytes`,
      {
        hint:
          `raise [limits] max_output_kb in the manifest: the line cap is ${JSON_ESCAPE_FACTOR} times the ` +
          "largest of max_output_kb, the task, the 16 MiB model answer cap and the 8 MiB file cap, plus 1 MiB",
      },
    );
    this.name = "LineTooLongError";
    this.cap = cap;
  }
}
