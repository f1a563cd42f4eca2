/**
 * The one table of the host gate's ops: per op its family, its argument and
 * result shapes, whether it waits for an answer, whether it counts against
 * `max_tool_calls`, which grant makes it available, and what it does. The
 * gate dispatches through it, the component host and the supervisor read
 * which ops wait from it, the loops build their tool schemas from it, and
 * `deno task gate-docs` generates `types/ironclaw-agent.d.ts` and the ops
 * table of `docs/abi.md` from it.
 *
 * Pure: no Deno APIs.
 *
 * @module
 */

import type { EnforcedGrant } from "./grant.ts";
import {
  arrayOf,
  BOOLEAN,
  type Fields,
  literals,
  named,
  nullable,
  NUMBER,
  type ObjectOf,
  objectOf,
  optional,
  recordOf,
  required,
  type Shape,
  STRING,
  type TypeOf,
  UNKNOWN,
} from "./gate_shapes.ts";

/** The version of the gate's op ABI (`docs/abi.md`). */
export const GATE_ABI_VERSION = "0.1.0";

/** The families of ops; each is one module of the gate (`sandbox/gate/<family>.ts`). */
export type GateFamily = "fs" | "env" | "net" | "proc" | "model" | "tool";

/** What the table says of one op. */
export interface GateOpSpec {
  /** The family, which is the gate module that runs it. */
  readonly family: GateFamily;
  /** Whether the answer must be awaited (a WASI preview1 guest cannot, a component waits with JSPI). */
  readonly waits: boolean;
  /** Whether a call counts against `[limits] max_tool_calls` (the model has its own budget). */
  readonly counted: boolean;
  /**
   * Whether an allowed call may change something outside the run (a write, a fetch, a program, a plugin's
   * tool): a queued run that made one is never started again when its worker dies.
   */
  readonly effect: boolean;
  /** What the op does, in one line. */
  readonly description: string;
  /** The fields of its argument object. */
  readonly args: Fields;
  /** The shape of its result. */
  readonly result: Shape;
  /** Whether a Policy (or a sandbox's grant) grants the op at all. */
  readonly granted: (policy: EnforcedGrant) => boolean;
}

const path = (what: string) => required(STRING, `The ${what}, relative to the manifest's folder`);
const encoding = (what: string) =>
  optional(literals("utf8", "base64"), `${what}: "utf8" text (the default) or "base64" bytes`);

/** Every op of the host gate, in the order the docs list them. */
export const GATE_OPS = {
  "fs.read": {
    family: "fs",
    waits: false,
    counted: true,
    effect: false,
    description: "Reads a file (at most 8 MiB) inside a read or write grant",
    args: { path: path("file"), encoding: encoding("How the data comes back") },
    result: objectOf({ data: required(STRING, "The file's text, or its bytes in base64") }),
    granted: (p: EnforcedGrant): boolean => p.fs.read.length > 0 || p.fs.write.length > 0,
  },
  "fs.write": {
    family: "fs",
    waits: false,
    counted: true,
    effect: true,
    description: "Makes or replaces a file inside a write grant, making missing folders inside the grant",
    args: {
      path: path("file"),
      data: required(STRING, "What to write"),
      encoding: encoding("What data is"),
      append: optional(BOOLEAN, "Add to the end instead of replacing"),
    },
    result: objectOf({ bytes: required(NUMBER, "The bytes written") }),
    granted: (p: EnforcedGrant): boolean => p.fs.write.length > 0,
  },
  "fs.list": {
    family: "fs",
    waits: false,
    counted: true,
    effect: false,
    description:
      "Lists a folder inside a read or write grant: its first 10,000 entries by name, how many it has, and whether the list was cut",
    args: { path: path("folder") },
    result: objectOf({
      entries: required(
        arrayOf(objectOf({
          name: required(STRING, "The entry's name"),
          kind: required(literals("file", "dir", "symlink"), "What it is"),
          size: required(NUMBER, "A file's size in bytes, else 0"),
        })),
        "The folder's first entries by name (UTF-16 code unit order)",
      ),
      total: required(NUMBER, "How many entries the folder has"),
      truncated: required(BOOLEAN, "Whether entries holds fewer than total"),
    }),
    granted: (p: EnforcedGrant): boolean => p.fs.read.length > 0 || p.fs.write.length > 0,
  },
  "http.fetch": {
    family: "net",
    waits: true,
    counted: true,
    effect: true,
    description: "Makes an HTTP request to a granted host; redirects are returned, not followed",
    args: {
      url: required(STRING, "The URL"),
      method: optional(STRING, "GET, POST..."),
      headers: optional(recordOf(STRING), "Request headers"),
      body: optional(STRING, "The request body"),
    },
    result: objectOf({
      status: required(NUMBER, "The status code"),
      headers: required(recordOf(STRING), "The response headers"),
      body: required(STRING, "The response body (at most 8 MiB)"),
    }),
    granted: (p: EnforcedGrant): boolean => p.net.length > 0,
  },
  "proc.run": {
    family: "proc",
    waits: true,
    counted: true,
    effect: true,
    description: "Runs a granted program: no shell, empty environment, in the manifest's folder",
    args: {
      cmd: required(STRING, "The program"),
      args: optional(arrayOf(STRING), "Its arguments"),
      stdin: optional(STRING, "Text for its standard input"),
    },
    result: objectOf({
      code: required(NUMBER, "The exit code"),
      stdout: required(STRING, "Its standard output (at most 1 MiB)"),
      stderr: required(STRING, "Its standard error (at most 1 MiB)"),
    }),
    granted: (p: EnforcedGrant): boolean => p.run.dangerous && p.run.programs.length > 0,
  },
  "env.get": {
    family: "env",
    waits: false,
    counted: true,
    effect: false,
    description: "Reads a granted environment variable",
    args: { name: required(STRING, "The variable") },
    result: objectOf({ value: required(nullable(STRING), "Its value, null when unset") }),
    granted: (p: EnforcedGrant): boolean => p.env.length > 0,
  },
  "model.complete": {
    family: "model",
    waits: true,
    counted: false,
    effect: false,
    description:
      "Asks the manifest's model, brokered by the supervisor, within [model] max_calls and max_tokens",
    args: {
      messages: required(arrayOf(named("ChatMessage")), "The conversation so far"),
      tools: optional(arrayOf(named("ToolSpec")), "The tools the model may call"),
      maxTokens: optional(NUMBER, "The most tokens of the answer"),
      temperature: optional(NUMBER, "Sampling temperature, 0 to 2"),
    },
    result: named("CompletionResult"),
    granted: (p: EnforcedGrant): boolean => p.model !== null,
  },
  "tool.call": {
    family: "tool",
    waits: true,
    counted: true,
    effect: true,
    description: "Runs a tool of a plugin the manifest uses, its input checked against the tool's schema",
    args: {
      name: required(STRING, 'The tool, as "plugin.tool"'),
      input: optional(UNKNOWN, "The tool's input"),
    },
    result: objectOf({ output: required(UNKNOWN, "What the tool answered") }),
    granted: (p: EnforcedGrant): boolean => p.plugins.length > 0,
  },
} as const satisfies Record<string, GateOpSpec>;

