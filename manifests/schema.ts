/**
 * A small declarative schema language. One schema per document is the single
 * source of the parser's checks, its defaults and the published JSON Schema.
 */

import type { KeyPath } from "./_locate.ts";
import type { IssueCode } from "./errors.ts";

/** Common fields of every schema node. */
interface NodeBase {
  /** One sentence for people and editors. */
  description: string;
}

/** A string value. */
export interface StringNode extends NodeBase {
  type: "string";
  enum?: readonly string[];
  pattern?: string;
  /** Said in errors when `pattern` does not match. */
  patternHint?: string;
  minLength?: number;
  maxLength?: number;
  default?: string;
  examples?: readonly string[];
}

/** An integer value. */
export interface IntegerNode extends NodeBase {
  type: "integer";
  minimum: number;
  maximum: number;
  default?: number;
}

/** A boolean value. */
export interface BooleanNode extends NodeBase {
  type: "boolean";
  default?: boolean;
}

/** An array of one item type. */
export interface ArrayNode extends NodeBase {
  type: "array";
  items: Node;
  maxItems: number;
  uniqueItems?: boolean;
  default?: readonly never[];
}

/** A rule that applies to a table when one of its keys has a given value. */
export interface ConditionalRule {
  /** Key and value that switch the rule on. */
  when: { key: string; equals: string };
  /** Keys that must be present then. */
  require?: readonly string[];
  /** Keys that must be absent then. */
  forbid?: readonly string[];
}

/** A table with known keys. */
export interface TableNode extends NodeBase {
  type: "table";
  fields: Readonly<Record<string, Node>>;
  required?: readonly string[];
  rules?: readonly ConditionalRule[];
  /** Fill in an empty table when the key is absent (so defaults below apply). */
  implicit?: boolean;
}

/** A table of user-chosen names to values of one schema. */
export interface MapNode extends NodeBase {
  type: "map";
  keyPattern: string;
  keyHint: string;
  values: Node;
  maxEntries: number;
}

/** One of several shapes, told apart by the TOML type (string or table). */
export interface UnionNode extends NodeBase {
  type: "union";
  variants: readonly (StringNode | TableNode)[];
}

/** Any TOML value, taken as it is (integers become numbers); checked elsewhere. */
export interface AnyNode extends NodeBase {
  type: "any";
}

/** Any schema node. */
export type Node =
  | StringNode
  | IntegerNode
  | BooleanNode
  | ArrayNode
  | TableNode
  | MapNode
  | UnionNode
  | AnyNode;

/** A problem found by {@linkcode validate}, before it gets a file position. */
export interface RawIssue {
  code: IssueCode;
  message: string;
  hint: string;
  path: KeyPath;
}

/** The most a string may hold anywhere in a document. */
export const MAX_STRING = 4096;

/**
 * Checks `value` against `node` and returns a copy with defaults filled in, with the problems found.
 * An invalid value becomes undefined (or its default, for a table key), so later checks can still run
 * on what is valid; array items keep their indexes.
 *
 * @param node What the value must be.
 * @param value The parsed value.
 * @returns The checked copy and the problems, each at its key path.
 */
export function validate(node: Node, value: unknown): { value: unknown; issues: RawIssue[] } {
  const issues: RawIssue[] = [];
  return { value: check(node, value, [], issues), issues };
}

