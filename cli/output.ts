/** Writing to the terminal: colour only when wanted, errors formatted alike everywhere. */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { formatIssue, InvalidDocumentError, IronclawError, printableLines } from "../manifests/errors.ts";

/** Where a command writes; tests pass their own. */
export interface Io {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Whether to colour the output (a terminal, and NO_COLOR unset). */
  color: boolean;
}

/** The process's own standard output and error. */
export function processIo(): Io {
  const enc = new TextEncoder();
  const noColor = Deno.noColor || (Deno.env.get("NO_COLOR") ?? "") !== "";
  return {
    out: (t) => writeAll(Deno.stdout, enc.encode(t)),
    err: (t) => writeAll(Deno.stderr, enc.encode(t)),
    color: !noColor && Deno.stdout.isTerminal(),
  };
}

/** The streams whose reader went away (`ironclaw runs show ... | head`): what follows is dropped. */
const closed = new WeakSet<object>();

/**
 * Writes all of `bytes`. A reader that went away ends the writing, never the command: a run goes on to its end
 * and its record, whoever stopped reading.
 */
function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  if (closed.has(w)) return;
  let n = 0;
  try {
    while (n < bytes.length) n += w.writeSync(bytes.subarray(n));
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    closed.add(w);
  }
}

/** Styles for terminal text, no-ops without colour. */
export function styles(io: Io): Record<"bold" | "dim" | "red" | "yellow" | "green", (s: string) => string> {
  const wrap = (open: number, close: number) => (s: string) =>
    io.color ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    yellow: wrap(33, 39),
    green: wrap(32, 39),
  };
}

/** A usage error: exit code 2. */
export class UsageError extends IronclawError {
  /** @param message What is wrong with the command line. @param hint What to type instead. */
  constructor(message: string, hint: string) {
    super("ERR_USAGE", message, { hint });
    this.name = "UsageError";
  }
}

/** Writes an error to standard error as a person reads it, and returns the exit code it means. */
export function reportError(io: Io, e: unknown): number {
  const s = styles(io);
  if (e instanceof InvalidDocumentError) {
    io.err(
      `${s.red("error")}: ${e.issues.length === 1 ? "1 problem" : `${e.issues.length} problems`} found\n`,
    );
    for (const issue of e.issues) io.err(formatIssue(issue) + "\n");
    return 2;
  }
  if (e instanceof IronclawError) {
    io.err(`${s.red("error")}: ${printableLines(e.message)} [${e.code}]\n`);
    if (e.hint) io.err(`  hint: ${printableLines(e.hint, "    ")}\n`);
    return e instanceof UsageError || e.code === "ERR_USAGE" ? 2 : 1;
  }
  io.err(`${s.red("error")}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  io.err("  hint: this is a bug in IronClaw; please report it with the command you ran\n");
  return 1;
}

/** An error as JSON data, for `--json` output. */
export function errorJson(e: unknown): Record<string, unknown> {
  if (e instanceof InvalidDocumentError) {
    return {
      code: e.code,
      message: "The document is invalid",
      errors: e.issues.map((i) => ({ code: i.code, message: i.message, hint: i.hint, ...i.pos })),
    };
  }
  if (e instanceof IronclawError) return { code: e.code, message: e.message, hint: e.hint };
  return { code: "ERR_INTERNAL", message: e instanceof Error ? e.message : String(e) };
}

/** The options every command that reads the runtime config takes. */
export const COMMON_OPTIONS = {
  json: { type: "boolean" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** What `--config` asks of {@linkcode loadRuntimeConfig}: that file, or the usual search. */
export function configOption(values: { config?: string | undefined }): { path?: string } {
  return values.config === undefined ? {} : { path: values.config };
}

/** `parseArgs` (give it `strict: true`), its complaints turned into usage errors (exit 2) that name the help. */
export function parseCommandArgs<T extends ParseArgsConfig>(
  config: T,
  command: string,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    const message = (e as Error).message.split(". ")[0] ?? String(e);
    throw new UsageError(message, `ironclaw help ${command}`);
  }
}

/**
 * A whole number given to a flag, within a range.
 *
 * @param value The flag's text, or undefined when it was not given.
 * @param options The flag's name, without `--`, and the least and the most it takes.
 * @returns The number, or undefined when the flag was not given.
 * @throws {UsageError} When it is not a whole number in the range.
 */
export function intFlag(
  value: string | undefined,
  options: { flag: string; range: [number, number] },
): number | undefined {
  const { flag, range } = options;
  if (value === undefined) return undefined;
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= range[0] && n <= range[1])) {
    throw new UsageError(
      `"${value}" is not a valid ${flag}`,
      `give --${flag} from ${range[0]} to ${range[1]}`,
    );
  }
  return n;
}
