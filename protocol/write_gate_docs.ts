/**
 * Writes `types/ironclaw-agent.d.ts` and the ops table of `docs/abi.md` from
 * {@linkcode GATE_OPS}: `deno task gate-docs`. A test checks they are current.
 *
 * The generating functions are pure: they take the texts they build on
 * (`protocol/model_types.ts`, `wit/agent.wit`, `docs/abi.md`) through a
 * reader, and only the script's main part touches files.
 *
 * @module
 */

import { GATE_OP_NAMES, GATE_OPS } from "./gate_ops.ts";
import { type Fields, objectOf, type Shape, typeText } from "./gate_shapes.ts";

/** The marker line before the generated part of `docs/abi.md`. */
export const OPS_TABLE_START =
  "<!-- gate-ops: generated from protocol/gate_ops.ts by `deno task gate-docs` -->";
/** The marker line after it. */
export const OPS_TABLE_END = "<!-- gate-ops: end -->";

/** The types of `protocol/model_types.ts` the typings carry (the named shapes and what they use). */
const MODEL_TYPES = ["ToolSpec", "ToolCall", "ChatMessage", "Usage", "CompletionResult"] as const;

/**
 * The text of `types/ironclaw-agent.d.ts`: the host interface, with every op's argument and result types.
 *
 * @param modelTypes The text of `protocol/model_types.ts`.
 * @param wit The text of `wit/agent.wit` (for the interface's versioned name).
 * @returns The file's text.
 */
export function agentTypings(modelTypes: string, wit: string): string {
  const version = /^package ironclaw:agent@([0-9.]+);/m.exec(wit)?.[1];
  if (version === undefined) throw new Error('wit/agent.wit has no "package ironclaw:agent@<version>;" line');
  const module = `ironclaw:agent/host@${version}`;
  const ops = GATE_OP_NAMES.map((op) => {
    const spec = GATE_OPS[op];
    return [
      `    /** ${sentence(spec.description)} */`,
      `    ${JSON.stringify(op)}: {`,
      `      args: ${fieldsBlock(spec.args, "      ")};`,
      `      result: ${shapeBlock(spec.result, "      ")};`,
      `    };`,
    ].join("\n");
  });
  return `/**
 * Typings of the host interface an IronClaw component agent imports.
 * Generated from GATE_OPS (protocol/gate_ops.ts) by \`deno task gate-docs\`: do not edit by hand.
 * Reference them from an agent written in TypeScript:
 *
 *   /// <reference path="./ironclaw-agent.d.ts" />
 *   import { call, log } from "${module}";
 *   export function run(task: string): string { ... }
 */
declare module "${module}" {
  /** Every op of the host gate: the JSON object \`call\` takes, and the JSON it answers. */
  export interface GateOps {
${ops.join("\n")}
  }

  /** The name of an op. */
  export type GateOp = keyof GateOps;

  /**
   * Asks the host gate to do one thing; see docs/abi.md.
   * \`args\` is the JSON text of \`GateOps[op]["args"]\`; returns the JSON text of \`GateOps[op]["result"]\`.
   * Throws an Error whose message is the JSON text of \`{code, message, hint}\` when the gate refuses or the op
   * fails.
   */
  export function call(op: GateOp, args: string): string;
  /** Writes one line to the run's record. */
  export function log(level: "debug" | "info" | "warn" | "error", message: string): void;

${MODEL_TYPES.map((name) => indent(declarationOf(modelTypes, name), "  ")).join("\n\n")}
}
`;
}

/**
 * The generated part of `docs/abi.md`, markers included: a table of every op, then each op's arguments.
 *
 * @returns The text.
 */
