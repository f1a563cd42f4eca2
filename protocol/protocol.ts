/**
 * The supervisor-sandbox protocol: versioned JSON lines over the child's stdin
 * and stdout. Every message is one line of one JSON object with `v` (the
 * protocol version) and `type`. See `docs/protocol.md`.
 *
 * @module
 */

import type { SandboxGrant } from "./grant.ts";
import { IronclawError, isErrorCode } from "../manifests/errors.ts";
import { SUPERVISOR_EVENTS } from "./events.ts";
import { LineTooLongError } from "./line_cap.ts";
import type { Failure } from "../manifests/errors.ts";
export { SUPERVISOR_EVENTS } from "./events.ts";

/** The protocol version both sides must speak. */
export const PROTOCOL_VERSION = 1;

/**
 * The longest line a reader accepts when no run's cap is known (a run computes its own with `lineCap` of
 * `line_cap.ts` and gives the sandbox the same), in bytes.
 */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** The sandbox's argument that names its private channel (a Unix socket the supervisor listens on). */
export const CHANNEL_ARG = "--channel=";

/**
 * The name of a symbolic link beside the sandbox's code (in its entry's folder, which the sandbox may read) to
 * `/proc/self/cwd`: through it, the gate reads the folder it holds as its working folder, not a path that could
 * be swapped. Made by the supervisor with the bundle (Linux only); without it, the gate proves paths instead.
 */
export const WORKING_FOLDER_LINK = "working-folder";

/** Where {@linkcode WORKING_FOLDER_LINK} leads. */
export const PROC_SELF_CWD = "/proc/self/cwd";

/** What the agent module is, as the supervisor prepared it. */
export type AgentModule =
  | {
    kind: "component";
    dir: string;
    maxPages: number;
    /** Whether it was prepared to wait on `call` (JSPI), or answers every call at once. */
    waits: boolean;
  }
  | {
    kind: "preview1";
    path: string;
    maxPages: number;
    /** Named pipes the supervisor reads the guest's stdout and stderr from. */
    stdout: string;
    stderr: string;
  };

/** Parent to child: start the run. Sent once, first. */
export interface StartMessage {
  v: typeof PROTOCOL_VERSION;
  type: "start";
  runId: string;
  task: string;
  /**
   * What the sandbox enforces: the grant the supervisor narrowed from the
   * Policy and the run's runtime paths (`narrowGrant`), not the Policy itself.
   */
  policy: SandboxGrant;
  module: AgentModule | null;
  /** Test-only: the gate executes without checking, to prove the process flags hold alone. */
  gateChecks: boolean;
  /** Each used plugin's own folder for this agent, by plugin name. */
  pluginData: Record<string, string>;
  /** The values of the secrets the Policy grants, for the gate to inject at egress (never given to the guest). */
  secrets: SecretValue[];
  /** Local folders of files the sandbox loads at run time (such as Pyodide's), found by the supervisor. */
  assets?: SandboxAssets;
}

/**
 * Parent to child, for a pooled sandbox only: what its run will be, but for the run itself (no run id, task or
 * secrets), so it loads and compiles what its agent kind needs before a task is known. Sent once, right after
 * `ready`; the sandbox answers `prepared`. The `start` that follows carries everything again: a sandbox uses
 * what it prepared only when the start names the same grant, module and assets, and prepares nothing else.
 */
export type PrepareMessage = Omit<StartMessage, "type" | "runId" | "task" | "secrets"> & { type: "prepare" };

/** Local folders of the interpreters' files, which the sandbox cannot look up itself (it resolves no package). */
export interface SandboxAssets {
  /** Pyodide's folder (its WebAssembly, loader and standard library), for Python CodeAct. */
  pyodide?: string;
  /**
   * A memory snapshot of this Pyodide freshly started, made by a sandbox process that ran no agent code
   * (see {@linkcode PYODIDE_SNAPSHOT_ARG}): restored instead of a cold start.
   */
  pyodideSnapshot?: string;
  /** The plugin API file (`plugins/plugin.ts`) plugin code may import, read-only in each plugin's Worker. */
  pluginApi?: string;
}

