/** The outcome of checking one grant: the value, or why it is refused. */
export type Checked<T> =
  | { ok: true; value: T; warning?: string }
  | { ok: false; code: string; message: string; hint: string };

/** A refusal. */
export function refuse(
  code: string,
  message: string,
  hint: string,
): { ok: false; code: string; message: string; hint: string } {
  return { ok: false, code, message, hint };
}