/** The name of an op, such as `"fs.read"`. */
export type GateOpName = keyof typeof GATE_OPS;

/** The argument object of an op. */
export type GateOpArgs<Op extends GateOpName> = ObjectOf<(typeof GATE_OPS)[Op]["args"]>;

/** The result of an op. */
export type GateOpResult<Op extends GateOpName> = TypeOf<(typeof GATE_OPS)[Op]["result"]>;

/** Every op's argument and result types, by name. */
export type GateOpTypes = { [Op in GateOpName]: { args: GateOpArgs<Op>; result: GateOpResult<Op> } };

/** The ops of one family. */
export type GateOpsOf<F extends GateFamily> = {
  [Op in GateOpName]: (typeof GATE_OPS)[Op]["family"] extends F ? Op : never;
}[GateOpName];

/** Every op's name, in the table's order. */
export const GATE_OP_NAMES: readonly GateOpName[] = Object.freeze(Object.keys(GATE_OPS) as GateOpName[]);

/**
 * Whether a name is an op of the gate.
 *
 * @example
 * ```ts
 * import { isGateOp } from "./gate_ops.ts";
 * if (!isGateOp("fs.read") || isGateOp("fs.delete") || isGateOp("toString")) throw new Error("wrong");
 * ```
 *
 * @param name The name.
 * @returns True for an op of {@linkcode GATE_OPS}.
 */
export function isGateOp(name: string): name is GateOpName {
  return Object.hasOwn(GATE_OPS, name);
}

/**
 * Whether an op's answer must be awaited.
 *
 * @example
 * ```ts
 * import { isWaitingOp } from "./gate_ops.ts";
 * if (!isWaitingOp("http.fetch") || isWaitingOp("fs.read") || isWaitingOp("nope")) throw new Error("wrong");
 * ```
 *
 * @param name The op's name.
 * @returns True for a known op that waits.
 */
export function isWaitingOp(name: string): boolean {
  return isGateOp(name) && GATE_OPS[name].waits;
}

/**
 * The hint for an unknown op: the ops there are.
 *
 * @returns The hint.
 */
export function unknownOpHint(): string {
  return `the ops are ${GATE_OP_NAMES.join(", ")}`;
}

/**
 * Whether a Policy grants an op at all (its grants may still refuse a given call).
 *
 * @param policy The Policy.
 * @param op The op.
 * @returns True when the op can succeed for some arguments.
 */
export function isOpGranted(policy: EnforcedGrant, op: GateOpName): boolean {
  return GATE_OPS[op].granted(policy);
}

/**
 * Whether a component run under this Policy must be prepared to wait (JSPI):
 * true when the Policy grants any op that waits. Without one, every call
 * answers at once and the component is prepared without JSPI.
 *
 * @param policy The Policy.
 * @returns True when some granted op waits.
 */
export function componentWaits(policy: EnforcedGrant): boolean {
  return GATE_OP_NAMES.some((op) => GATE_OPS[op].waits && GATE_OPS[op].granted(policy));
}
