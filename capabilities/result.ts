import type { Failure, IssueCode } from "../manifests/errors.ts";

/**
 * The outcome of checking one grant: the value (perhaps with a warning), or
 * why it is refused, with a stable code and a hint.
 */
export type Checked<T> =
  | { ok: true; value: T; warning?: string }
  | { ok: false; code: IssueCode; message: string; hint: string };

/**
 * A refusal.
 *
 * @param failure Its stable code, its message and the hint that says what to change.
 * @returns The refused {@linkcode Checked}.
 */
export function refuse(failure: Failure & { code: IssueCode }): Extract<Checked<never>, { ok: false }> {
  return { ok: false, code: failure.code, message: failure.message, hint: failure.hint };
}
