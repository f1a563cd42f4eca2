/**
 * Where the interpreters' files are, found by the supervisor: the sandbox runs
 * a bundle that resolves no package, so it is told (the start message's
 * `assets`) and granted read access to exactly these folders.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The Pyodide the Python CodeAct engine loads; the same pin as the sandbox's own import of it. */
export const PYODIDE_SPECIFIER = "npm:pyodide@314.0.7";

/**
 * The folder of the Pyodide package (its loader, WebAssembly and standard
 * library). Importing the package first makes Deno fetch it into its cache
 * when it is not there (once; the supervisor may use the network).
 *
 * @returns The absolute path of the folder, without a trailing slash.
 */
export async function pyodideFolder(): Promise<string> {
  // deno-lint-ignore no-import-prefix
  await import("npm:pyodide@314.0.7");
  return fileURLToPath(new URL(".", import.meta.resolve(PYODIDE_SPECIFIER))).replace(/\/+$/, "");
}