/**
 * The sandbox entry's argument that makes it start Pyodide, write a memory snapshot of it to the file named
 * after `=`, and exit: it opens no channel and runs no agent.
 */
export const PYODIDE_SNAPSHOT_ARG = "--make-pyodide-snapshot=";

/** A secret's value and where it may go. */
export interface SecretValue {
  /** The secret's name. */
  name: string;
  /** Its value. */
  value: string;
  /** The hosts (or host:port) it is sent to, and no others. */
  hosts: string[];
  /** The request header that carries it. */
  header: string;
  /** The header's value, with `{value}` where the secret goes. */
  format: string;
  /** The plugin whose remote MCP server alone gets it; absent for the manifest's secrets. */
  plugin?: string;
}

/** Parent to child: stop now (graceful termination). */
export interface StopMessage {
  v: typeof PROTOCOL_VERSION;
  type: "stop";
  reason: string;
}

/** Parent to child: the answer to a request the child made. */
export interface ReplyMessage {
  v: typeof PROTOCOL_VERSION;
  type: "reply";
  id: number;
  ok: boolean;
  result?: unknown;
  error?: Failure;
}

/** Any message the parent sends. */
export type ParentMessage = StartMessage | PrepareMessage | StopMessage | ReplyMessage;

/** A record of something that happened in the run. */
export interface RunEvent {
  /** What kind of event. */
  type: string;
  /** The event's own fields. */
  [key: string]: unknown;
}

/** Child to parent: the sandbox is up and waits for `start`. */
export interface ReadyMessage {
  v: typeof PROTOCOL_VERSION;
  type: "ready";
}

/** Child to parent: what a `prepare` asked for is loaded; the sandbox waits for `start`. */
export interface PreparedMessage {
  v: typeof PROTOCOL_VERSION;
  type: "prepared";
  /** How long preparing took, in ms. */
  ms: number;
  /** What was made ready ahead, such as "guest worker" or "interpreter" (for the record). */
  warmed: string[];
}

/** Child to parent: an event to record. */
export interface EventMessage {
  v: typeof PROTOCOL_VERSION;
  type: "event";
  event: RunEvent;
}

/** Child to parent: the run is over. */
export interface ResultMessage {
  v: typeof PROTOCOL_VERSION;
  type: "result";
  /** ok: the agent returned; error: it failed; oom: its memory limit stopped it. */
  state: "ok" | "error" | "oom";
  output: string | null;
  error: Failure | null;
}

/** Child to parent: ask the supervisor for something only it may do (resolve a host name). */
export interface RequestMessage {
  v: typeof PROTOCOL_VERSION;
  type: "request";
  id: number;
  op: string;
  args: Record<string, unknown>;
}

/** Any message the child sends. */
export type ChildMessage = ReadyMessage | PreparedMessage | EventMessage | ResultMessage | RequestMessage;

/** A message that breaks the protocol (`ERR_PROTOCOL`). */
export class ProtocolError extends IronclawError {
  /** @param message What was wrong with the message. */
  constructor(message: string) {
    super("ERR_PROTOCOL", message, { hint: "this is a bug in the sandbox, or a hostile child" });
    this.name = "ProtocolError";
  }
}

/** Encodes one message as a line. */
export function encodeMessage(message: ParentMessage | ChildMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message) + "\n");
}

