/**
 * The inside of a plugin's own Worker (not built yet: plugins still run in the gate's realm).
 *
 * @module
 */

/** Runs a plugin's side of its Worker. */
export function pluginGuest(_init: unknown): void {
  throw new Error("plugins in Workers are not built yet");
}
