/**
 * The inside of a CodeAct interpreter's own Worker (not built yet).
 *
 * @module
 */

/** Runs an interpreter's side of its Worker. */
export function sessionGuest(_init: unknown): void {
  throw new Error("interpreters in Workers are not built yet");
}