function parseLine(line: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ProtocolError(`Not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("A message must be a JSON object");
  }
  const m = value as Record<string, unknown>;
  if (m.v !== PROTOCOL_VERSION) {
    throw new ProtocolError(`Protocol version ${JSON.stringify(m.v)}, expected ${PROTOCOL_VERSION}`);
  }
  return m;
}

// The child's code must be one of ERROR_CODES: anything else is a protocol error (ERR_PROTOCOL).
const isError = (e: unknown) =>
  e === null || (typeof e === "object" && isErrorCode((e as Record<string, unknown>).code) &&
    typeof (e as Record<string, unknown>).message === "string");

/** Parses and checks a line from the child. */
export function parseChildMessage(line: string): ChildMessage {
  const m = parseLine(line);
  switch (m.type) {
    case "ready":
      return m as unknown as ReadyMessage;
    case "prepared":
      if (
        typeof m.ms !== "number" || !Array.isArray(m.warmed) || !m.warmed.every((w) => typeof w === "string")
      ) {
        throw new ProtocolError("A prepared message needs ms and a list of what was warmed");
      }
      return m as unknown as PreparedMessage;
    case "event":
      if (typeof m.event !== "object" || m.event === null || typeof (m.event as RunEvent).type !== "string") {
        throw new ProtocolError("An event message needs an event object with a type");
      }
      if (SUPERVISOR_EVENTS.has((m.event as RunEvent).type)) {
        throw new ProtocolError(
          `The sandbox may not record a "${(m.event as RunEvent).type}" event: only the supervisor does`,
        );
      }
      return m as unknown as EventMessage;
    case "request":
      if (
        !Number.isSafeInteger(m.id) || typeof m.op !== "string" || typeof m.args !== "object" ||
        m.args === null
      ) {
        throw new ProtocolError("A request needs a numeric id, an op and an args object");
      }
      return m as unknown as RequestMessage;
    case "result":
      if (!["ok", "error", "oom"].includes(m.state as string)) {
        throw new ProtocolError(`Unknown result state ${JSON.stringify(m.state)}`);
      }
      if (m.output !== null && typeof m.output !== "string") {
        throw new ProtocolError("A result's output must be a string or null");
      }
      if (!isError(m.error)) {
        throw new ProtocolError("A result's error must be {code, message, hint} with a known code, or null");
      }
      return m as unknown as ResultMessage;
    default:
      throw new ProtocolError(`Unknown message type ${JSON.stringify(m.type)}`);
  }
}

/** Parses and checks a line from the parent. */
export function parseParentMessage(line: string): ParentMessage {
  const m = parseLine(line);
  switch (m.type) {
    case "start":
      if (typeof m.task !== "string" || typeof m.policy !== "object" || typeof m.runId !== "string") {
        throw new ProtocolError("A start message needs runId, task and policy");
      }
      return m as unknown as StartMessage;
    case "prepare":
      if (typeof m.policy !== "object" || m.policy === null) {
        throw new ProtocolError("A prepare message needs a policy");
      }
      return m as unknown as PrepareMessage;
    case "stop":
      return m as unknown as StopMessage;
    case "reply":
      if (typeof m.id !== "number") throw new ProtocolError("A reply needs a numeric id");
      return m as unknown as ReplyMessage;
    default:
      throw new ProtocolError(`Unknown message type ${JSON.stringify(m.type)}`);
  }
}

/**
 * Splits a byte stream into lines, refusing any line longer than `maxBytes`
 * with a {@linkcode LineTooLongError} (`ERR_LIMIT`, naming the cap).
 * Yields each complete line (without the newline); a last line without a
 * newline is yielded at the end.
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number = MAX_LINE_BYTES,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const chunk of stream) {
    let start = 0;
    // indexOf finds each newline natively: a line of many MiB is not walked byte by byte in JavaScript.
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, i);
      if (pendingBytes + piece.length > maxBytes) {
        throw new LineTooLongError(maxBytes);
      }
      pending.push(piece);
      yield decoder.decode(concat(pending));
      pending = [];
      pendingBytes = 0;
      start = i + 1;
    }
    const rest = chunk.subarray(start);
    if (pendingBytes + rest.length > maxBytes) {
      throw new LineTooLongError(maxBytes);
    }
    if (rest.length > 0) {
      pending.push(rest.slice());
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) yield decoder.decode(concat(pending));
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
