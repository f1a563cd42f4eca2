/**
 * The error hierarchy of IronClaw: one base class with a stable code and a hint
 * that says what to change.
 *
 * @module
 */

/**
 * Every error code IronClaw raises, with what it means. Codes are stable:
 * programs may match on them; the meaning is for people. The test
 * `manifests/error_codes_test.ts` checks that the codes raised in the tree are
 * exactly these keys.
 *
 * @example Look a code up
 * ```ts
 * import { ERROR_CODES } from "./errors.ts";
 * if (!ERROR_CODES.ERR_CAPABILITY_DENIED.includes("Policy")) throw new Error();
 * ```
 */
export const ERROR_CODES = {
  // Documents: agent.toml, ironclaw.toml, plugin.toml.
  ERR_INVALID_DOCUMENT: "A manifest, runtime config or plugin file has problems; each one is an issue",
  ERR_TOML_SYNTAX: "The file is not valid TOML",
  ERR_TOO_LARGE: "A file, string or list is larger than IronClaw reads",
  ERR_UNKNOWN_KEY: "A key that the schema does not know",
  ERR_MISSING_KEY: "A required key is absent",
  ERR_TYPE: "A value has the wrong type",
  ERR_VALUE: "A value has the right type but is out of range or not one of the allowed words",
  ERR_DUPLICATE: "An entry is listed twice",
  ERR_CONFLICT: "A key does not apply given another key's value",
  ERR_NUL_BYTE: "A string holds a NUL byte",
  // Capabilities: paths.
  ERR_PATH_EMPTY: "A path grant is empty",
  ERR_PATH_ESCAPE: "A relative path grant leaves the agent's folder",
  ERR_PATH_TILDE: "A path grant starts with ~, which is not expanded",
  ERR_PATH_SYMLINK: "A path grant is, or holds, a symbolic link that leads elsewhere",
  ERR_PATH_ROOT: "A path grant is the file system's root",
  ERR_PATH_SYSTEM: "A path grant covers a system folder",
  ERR_PATH_HOME: "A path grant is the whole home folder",
  ERR_PATH_SECRET: "A path grant covers a folder of credentials (~/.ssh and the like)",
  ERR_PATH_COMMA: "A path holds a comma, which Deno's flags cannot carry",
  ERR_PATH_GUARDED:
    "A write grant covers what IronClaw guards (the manifest, the runtime config, run records, plugins)",
  // Capabilities: network.
  ERR_NET_INVALID: "A network grant is not a host, host:port or URL pattern",
  ERR_NET_SCHEME: "A network grant names a scheme other than http or https",
  ERR_NET_PORT: "A network grant's port is not a number from 1 to 65535",
  ERR_NET_WILDCARD: "A network grant's wildcard is too broad or in the wrong place",
  ERR_NET_NOT_ASCII: "A network grant's host is not ASCII (write its punycode form)",
  // Capabilities: environment, programs, secrets, plugins, models, limits.
  ERR_ENV_SECRET: "An environment grant covers a variable reserved for a secret",
  ERR_ENV_WILDCARD: 'An environment grant of "*", which grants every variable',
  ERR_RUN_INVALID: "A program grant is not a program name",
  ERR_RUN_INTERPRETER: "A program grant names an interpreter or shell without the second opt-in",
  ERR_RUN_NOT_DANGEROUS: "Subprocesses are granted without dangerous = true",
  ERR_SECRET_UNKNOWN: "The manifest names a secret the runtime config does not define",
  ERR_SECRET_MISSING: "A secret the agent needs has no value at run time",
  ERR_PLUGIN_UNKNOWN: "The manifest names a plugin that is not in the plugin directory",
  ERR_PLUGIN_CODE: "A plugin has no mod.ts beside its plugin.toml",
  ERR_PLUGIN_NAME: "A plugin's name differs from its folder's",
  ERR_PLUGIN_SCHEMA: "A plugin tool's input schema is not a JSON Schema IronClaw knows",
  ERR_PLUGIN_MCP:
    "A plugin's [mcp] table is wrong: both or neither of command and url, an npm server not pinned to a version",
  ERR_PROVIDER_UNKNOWN: "The manifest names a model provider the runtime config does not define",
  ERR_LIMIT_CEILING: "A limit asks for more than the runtime config's ceiling",
  // Loading, building, the command line.
  ERR_READ: "A file IronClaw needs cannot be read",
  ERR_NOT_FOUND: "A file, folder, run or name that was asked for does not exist",
  ERR_USAGE: "The command line is wrong, or a run id is ambiguous",
  ERR_BUILD: "Building the agent failed",
  ERR_ASSET: "A runtime asset (a bundle, a remote file) cannot be built, fetched or stored",
  ERR_MODULE_INVALID: "The agent's module is not a valid component or WASI preview1 module",
  ERR_STORE: "The run store cannot be opened or written (a read-only or full state folder)",
  ERR_RUN_EXISTS: "A run with the given id already exists",
  ERR_ALREADY_DECIDED:
    "An approval was already decided (approved, denied or expired): it cannot be decided again",
  ERR_UNAUTHORIZED: "A request to the HTTP API (ironclaw serve) carries no bearer token, or a wrong one",
  ERR_INTERNAL: "A bug: an error IronClaw did not raise on purpose",
  // Gate calls.
  ERR_CAPABILITY_DENIED: "The Policy (or the sandbox's flags) refused what the agent asked for",
  ERR_INVALID_ARGS: "A gate call's arguments are malformed",
  ERR_LIMIT: "A limit was reached (calls, bytes, output, memory of a component, an op's time)",
  ERR_UNSUPPORTED: "The op or agent kind is not supported where it was used",
  ERR_IO: "File, network or process I/O failed for another reason",
  ERR_TOOL: "A plugin's tool failed or returned something that is not JSON",
  ERR_APPROVAL_DENIED:
    "A gate call that [approvals] require a person to approve was denied, or no decision came within timeout_s",
  // MCP servers run as plugins.
  ERR_MCP_START: "An MCP plugin's server cannot be fetched or started, or failed its MCP handshake",
  ERR_MCP_TIMEOUT: "An MCP plugin's server did not answer a call within its [mcp] timeout_s",
  ERR_MCP_PROTOCOL:
    "An MCP plugin's server broke the protocol: malformed JSON-RPC, a line or an answer over the size cap",
  ERR_MCP_EXITED: "An MCP plugin's server exited while a call was under way",
  ERR_MCP_TOOL: "An MCP plugin's tool answered with an error",
  // Model calls.
  ERR_MODEL: "A model call failed with an error that carried no known code",
  ERR_MODEL_AUTH: "The model provider refused the API key (HTTP 401/403), or there is none",
  ERR_MODEL_NOT_FOUND: "The model provider does not know the model (HTTP 404)",
  ERR_MODEL_UNREACHABLE: "The model provider cannot be reached (connection refused, DNS, TLS)",
  ERR_MODEL_TIMEOUT: "The model provider gave no answer within its timeout_s",
  ERR_MODEL_RESPONSE: "The model provider answered malformed JSON, or JSON of the wrong shape",
  ERR_MODEL_RATE_LIMIT: "The model provider rate-limited the call (HTTP 429) after every retry",
  ERR_MODEL_SERVER: "The model provider failed (HTTP 5xx) after every retry",
  ERR_MODEL_REQUEST: "The model provider refused the request (another HTTP 4xx)",
  ERR_MODEL_BUDGET: "The manifest's max_calls or max_tokens for the model is used up",
  ERR_MODEL_SCRIPT: "A scripted model's transcript ran out or does not match the request",
  // A run's outcome.
  ERR_AGENT: "The agent failed: it threw, or returned something other than a string",
  ERR_AGENT_TRAP: "The agent's WebAssembly trapped",
  ERR_MAX_STEPS: "The agent gave no final answer within max_steps",
  ERR_MEMORY: "The agent ran out of memory",
  ERR_TIMEOUT: "The run took longer than its time limit",
  ERR_INTERRUPTED: "The run was stopped from outside (a signal, an abort)",
  ERR_LOST: "The run's supervisor died before the run ended (its lease expired or its process is gone)",
  ERR_SANDBOX: "The sandbox failed before or around the agent (not the agent's own error)",
  ERR_SANDBOX_START: "The sandbox process cannot be started",
  ERR_SANDBOX_CRASHED: "The sandbox process ended without a result",
  ERR_PROTOCOL: "The sandbox broke the protocol between the two processes",
} as const;
Object.freeze(ERROR_CODES);

