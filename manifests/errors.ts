/**
 * The error hierarchy of IronClaw: one base class with a stable code and a hint
 * that says what to change.
 *
 * @module
 */

/** Where in a source file a problem sits: file, 1-based line and column, and the key path. */
export interface SourcePos {
  /** The file the text came from, as given by the caller. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** Dotted key path, such as `capabilities.net.allow[1].methods`; empty for the whole document. */
  key: string;
}

/** Options of {@linkcode IronclawError}. */
export interface IronclawErrorOptions {
  /** What the user should change. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A failure as data: what every error of IronClaw carries, and what crosses
 * the protocol, the gate's replies and a run's outcome.
 */
export interface Failure {
  /** Stable machine-readable code, such as `ERR_CAPABILITY_DENIED`. */
  code: string;
  /** What went wrong. */
  message: string;
  /** What to change; empty when there is nothing useful to say. */
  hint: string;
}

/**
 * The {@linkcode Failure} of any thrown value: an {@linkcode IronclawError}'s
 * own code and hint, else `fallback` with the value's message.
 *
 * @param e What was thrown.
 * @param fallback The code for values that are not IronClaw errors.
 * @returns The failure.
 * @example
 * ```ts
 * import { failureOf, IronclawError } from "./errors.ts";
 * const f = failureOf(new IronclawError("ERR_X", "Bad", { hint: "fix it" }), "ERR_OTHER");
 * if (f.code !== "ERR_X" || f.hint !== "fix it") throw new Error();
 * if (failureOf(new Error("boom"), "ERR_OTHER").code !== "ERR_OTHER") throw new Error();
 * ```
 */
export function failureOf(e: unknown, fallback: string): Failure {
  if (e instanceof IronclawError) return { code: e.code, message: e.message, hint: e.hint };
  return { code: fallback, message: e instanceof Error ? e.message : String(e), hint: "" };
}

/**
 * The base of every error IronClaw raises on purpose. `code` is stable and
 * meant for programs; `message` and `hint` are for people.
 *
 * @example Raise and inspect
 * ```ts
 * import { IronclawError } from "./errors.ts";
 * const e = new IronclawError("ERR_EXAMPLE", "Something is off", { hint: "change it" });
 * if (e.code !== "ERR_EXAMPLE" || e.hint !== "change it") throw new Error("unexpected");
 * ```
 */
export class IronclawError extends Error {
  /** Stable machine-readable code, such as `ERR_CAPABILITY_DENIED`. */
  readonly code: string;
  /** What to change, in a sentence; empty when there is nothing useful to say. */
  readonly hint: string;

  /**
   * Makes an error with a code, a message and a hint.
   *
   * @param code Stable error code.
   * @param message What went wrong, in Deno's style (capitalised, no trailing period).
   * @param options A hint and a cause.
   */
  constructor(code: string, message: string, options: IronclawErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "IronclawError";
    this.code = code;
    this.hint = options.hint ?? "";
  }
}

/** One problem found in a manifest, a runtime config or a plugin file. */
export interface Issue {
  /** Stable code, such as `ERR_UNKNOWN_KEY`. */
  code: string;
  /** What is wrong. */
  message: string;
  /** What to write instead. */
  hint: string;
  /** Where it is. */
  pos: SourcePos;
}

/**
 * A document (manifest, runtime config) that is invalid. It carries every
 * problem found, not only the first; `code` is `ERR_INVALID_DOCUMENT`.
 *
 * @example Format the problems
 * ```ts
 * import { InvalidDocumentError } from "./errors.ts";
 * const e = new InvalidDocumentError([{
 *   code: "ERR_UNKNOWN_KEY",
 *   message: "Unknown key \"nmae\"",
 *   hint: "did you mean \"name\"?",
 *   pos: { file: "agent.toml", line: 2, column: 1, key: "agent.nmae" },
 * }]);
 * if (!e.message.includes("agent.toml:2:1")) throw new Error("unexpected");
 * ```
 */
export class InvalidDocumentError extends IronclawError {
  /** Every problem found, in document order. */
  readonly issues: readonly Issue[];

  /**
   * Makes the error of a document from its problems, sorted by position.
   *
   * @param issues The problems found; at least one.
   */
  constructor(issues: readonly Issue[]) {
    const safe = issues.map((i) => ({
      ...i,
      message: printable(i.message),
      hint: printable(i.hint),
      pos: { ...i.pos, key: printable(i.pos.key) },
    }));
    const sorted = safe.sort((a, b) =>
      a.pos.file.localeCompare(b.pos.file) || a.pos.line - b.pos.line || a.pos.column - b.pos.column
    );
    const first = sorted[0];
    super(
      "ERR_INVALID_DOCUMENT",
      sorted.length === 1 && first
        ? formatIssue(first)
        : `${sorted.length} problems:\n${sorted.map(formatIssue).join("\n")}`,
      { hint: first?.hint ?? "" },
    );
    this.name = "InvalidDocumentError";
    this.issues = Object.freeze(sorted);
  }
}

/**
 * Formats one issue as `file:line:column: [code] message (key) hint`.
 *
 * @param issue The issue.
 * @returns One line, or two when there is a hint.
 * @example
 * ```ts
 * import { formatIssue } from "./errors.ts";
 * const line = formatIssue({
 *   code: "ERR_TYPE", message: "Expected a string", hint: "",
 *   pos: { file: "a.toml", line: 1, column: 8, key: "agent.name" },
 * });
 * if (line !== "a.toml:1:8: ERR_TYPE at agent.name: Expected a string") throw new Error(line);
 * ```
 */
export function formatIssue(issue: Issue): string {
  const { file, line, column, key } = issue.pos;
  const at = key ? ` at ${printable(key)}` : "";
  const head = `${printable(file)}:${line}:${column}: ${issue.code}${at}: ${printable(issue.message)}`;
  return issue.hint ? `${head}\n    hint: ${printable(issue.hint)}` : head;
}

/**
 * Makes text safe to print on a terminal: control characters (escape sequences,
 * bells, carriage returns, newlines) and bidirectional overrides become `\u` escapes,
 * so a hostile value quoted in a message cannot rewrite the screen or fake a line.
 *
 * @param text Any text.
 * @returns The text with those characters escaped.
 * @example
 * ```ts
 * import { printable } from "./errors.ts";
 * if (printable("a\u001b[2Jb") !== "a\\u001b[2Jb") throw new Error();
 * ```
 */
export function printable(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Like {@linkcode printable}, for a message that may span lines (a stack, a
 * tool's output): newlines stay newlines, and every line after the first is
 * indented by `indent`, so no line of the text can pass for one of the
 * program's own. Every other control character is escaped.
 *
 * @param text Any text.
 * @param indent What starts each continuation line; default two spaces.
 * @returns The text, safe to print.
 * @example
 * ```ts
 * import { printableLines } from "./errors.ts";
 * if (printableLines("a\nb\u001b[2J") !== "a\n  b\\u001b[2J") throw new Error();
 * ```
 */
export function printableLines(text: string, indent = "  "): string {
  return text.replace(/\r\n/g, "\n").split("\n").map(printable).join(`\n${indent}`);
}