/** {@linkcode validate} at `path`, pushing problems to `issues`. */
function check(node: Node, value: unknown, path: KeyPath, issues: RawIssue[]): unknown {
  const push = (code: IssueCode, message: string, hint: string, at: KeyPath = path) =>
    issues.push({ code, message, hint, path: at });
  switch (node.type) {
    case "string": {
      if (typeof value !== "string") {
        push(
          "ERR_TYPE",
          `Expected a string, found ${describe(value)}`,
          `write it in quotes, for example "${node.examples?.[0] ?? node.enum?.[0] ?? "text"}"`,
        );
        return undefined;
      }
      if (value.includes("\0")) {
        push("ERR_NUL_BYTE", "The value contains a NUL character", "remove the \\u0000 escape");
        return undefined;
      }
      const max = node.maxLength ?? MAX_STRING;
      if (value.length > max) {
        push(
          "ERR_TOO_LARGE",
          `The value is ${value.length} characters long, more than ${max}`,
          `shorten it to at most ${max} characters`,
        );
        return undefined;
      }
      if (node.minLength !== undefined && value.length < node.minLength) {
        push(
          "ERR_VALUE",
          "The value is empty",
          `give it a value, for example "${node.examples?.[0] ?? "text"}"`,
        );
        return undefined;
      }
      if (node.enum && !node.enum.includes(value)) {
        const near = closest(value, node.enum);
        push(
          "ERR_VALUE",
          `"${value}" is not one of ${node.enum.map((v) => `"${v}"`).join(", ")}`,
          near ? `did you mean "${near}"?` : `write one of ${node.enum.map((v) => `"${v}"`).join(", ")}`,
        );
        return undefined;
      }
      if (node.pattern && !new RegExp(node.pattern).test(value)) {
        push(
          "ERR_VALUE",
          `"${value}" is not valid here`,
          node.patternHint ?? `match the pattern ${node.pattern}`,
        );
        return undefined;
      }
      return value;
    }
    case "integer": {
      // Integers arrive as bigint; a number is a TOML float, even 64.0.
      if (typeof value !== "bigint") {
        push(
          "ERR_TYPE",
          `Expected an integer, found ${describe(value)}`,
          `write a whole number without quotes, for example ${node.default ?? node.minimum}`,
        );
        return undefined;
      }
      if (value < node.minimum || value > node.maximum) {
        push(
          "ERR_VALUE",
          `${value} is out of range`,
          `write a number from ${node.minimum} to ${node.maximum}`,
        );
        return undefined;
      }
      return Number(value);
    }
    case "boolean": {
      if (typeof value !== "boolean") {
        push(
          "ERR_TYPE",
          `Expected true or false, found ${describe(value)}`,
          "write true or false without quotes",
        );
        return undefined;
      }
      return value;
    }
    case "array": {
      if (!Array.isArray(value)) {
        push("ERR_TYPE", `Expected an array, found ${describe(value)}`, `put the value in brackets: [ ... ]`);
        return undefined;
      }
      if (value.length > node.maxItems) {
        push(
          "ERR_TOO_LARGE",
          `The array has ${value.length} items, more than ${node.maxItems}`,
          `keep at most ${node.maxItems} items`,
        );
        return undefined;
      }
      const out = value.map((item, n) => check(node.items, item, [...path, n], issues));
      if (node.uniqueItems) {
        const seen = new Set<string>();
        value.forEach((item, n) => {
          const k = JSON.stringify(item, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
          if (seen.has(k)) {
            push("ERR_DUPLICATE", `${k} is listed twice`, "remove the repeated entry", [...path, n]);
          }
          seen.add(k);
        });
      }
      return out;
    }
    case "map": {
      if (!isTable(value)) {
        push("ERR_TYPE", `Expected a table, found ${describe(value)}`, `write it as a [table] section`);
        return undefined;
      }
      const entries = Object.entries(value);
      if (entries.length > node.maxEntries) {
        push(
          "ERR_TOO_LARGE",
          `The table has ${entries.length} entries, more than ${node.maxEntries}`,
          `keep at most ${node.maxEntries}`,
        );
        return undefined;
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of entries) {
        if (!new RegExp(node.keyPattern).test(k)) {
          push("ERR_VALUE", `"${k}" is not a valid name`, node.keyHint, [...path, k]);
          continue;
        }
        define(out, k, check(node.values, v, [...path, k], issues));
      }
      return out;
    }
    case "any":
      return plainValue(value);
    case "union": {
      const wanted = isTable(value) ? "table" : typeof value === "string" ? "string" : undefined;
      const variant = node.variants.find((v) => v.type === wanted);
      if (!variant) {
        push(
          "ERR_TYPE",
          `Expected ${
            node.variants.map((v) => (v.type === "table" ? "an inline table" : "a string")).join(" or ")
          }, found ${describe(value)}`,
          node.description,
        );
        return undefined;
      }
      return check(variant, value, path, issues);
    }
    case "table":
      return validateTable(node, value, path, issues);
  }
}

function validateTable(node: TableNode, value: unknown, path: KeyPath, issues: RawIssue[]): unknown {
  if (!isTable(value)) {
    issues.push({
      code: "ERR_TYPE",
      message: `Expected a table, found ${describe(value)}`,
      hint: `write it as a [${path.join(".")}] section or an inline table { ... }`,
      path,
    });
    return undefined;
  }
  const out: Record<string, unknown> = {};
  const known = Object.keys(node.fields);
  for (const [k, v] of Object.entries(value)) {
    const field = Object.hasOwn(node.fields, k) ? node.fields[k] : undefined;
    if (!field) {
      const near = closest(k, known);
      issues.push({
        code: "ERR_UNKNOWN_KEY",
        message: `Unknown key "${k}"`,
        hint: near
          ? `did you mean "${near}"?`
          : `the keys allowed here are ${known.map((x) => `"${x}"`).join(", ")}`,
        path: [...path, k],
      });
      continue;
    }
    const checked = check(field, v, [...path, k], issues);
    const fallback = checked === undefined ? defaultOf(field, [...path, k], issues) : checked;
    if (fallback !== undefined) define(out, k, fallback);
  }
  for (const [k, field] of Object.entries(node.fields)) {
    if (Object.hasOwn(value, k)) continue;
    if (node.required?.includes(k)) {
      issues.push({
        code: "ERR_MISSING_KEY",
        message: `Missing required key "${k}"`,
        hint: path.length === 0
          ? `add a [${k}] table`
          : `add ${k} = ${exampleOf(field)} under [${formatPath(path)}]`,
        path: [...path, k],
      });
    } else {
      const fallback = defaultOf(field, [...path, k], issues);
      if (fallback !== undefined) define(out, k, fallback);
    }
  }
  for (const rule of node.rules ?? []) {
    if (value[rule.when.key] !== rule.when.equals) continue;
    const because = `${rule.when.key} = "${rule.when.equals}"`;
    for (const k of rule.require ?? []) {
      if (!Object.hasOwn(value, k)) {
        issues.push({
          code: "ERR_MISSING_KEY",
          message: `Missing key "${k}", required when ${because}`,
          hint: `add ${k} = ${exampleOf(node.fields[k])} under [${formatPath(path)}]`,
          path: [...path, k],
        });
      }
    }
    for (const k of rule.forbid ?? []) {
      if (Object.hasOwn(value, k)) {
        issues.push({
          code: "ERR_CONFLICT",
          message: `Key "${k}" does not apply when ${because}`,
          hint: `remove ${k}, or change ${rule.when.key}`,
          path: [...path, k],
        });
      }
    }
  }
  return out;
}

/** A TOML value as plain JSON data: integers as numbers, dates as ISO text, own properties only. */
export function plainValue(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plainValue);
  if (isTable(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) define(out, k, plainValue(v));
    return out;
  }
  return value;
}