/** A stable error code: one of the keys of {@linkcode ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The codes an {@linkcode Issue} of a document can carry: the problems
 * found in a manifest, a runtime config or a plugin file, and in their grants.
 */
export const ISSUE_CODES = [
  "ERR_TOML_SYNTAX",
  "ERR_TOO_LARGE",
  "ERR_UNKNOWN_KEY",
  "ERR_MISSING_KEY",
  "ERR_TYPE",
  "ERR_VALUE",
  "ERR_DUPLICATE",
  "ERR_CONFLICT",
  "ERR_NUL_BYTE",
  "ERR_PATH_EMPTY",
  "ERR_PATH_ESCAPE",
  "ERR_PATH_TILDE",
  "ERR_PATH_SYMLINK",
  "ERR_PATH_ROOT",
  "ERR_PATH_SYSTEM",
  "ERR_PATH_HOME",
  "ERR_PATH_SECRET",
  "ERR_PATH_COMMA",
  "ERR_PATH_GUARDED",
  "ERR_NET_INVALID",
  "ERR_NET_SCHEME",
  "ERR_NET_PORT",
  "ERR_NET_WILDCARD",
  "ERR_NET_NOT_ASCII",
  "ERR_ENV_SECRET",
  "ERR_ENV_WILDCARD",
  "ERR_RUN_INVALID",
  "ERR_RUN_INTERPRETER",
  "ERR_RUN_NOT_DANGEROUS",
  "ERR_SECRET_UNKNOWN",
  "ERR_PLUGIN_UNKNOWN",
  "ERR_PLUGIN_CODE",
  "ERR_PLUGIN_NAME",
  "ERR_PLUGIN_SCHEMA",
  "ERR_PLUGIN_MCP",
  "ERR_PROVIDER_UNKNOWN",
  "ERR_LIMIT_CEILING",
  "ERR_READ",
] as const satisfies readonly ErrorCode[];
Object.freeze(ISSUE_CODES);