export function abiOpsSection(): string {
  const rows = GATE_OP_NAMES.map((op) => {
    const spec = GATE_OPS[op];
    return [
      code(op),
      spec.family,
      spec.waits ? "yes" : "no",
      code(typeText(objectOf(spec.args))),
      code(typeText(spec.result)),
      spec.description,
    ];
  });
  const args = GATE_OP_NAMES.map((op) => {
    const fields = Object.entries(GATE_OPS[op].args as Fields).map(([name, f]) =>
      `${code(name)}${f.optional ? " (optional)" : ""}: ${f.description}`
    );
    return wrap(`- ${code(op)}: ${fields.join("; ")}.`, "  ");
  });
  return [
    OPS_TABLE_START,
    "",
    markdownTable(["op", "family", "waits", "args", "result", "what it does"], rows),
    "",
    wrap(
      "`ChatMessage`, `ToolSpec` and `CompletionResult` are those of `protocol/model_types.ts`, repeated in the typings.",
      "",
    ),
    "",
    "Arguments:",
    "",
    ...args,
    "",
    OPS_TABLE_END,
  ].join("\n");
}

/**
 * `docs/abi.md` with its generated part replaced, the rest left as written.
 *
 * @param abi The current text of `docs/abi.md`.
 * @returns The new text.
 * @throws {Error} When the markers are missing.
 */
export function withOpsSection(abi: string): string {
  const start = abi.indexOf(OPS_TABLE_START);
  const end = abi.indexOf(OPS_TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(`docs/abi.md has no "${OPS_TABLE_START}" ... "${OPS_TABLE_END}" markers`);
  }
  return abi.slice(0, start) + abiOpsSection() + abi.slice(end + OPS_TABLE_END.length);
}

/**
 * The files `deno task gate-docs` writes, by path from the repository's root, with their text.
 *
 * @param read Reads a file by its path from the repository's root.
 * @returns The files.
 */
export function gateDocFiles(read: (path: string) => string): Record<string, string> {
  return {
    "types/ironclaw-agent.d.ts": agentTypings(read("protocol/model_types.ts"), read("wit/agent.wit")),
    "docs/abi.md": withOpsSection(read("docs/abi.md")),
  };
}

/** An object's fields as a multi-line type, each with its description. */
function fieldsBlock(fields: Fields, at: string): string {
  const lines = Object.entries(fields).flatMap(([name, f]) => [
    `${at}  /** ${sentence(f.description)} */`,
    `${at}  ${name}${f.optional ? "?" : ""}: ${typeText(f.shape)};`,
  ]);
  return lines.length === 0 ? "Record<string, never>" : `{\n${lines.join("\n")}\n${at}}`;
}

function shapeBlock(shape: Shape, at: string): string {
  return shape.kind === "object" ? fieldsBlock(shape.fields, at) : typeText(shape);
}

/** The declaration of `name` in a module's text: its paragraph (doc comment and body), from `export` on. */
function declarationOf(source: string, name: string): string {
  const found = source.split(/\n\s*\n/).find((p) =>
    new RegExp(`^export (interface|type) ${name}\\b`, "m").test(p)
  );
  if (found === undefined) throw new Error(`protocol/model_types.ts declares no "${name}"`);
  return found.trim();
}

function indent(text: string, by: string): string {
  return text.split("\n").map((line) => (line ? by + line : line)).join("\n");
}

/** A description as a sentence: with its full stop. */
function sentence(text: string): string {
  return text.endsWith(".") ? text : `${text}.`;
}

/** Wraps a line at the width `deno fmt` keeps (110), words kept whole, later lines indented. */
function wrap(text: string, hang: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > 110) {
      lines.push(line);
      line = hang + word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line].join("\n");
}

/** Inline code in a table cell: pipes escaped. */
function code(text: string): string {
  return "`" + text.replaceAll("|", "\\|") + "`";
}

/** A Markdown table, padded as `deno fmt` pads it. */
function markdownTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  for (const [path, text] of Object.entries(gateDocFiles((p) => Deno.readTextFileSync(new URL(p, root))))) {
    Deno.writeTextFileSync(new URL(path, root), text);
    console.log(`wrote ${path}`);
  }
}
