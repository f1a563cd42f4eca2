/** Reading a TOML document against a schema, with a position for every problem. */

import { parse, TomlError } from "smol-toml";
import { InvalidDocumentError, type Issue, type IssueCode, type SourcePos } from "./errors.ts";
import { formatKeyPath, type KeyPath, type LineCol, locateKeys } from "./_locate.ts";
import { type Node, validate } from "./schema.ts";

/** The largest document accepted, in characters. */
export const MAX_DOCUMENT = 256 * 1024;

/** A parsed and schema-checked document, with the position of each key. */
export interface Document<T> {
  value: T;
  /** The position of `path`, or of its nearest located ancestor. */
  at(path: KeyPath): SourcePos;
  /** Whether the document wrote `path` (as opposed to a default filling it in). */
  has(path: KeyPath): boolean;
  /** Issues found so far (by the schema); callers add their own, then call {@linkcode finish}. */
  issues: Issue[];
  /** Turns a raw issue into a positioned one. */
  issue(code: IssueCode, message: string, hint: string, path: KeyPath): void;
  /** Throws {@linkcode InvalidDocumentError} when any issue was recorded. */
  finish(): void;
}

/**
 * Parses `source.text` as TOML, checks it against `schema`, and returns the value with
 * defaults filled in. Syntax errors throw at once (nothing can be said past them);
 * schema problems are collected so the caller can add its own before finishing.
 *
 * @param source The document's text and the file it was read from (for positions).
 * @param schema What the document must hold.
 * @returns The document, its issues still open.
 * @throws {InvalidDocumentError} When the text is too large or not TOML.
 */
export function readDocument<T>(source: { text: string; file: string }, schema: Node): Document<T> {
  const file = source.file;
  let text = source.text;
  const fail = (code: IssueCode, message: string, hint: string, pos: LineCol) => {
    throw new InvalidDocumentError([{ code, message, hint, pos: { file, ...pos, key: "" } }]);
  };
  if (text.length > MAX_DOCUMENT) {
    fail(
      "ERR_TOO_LARGE",
      `The file is ${text.length} characters long, more than ${MAX_DOCUMENT}`,
      "a manifest is a few dozen lines: remove what does not belong in it",
      { line: 1, column: 1 },
    );
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let data: unknown;
  try {
    data = parse(text, { integersAsBigInt: true, maxDepth: 32 });
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const first = e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
    const message = first.charAt(0).toUpperCase() + first.slice(1);
    fail("ERR_TOML_SYNTAX", `Invalid TOML: ${message}`, syntaxHint(message), {
      line: e.line,
      column: e.column,
    });
  }
  const positions = locateKeys(text);
  const at = (path: KeyPath): SourcePos => {
    for (let n = path.length; n > 0; n--) {
      const p = positions.get(formatKeyPath(path.slice(0, n)));
      if (p) return { file, ...p, key: formatKeyPath(path) };
    }
    return { file, line: 1, column: 1, key: formatKeyPath(path) };
  };
  const checked = validate(schema, data);
  const value = checked.value as T;
  const issues: Issue[] = checked.issues.map((r) => ({
    code: r.code,
    message: r.message,
    hint: r.hint,
    pos: at(r.path),
  }));
  return {
    value,
    at,
    has: (path) => positions.has(formatKeyPath(path)),
    issues,
    issue(code, message, hint, path) {
      issues.push({ code, message, hint, pos: at(path) });
    },
    finish() {
      if (issues.length > 0) throw new InvalidDocumentError(issues);
    },
  };
}

function syntaxHint(message: string): string {
  if (/redefine/.test(message)) return "each key and table may appear only once: merge the two";
  if (/control character/.test(message)) {
    return "remove the control character, or write it as an escape such as \\t";
  }
  if (/losslessly/.test(message)) return "use a smaller number";
  return "check the TOML syntax at this place: https://toml.io/en/v1.0.0";
}