/** A code of one problem in a document: one of {@linkcode ISSUE_CODES}. */
export type IssueCode = typeof ISSUE_CODES[number];

/**
 * Whether a code is one an {@linkcode Issue} can carry.
 *
 * @param s Any value.
 * @returns True when `s` is one of {@linkcode ISSUE_CODES}.
 * @example
 * ```ts
 * import { isIssueCode } from "./errors.ts";
 * if (!isIssueCode("ERR_UNKNOWN_KEY") || isIssueCode("ERR_TIMEOUT")) throw new Error();
 * ```
 */
export function isIssueCode(s: unknown): s is IssueCode {
  return (ISSUE_CODES as readonly unknown[]).includes(s);
}

/**
 * Whether a string that came from outside (the wire, a provider, a plugin) is
 * a known {@linkcode ErrorCode}.
 *
 * @param s Any value.
 * @returns True when `s` is a key of {@linkcode ERROR_CODES}.
 * @example
 * ```ts
 * import { isErrorCode } from "./errors.ts";
 * if (!isErrorCode("ERR_LIMIT") || isErrorCode("ENOENT") || isErrorCode("toString")) throw new Error();
 * ```
 */
export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === "string" && Object.hasOwn(ERROR_CODES, s);
}

/**
 * The {@linkcode ErrorCode} of a code that came from outside: `s` when it is
 * known, else `fallback`, so an unknown or forged code never passes as one
 * IronClaw defines.
 *
 * @param s Any value.
 * @param fallback The code for anything unknown.
 * @returns A known code.
 * @example
 * ```ts
 * import { errorCodeOf } from "./errors.ts";
 * if (errorCodeOf("ERR_LIMIT", "ERR_IO") !== "ERR_LIMIT") throw new Error();
 * if (errorCodeOf("ENOENT", "ERR_IO") !== "ERR_IO") throw new Error();
 * ```
 */
export function errorCodeOf(s: unknown, fallback: ErrorCode): ErrorCode {
  return isErrorCode(s) ? s : fallback;
}

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
  code: ErrorCode;
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
 * const f = failureOf(new IronclawError("ERR_LIMIT", "Too much", { hint: "ask for less" }), "ERR_INTERNAL");
 * if (f.code !== "ERR_LIMIT" || f.hint !== "ask for less") throw new Error();
 * if (failureOf(new Error("boom"), "ERR_INTERNAL").code !== "ERR_INTERNAL") throw new Error();
 * ```
 */
export function failureOf(e: unknown, fallback: ErrorCode): Failure {
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
 * const e = new IronclawError("ERR_NOT_FOUND", 'The file "a.txt" does not exist', { hint: "check the path" });
 * if (e.code !== "ERR_NOT_FOUND" || e.hint !== "check the path") throw new Error("unexpected");
 * ```
 */
export class IronclawError extends Error {
  /** Stable machine-readable code, such as `ERR_CAPABILITY_DENIED`. */
  readonly code: ErrorCode;
  /** What to change, in a sentence; empty when there is nothing useful to say. */
  readonly hint: string;

  /**
   * Makes an error with a code, a message and a hint.
   *
   * @param code Stable error code.
   * @param message What went wrong, in Deno's style (capitalised, no trailing period).
   * @param options A hint and a cause.
   */
  constructor(code: ErrorCode, message: string, options: IronclawErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "IronclawError";
    this.code = code;
    this.hint = options.hint ?? "";
  }
}

/** One problem found in a manifest, a runtime config or a plugin file. */
export interface Issue {
  /** Stable code, such as `ERR_UNKNOWN_KEY`. */
  code: IssueCode;
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
      compareCodeUnits(a.pos.file, b.pos.file) || a.pos.line - b.pos.line || a.pos.column - b.pos.column
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

/** Orders two strings by their UTF-16 code units: stable, and without the cost of locale collation. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
