/**
 * A memory snapshot of a freshly started Pyodide, made once per Pyodide and
 * Deno version and kept in the state folder's cache: a Python CodeAct run
 * restores it (about 0.3 s) instead of starting Pyodide cold (about 2 s).
 *
 * The snapshot is made by a clean sandbox process that runs no agent code:
 * the sandbox's own entry with `--make-pyodide-snapshot=FILE`, allowed to read
 * its code and Pyodide's folder and to write that one file, nothing else. A
 * run's sandbox only reads it. A snapshot that cannot be made leaves runs to
 * start Pyodide cold, as before.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { PYODIDE_SNAPSHOT_ARG } from "../protocol/protocol.ts";
import type { SandboxEntry } from "./assets.ts";
import { tempSibling } from "./cache_temp.ts";
import { PYODIDE_SPECIFIER } from "./interpreters.ts";
import { logger } from "./logging.ts";
import { SANDBOX_SUBCOMMAND } from "./sandbox_command.ts";

/** The heap the snapshot maker may use, in MiB: Pyodide starts in about 100. */
const MAKER_HEAP_MB = 1024;

/**
 * Where the snapshot of this Pyodide, made by this Deno, is kept: a new version of either is a new file.
 *
 * @param stateDir The runtime's state folder.
 * @returns The snapshot file's path.
 */
export function pyodideSnapshotPath(stateDir: string): string {
  const pyodide = PYODIDE_SPECIFIER.slice(PYODIDE_SPECIFIER.lastIndexOf("@") + 1);
  return join(stateDir, "cache", "pyodide", `${pyodide}-deno-${Deno.version.deno}`, "snapshot.bin");
}

/** The argv of the snapshot maker: the sandbox's entry with only what it needs. */
function makerCommand(
  entry: SandboxEntry,
  options: { pyodide: string; file: string; deno: string },
): string[] {
  const args = [`${PYODIDE_SNAPSHOT_ARG}${options.file}`, `--pyodide=${options.pyodide}`];
  if (entry.kind === "self") return [entry.path, SANDBOX_SUBCOMMAND, ...args];
  return [
    options.deno,
    "run",
    "--no-prompt",
    "--cached-only",
    "--no-config",
    `--v8-flags=--max-old-space-size=${MAKER_HEAP_MB}`,
    `--allow-read=${entry.dir},${options.pyodide}`,
    `--allow-write=${options.file}`,
    entry.path,
    ...args,
  ];
}

/** Options of {@linkcode ensurePyodideSnapshot}. */
export interface PyodideSnapshotOptions {
  /** The runtime's state folder (the snapshot goes in its cache). */
  stateDir: string;
  /** Pyodide's folder. */
  pyodide: string;
  /** The sandbox's entry, which makes the snapshot. */
  entry: SandboxEntry;
  /** The Deno executable; default this process's. */
  deno?: string;
  /** Told when the making starts (a line of text) and ends (`null`). */
  onProgress?: (message: string | null) => void;
}

/**
 * The path of the snapshot of this Pyodide, made first when there is none.
 *
 * @param options The state folder, Pyodide's folder, the sandbox's entry, a progress callback.
 * @returns The snapshot's path, or null when it could not be made (runs then start Pyodide cold).
 */
export async function ensurePyodideSnapshot(options: PyodideSnapshotOptions): Promise<string | null> {
  const path = pyodideSnapshotPath(options.stateDir);
  if ((await Deno.stat(path).catch(() => null))?.isFile) return path;
  options.onProgress?.("Preparing Python: a memory snapshot of Pyodide, made once (a few seconds)");
  const temp = tempSibling(path);
  const denoDir = await Deno.makeTempDir({ prefix: "ironclaw-snapshot-deno-" });
  try {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const argv = makerCommand(options.entry, {
      pyodide: options.pyodide,
      file: temp,
      deno: options.deno ?? Deno.execPath(),
    });
    const out = await new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      clearEnv: true,
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", DENO_DIR: denoDir },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim().slice(-2000));
    await Deno.rename(temp, path);
    return path;
  } catch (e) {
    logger("run").warn("Cannot make a snapshot of Pyodide, Python starts cold: {error}", {
      error: (e as Error).message,
    });
    await Deno.remove(temp).catch(() => {});
    return null;
  } finally {
    options.onProgress?.(null);
    await Deno.remove(denoDir, { recursive: true }).catch(() => {});
  }
}