/** Sets an own property, whatever its name (`__proto__` included). */
function define(target: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The value an absent (or invalid) key takes: its default, or an implicit table's defaults. */
function defaultOf(field: Node, path: KeyPath, issues: RawIssue[]): unknown {
  if (field.type === "table" && field.implicit) return check(field, {}, path, issues);
  if ("default" in field && field.default !== undefined) {
    return Array.isArray(field.default) ? [...field.default] : field.default;
  }
  return undefined;
}

function formatPath(path: KeyPath): string {
  return path.filter((p) => typeof p === "string").join(".");
}

function exampleOf(node: Node | undefined): string {
  if (!node) return "...";
  switch (node.type) {
    case "string":
      return `"${node.examples?.[0] ?? node.enum?.[0] ?? "..."}"`;
    case "integer":
      return String(node.default ?? node.minimum);
    case "boolean":
      return "true";
    case "array":
      return "[]";
    default:
      return "{ ... }";
  }
}

/** True for a plain TOML table (not an array, date or null). */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (isTable(value)) return "a table";
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "..." : value)}`;
  }
  if (typeof value === "number") {
    return Number.isInteger(value) ? `the integer ${value}` : `the float ${value}`;
  }
  return `${typeof value} ${String(value)}`;
}

/** The candidate closest to `word` by edit distance, when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
