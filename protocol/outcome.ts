/**
 * How a guest ended, as each WebAssembly host reports it.
 *
 * @module
 */

import type { Failure } from "../manifests/errors.ts";

/** How a guest ended. */
export interface GuestOutcome {
  /** ok: it returned; error: it failed or trapped; oom: its memory cap stopped it. */
  state: "ok" | "error" | "oom";
  /** What it returned, when ok. */
  output: string | null;
  /** Why not, otherwise. */
  error: Failure | null;
}
