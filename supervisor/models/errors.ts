/**
 * The error every model call raises on purpose.
 *
 * @module
 */

import { IronclawError } from "../../manifests/errors.ts";
import type { ModelErrorCode } from "../../protocol/model_types.ts";

/** Options of {@linkcode ModelError}. */
export interface ModelErrorOptions {
  /** What the user should change. */
  hint: string;
  /** The underlying error. */
  cause?: unknown;
  /** The HTTP status the provider answered with, when it answered. */
  status?: number | undefined;
  /** The provider's `retry-after`, in seconds, when it sent one. */
  retryAfterS?: number | undefined;
}

/**
 * A model call that failed: `code` says how, `hint` what to change.
 *
 * @example Raise and inspect
 * ```ts
 * import { ModelError } from "./errors.ts";
 * const e = new ModelError("ERR_MODEL_AUTH", 'Provider "openai" refused the API key (HTTP 401)', {
 *   hint: "set OPENAI_API_KEY in the supervisor's environment",
 *   status: 401,
 * });
 * if (e.code !== "ERR_MODEL_AUTH" || e.status !== 401) throw new Error("unexpected");
 * ```
 */
export class ModelError extends IronclawError {
  /** How the call failed. */
  declare readonly code: ModelErrorCode;
  /** The HTTP status the provider answered with, when it answered. */
  readonly status: number | undefined;
  /** The provider's `retry-after`, in seconds, when it sent one. */
  readonly retryAfterS: number | undefined;

  /**
   * Makes a model error.
   *
   * @param code How the call failed.
   * @param message What went wrong, in Deno's style.
   * @param options The hint, the cause, the HTTP status and `retry-after`.
   */
  constructor(code: ModelErrorCode, message: string, options: ModelErrorOptions) {
    super(code, message, options);
    this.name = "ModelError";
    this.status = options.status;
    this.retryAfterS = options.retryAfterS;
  }
}
