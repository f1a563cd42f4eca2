/**
 * The outcome of checking one grant: the value (perhaps with a warning), or
 * why it is refused, with a stable code and a hint.
 */
export type Checked<T> =
  | { ok: true; value: T; warning?: string }
  | { ok: false; code: string; message: string; hint: string };

/** A refusal. */
export function refuse(code: string, message: string, hint: string): Extract<Checked<never>, { ok: false }> {
  return { ok: false, code, message, hint };
}
