/**
 * JSON Schema for tool inputs: a check of a schema itself
 * ({@linkcode schemaProblems}) and of a value against it
 * ({@linkcode inputProblem}). Values are checked by `@cfworker/json-schema`
 * (drafts 4, 7, 2019-09 and 2020-12, with `$ref`, `$defs`, `anyOf`, `oneOf`,
 * `if`/`then`/`else`, `format`...), which interprets the schema and generates
 * no code (no `eval`, no `new Function`), so it runs under the sandbox's flags
 * and in any Worker. The draft is the one the schema's `$schema` names,
 * 2020-12 when it names none.
 *
 * A schema a plugin declares in its own `plugin.toml` is checked strictly:
 * a keyword that is not JSON Schema (a typo such as `requird`) or a `format`
 * the validator does not know is refused, so a schema never means less than
 * its author thinks. Third-party schemas (an MCP server's) are checked with
 * `unknownKeywords: "ignore"`: extra keywords are annotations, as the
 * standard says. Either way `$dynamicRef`, which the validator does not
 * implement, is refused rather than ignored.
 *
 * @module
 */

import {
  dereference,
  format as FORMATS,
  type Schema as ValidatorSchema,
  type SchemaDraft,
  validate,
} from "@cfworker/json-schema";

type Schema = Record<string, unknown>;

/** Options of {@linkcode schemaProblems}. */
export interface SchemaProblemsOptions {
  /**
   * What a keyword that is not JSON Schema (or a `format` the validator does not know) makes:
   * `"refuse"` (the default, for IronClaw's own `plugin.toml` schemas) a problem, `"ignore"`
   * (for third-party schemas such as an MCP server's) nothing.
   */
  unknownKeywords?: "refuse" | "ignore";
}

const TYPES = ["string", "number", "integer", "boolean", "object", "array", "null"];

/** What the value of each keyword must be. */
type Kind =
  | "any"
  | "array"
  | "boolean"
  | "count"
  | "dependencies"
  | "format"
  | "items"
  | "names"
  | "namesMap"
  | "number"
  | "numberOrBoolean"
  | "object"
  | "positive"
  | "ref"
  | "regex"
  | "regexSchemaMap"
  | "schema"
  | "schemaList"
  | "schemaMap"
  | "string"
  | "type";

/** Every keyword of drafts 4 to 2020-12 the validator implements or that only annotates. */
const KEYWORDS: Readonly<Record<string, Kind>> = {
  $schema: "string",
  $id: "string",
  id: "string",
  $anchor: "string",
  $dynamicAnchor: "string",
  $comment: "string",
  $ref: "ref",
  $recursiveRef: "ref",
  $recursiveAnchor: "boolean",
  $vocabulary: "object",
  $defs: "schemaMap",
  definitions: "schemaMap",
  type: "type",
  enum: "array",
  const: "any",
  multipleOf: "positive",
  maximum: "number",
  minimum: "number",
  exclusiveMaximum: "numberOrBoolean",
  exclusiveMinimum: "numberOrBoolean",
  maxLength: "count",
  minLength: "count",
  pattern: "regex",
  format: "format",
  items: "items",
  prefixItems: "schemaList",
  additionalItems: "schema",
  unevaluatedItems: "schema",
  contains: "schema",
  maxContains: "count",
  minContains: "count",
  maxItems: "count",
  minItems: "count",
  uniqueItems: "boolean",
  properties: "schemaMap",
  patternProperties: "regexSchemaMap",
  additionalProperties: "schema",
  unevaluatedProperties: "schema",
  propertyNames: "schema",
  maxProperties: "count",
  minProperties: "count",
  required: "names",
  dependentRequired: "namesMap",
  dependentSchemas: "schemaMap",
  dependencies: "dependencies",
  allOf: "schemaList",
  anyOf: "schemaList",
  oneOf: "schemaList",
  not: "schema",
  if: "schema",
  then: "schema",
  else: "schema",
  title: "string",
  description: "string",
  default: "any",
  examples: "array",
  deprecated: "boolean",
  readOnly: "boolean",
  writeOnly: "boolean",
  contentMediaType: "string",
  contentEncoding: "string",
  contentSchema: "schema",
};

/** Standard keywords the validator does not implement: refused in every mode, with what to write instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  $dynamicRef: 'IronClaw\'s validator does not implement "$dynamicRef": use "$ref"',
};

/** A plain object (a TOML table, a JSON object): not an array, nor a date that TOML may have made. */
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) &&
  [Object.prototype, null].includes(Object.getPrototypeOf(v));
const isSchema = (v: unknown): v is Schema | boolean => typeof v === "boolean" || isObject(v);
const isCount = (v: unknown): boolean => typeof v === "number" && Number.isInteger(v) && v >= 0;
const isNames = (v: unknown): boolean =>
  Array.isArray(v) && v.every((s) => typeof s === "string") && new Set(v).size === v.length;

/** The draft a schema's `$schema` names; 2020-12 when it names none or one this does not know. */
function draftOf(schema: unknown): SchemaDraft {
  const named = isObject(schema) && typeof schema.$schema === "string" ? schema.$schema : "";
  if (/draft-0[0-4]\b/.test(named)) return "4";
  if (/draft-0[5-7]\b/.test(named)) return "7";
  if (named.includes("2019-09")) return "2019-09";
  return "2020-12";
}

function isRegex(source: unknown): boolean {
  if (typeof source !== "string") return false;
  try {
    new RegExp(source, "u");
    return true;
  } catch {
    return false;
  }
}

/** The words of what a keyword of a kind must be, or null when the value fits. */
function kindProblem(kind: Kind, value: unknown, draft: SchemaDraft): string | null {
  switch (kind) {
    case "any":
    case "format":
    case "ref":
    case "schema":
    case "schemaMap":
    case "regexSchemaMap":
    case "schemaList":
    case "items":
      return null; // checked by walk()
    case "array":
      return Array.isArray(value) ? null : "must be a list";
    case "boolean":
      return typeof value === "boolean" ? null : "must be true or false";
    case "count":
      return isCount(value) ? null : "must be a whole number, 0 or more";
    case "number":
      return typeof value === "number" ? null : "must be a number";
    case "numberOrBoolean":
      return typeof value === "number" || (draft === "4" && typeof value === "boolean")
        ? null
        : "must be a number";
    case "positive":
      return typeof value === "number" && value > 0 ? null : "must be a number above 0";
    case "object":
      return isObject(value) ? null : "must be a table";
    case "string":
      return typeof value === "string" ? null : "must be a string";
    case "names":
      return isNames(value) ? null : "must be a list of distinct property names";
    case "namesMap":
      return isObject(value) && Object.values(value).every(isNames)
        ? null
        : "must be a table of lists of property names";
    case "dependencies":
      return isObject(value) && Object.values(value).every((v) => isNames(v) || isSchema(v))
        ? null
        : "must be a table of schemas or lists of property names";
    case "regex":
      return isRegex(value) ? null : "is not a valid regular expression";
    case "type": {
      const types = Array.isArray(value) ? value : [value];
      const bad = types.find((t) => typeof t !== "string" || !TYPES.includes(t));
      if (bad !== undefined || types.length === 0) {
        return `${JSON.stringify(bad ?? value)} is not one of ${TYPES.join(", ")}`;
      }
      return null;
    }
  }
}

/** State of one check of a schema. */
interface Walk {
  out: string[];
  strict: boolean;
  draft: SchemaDraft;
  /** Every object with a `$ref`, with its path, to resolve once all of the schema is known. */
  refs: { at: string; node: Schema; keyword: string }[];
  depth: number;
}

const MAX_DEPTH = 64;

/** Checks one (sub)schema and everything under it. */
function walk(schema: unknown, path: string, w: Walk): void {
  if (typeof schema === "boolean") return;
  if (!isObject(schema)) {
    w.out.push(`${path} must be a table (a JSON Schema object) or true or false`);
    return;
  }
  if (w.depth > MAX_DEPTH) {
    w.out.push(`${path}: the schema nests deeper than ${MAX_DEPTH} levels`);
    return;
  }
  w.depth++;
  for (const [key, value] of Object.entries(schema)) walkKeyword(schema, key, value, `${path}.${key}`, w);
  w.depth--;
}

function walkKeyword(schema: Schema, key: string, value: unknown, at: string, w: Walk): void {
  const kind = Object.hasOwn(KEYWORDS, key) ? KEYWORDS[key] : undefined;
  if (Object.hasOwn(UNSUPPORTED, key)) {
    w.out.push(`${at}: ${UNSUPPORTED[key]}`);
    return;
  }
  if (kind === undefined) {
    if (w.strict) w.out.push(`${at}: "${key}" is not a JSON Schema keyword${suggest(key)}`);
    return;
  }
  const problem = kindProblem(kind, value, w.draft);
  if (problem) {
    w.out.push(`${at} ${problem}`);
    return;
  }
  switch (kind) {
    case "schema":
      return walk(value, at, w);
    case "schemaList":
      if (!Array.isArray(value) || value.length === 0) {
        w.out.push(`${at} must be a list of one or more schemas`);
      } else value.forEach((s, i) => walk(s, `${at}[${i}]`, w));
      return;
    case "items":
      if (Array.isArray(value) && w.draft !== "2020-12") value.forEach((s, i) => walk(s, `${at}[${i}]`, w));
      else if (Array.isArray(value)) {
        w.out.push(`${at} must be one schema (a list of schemas is "prefixItems")`);
      } else walk(value, at, w);
      return;
    case "schemaMap":
    case "regexSchemaMap":
      if (!isObject(value)) w.out.push(`${at} must be a table of schemas`);
      else {
        for (const [k, s] of Object.entries(value)) {
          if (kind === "regexSchemaMap" && !isRegex(k)) {
            w.out.push(`${at}: ${JSON.stringify(k)} is not a valid regular expression`);
          }
          walk(s, `${at}.${k}`, w);
        }
      }
      return;
    case "dependencies":
      for (const [k, s] of Object.entries(value as Schema)) if (!Array.isArray(s)) walk(s, `${at}.${k}`, w);
      return;
    case "ref":
      if (typeof value !== "string") w.out.push(`${at} must be a string (a URI reference)`);
      else w.refs.push({ at, node: schema, keyword: key });
      return;
    case "format":
      if (typeof value !== "string") w.out.push(`${at} must be a string`);
      else if (w.strict && !Object.hasOwn(FORMATS, value)) {
        w.out.push(
          `${at}: "${value}" is not a format IronClaw checks (it knows ${Object.keys(FORMATS).join(", ")})`,
        );
      }
      return;
  }
}

/** A did-you-mean for a keyword that is not one, from the known keywords. */
function suggest(key: string): string {
  const lower = key.toLowerCase();
  let best = "";
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const known of Object.keys(KEYWORDS)) {
    const d = distance(lower, known.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best ? ` (did you mean "${best}"?)` : "";
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The problems of a schema, each with its path; empty when it is valid.
 * Checks every keyword's value, that regular expressions compile and that
 * every `$ref` resolves within the schema (nothing is fetched).
 *
 * @param schema A tool's input schema.
 * @param path Where it is, for the messages.
 * @param options Whether a keyword that is not JSON Schema is refused (the default) or ignored.
 * @returns The problems.
 * @example
 * ```ts
 * import { schemaProblems } from "./json_schema.ts";
 * const typo = { type: "object", properties: { x: { type: "string", maxLenght: 3 } } };
 * if (schemaProblems(typo).length !== 1) throw new Error();
 * if (schemaProblems(typo, "input", { unknownKeywords: "ignore" }).length !== 0) throw new Error();
 * ```
 */
export function schemaProblems(
  schema: unknown,
  path = "input",
  options: SchemaProblemsOptions = {},
): string[] {
  if (!isObject(schema)) return [`${path} must be a table (a JSON Schema object)`];
  const w: Walk = {
    out: [],
    strict: (options.unknownKeywords ?? "refuse") === "refuse",
    draft: draftOf(schema),
    refs: [],
    depth: 0,
  };
  let copy: Schema;
  try {
    copy = structuredClone(schema);
    walk(copy, path, w);
  } catch (e) {
    return [`${path} cannot be read as a JSON Schema: ${(e as Error).message}`];
  }
  if (w.out.length > 0) return w.out;
  let lookup: Record<string, ValidatorSchema | boolean>;
  try {
    lookup = dereference(copy as ValidatorSchema);
  } catch (e) {
    return [`${path}: ${(e as Error).message.replace(/\.$/, "")}`];
  }
  for (const { at, node, keyword } of w.refs) {
    const absolute = keyword === "$ref" ? node.__absolute_ref__ : node.__absolute_recursive_ref__;
    if (typeof absolute !== "string" || lookup[absolute] === undefined) {
      w.out.push(
        `${at}: ${
          JSON.stringify(node[keyword])
        } does not point into this schema (write "#/$defs/NAME" and define NAME under "$defs"; nothing is fetched)`,
      );
    }
  }
  return w.out;
}

/** A schema ready to check values with. */
interface Compiled {
  schema: ValidatorSchema;
  draft: SchemaDraft;
  lookup: Record<string, ValidatorSchema | boolean>;
}

/** Compiled schemas by the object they were made from (tool schemas live as long as their run). */
const compiled = new WeakMap<object, Compiled>();

function compile(schema: Schema): Compiled {
  let c = compiled.get(schema);
  if (!c) {
    // A copy: the validator marks the objects it reads, and the caller's may be frozen.
    const copy = structuredClone(schema) as ValidatorSchema;
    c = { schema: copy, draft: draftOf(copy), lookup: dereference(copy) };
    compiled.set(schema, c);
  }
  return c;
}

/**
 * Checks a value against a schema. Never throws: a schema that cannot be
 * used, or a value that is not JSON or nests too deeply, is a problem too.
 *
 * @param schema The schema.
 * @param value The value.
 * @param path Where the value is, for the message.
 * @returns The first problem, with the path of the value that fails and what was expected, or null when the value fits.
 * @example
 * ```ts
 * import { inputProblem } from "./json_schema.ts";
 * const schema = { type: "object", properties: { n: { type: "integer", minimum: 1 } }, required: ["n"] };
 * if (inputProblem(schema, { n: 0 }) !== "input.n: 0 is less than 1") throw new Error();
 * ```
 */
export function inputProblem(schema: Schema, value: unknown, path = "input"): string | null {
  let c: Compiled;
  try {
    c = compile(schema);
  } catch (e) {
    return `${path}: cannot be checked, the tool's input schema is invalid: ${(e as Error).message}`;
  }
  try {
    const result = validate(value, c.schema, c.draft, c.lookup, true);
    return result.valid ? null : explain(result.errors, 0, { c, value, path });
  } catch (e) {
    if (e instanceof RangeError) {
      return `${path}: cannot be checked, the value or the schema nests too deeply`;
    }
    const message = (e as Error).message ?? String(e);
    if (/^Instances of/.test(message)) {
      return `${path}: holds a value that is not JSON (${message.replace(/\.$/, "")})`;
    }
    return `${path}: cannot be checked against the tool's input schema: ${message.split("\n")[0]}`;
  }
}

/** One error of the validator's list. */
type Unit = { keyword: string; keywordLocation: string; instanceLocation: string; error: string };

interface Explain {
  c: Compiled;
  value: unknown;
  path: string;
}

/** Keywords whose error only says that an error lies under them. */
const WRAPPERS = new Set([
  "$ref",
  "$recursiveRef",
  "properties",
  "patternProperties",
  "additionalProperties",
  "unevaluatedProperties",
  "items",
  "prefixItems",
  "additionalItems",
  "unevaluatedItems",
  "allOf",
  "dependentSchemas",
  "dependencies",
  "if",
  "propertyNames",
]);

/** The indexes of the errors under errors[i] (they follow it, their locations under its own). */
function under(errors: readonly Unit[], i: number): number[] {
  const prefix = errors[i]!.keywordLocation + "/";
  const out: number[] = [];
  for (let j = i + 1; j < errors.length; j++) {
    // A false schema's error names the value's location as its keyword's: it belongs to the error before it.
    if (errors[j]!.keyword !== "false" && !errors[j]!.keywordLocation.startsWith(prefix)) break;
    out.push(j);
  }
  return out;
}

/** The validator's errors (parents before children) as one sentence about the deepest failing value. */
function explain(errors: readonly Unit[], i: number, x: Explain): string {
  const e = errors[i]!;
  const inner = under(errors, i);
  const where = pathOf(e.instanceLocation, x);
  if (e.keyword === "anyOf" || e.keyword === "oneOf") return choices(errors, i, x);
  if (WRAPPERS.has(e.keyword) && inner.length > 0) {
    const first = errors[inner[0]!]!;
    if (first.keyword === "false" && /^(additional|unevaluated)Properties$/.test(e.keyword)) {
      const key = decodeSegment(first.instanceLocation.split("/").at(-1)!);
      return `${where}: "${key}" is not expected`;
    }
    return explain(errors, inner[0]!, x);
  }
  return `${where}: ${leaf(e, x)}`;
}

/** The first error that is not a wrapper, from errors[i] down. */
function firstLeaf(errors: readonly Unit[], i: number): Unit {
  const inner = under(errors, i);
  return WRAPPERS.has(errors[i]!.keyword) && inner.length > 0 ? firstLeaf(errors, inner[0]!) : errors[i]!;
}

/**
 * An `anyOf`/`oneOf` that failed. A choice whose type the value does not have was not the one meant: when only
 * one choice is left, its own problem is the answer; when none is, the types the value could have had.
 */
function choices(errors: readonly Unit[], i: number, x: Explain): string {
  const e = errors[i]!;
  const where = pathOf(e.instanceLocation, x);
  const matches = /\((\d+) matches\)/.exec(e.error);
  if (matches && Number(matches[1]) > 1) {
    return `${where}: fits ${matches[1]} of the choices of "oneOf", and must fit exactly one`;
  }
  const branches = new Map<string, number>();
  for (const j of under(errors, i)) {
    if (errors[j]!.keyword === "false") continue;
    const branch = errors[j]!.keywordLocation.slice(e.keywordLocation.length + 1).split("/")[0]!;
    if (!branches.has(branch)) branches.set(branch, j);
  }
  const types: string[] = [];
  const meant: number[] = [];
  const tags: { key: string; value: unknown }[] = [];
  const value = locate(e.instanceLocation, x).value;
  for (const [branch, j] of branches) {
    const first = firstLeaf(errors, j);
    if (first.keyword === "type" && first.instanceLocation === e.instanceLocation) {
      types.push(...[keywordValue(first.keywordLocation, x.c) ?? []].flat().map(String));
    } else {
      const tag = tagOf(keywordValue(`${e.keywordLocation}/${branch}`, x.c), value);
      if (tag) tags.push(tag);
      else meant.push(j);
    }
  }
  const keys = new Set(tags.map((t) => t.key));
  if (meant.length === 0 && types.length === 0 && keys.size === 1) {
    const [key] = keys;
    const path = locate(`${e.instanceLocation}/${encodeURIComponent(key!)}`, x).path;
    return `${path}: must be one of ${tags.map((t) => shown(t.value)).join(", ")}`;
  }
  if (meant.length === 1) return explain(errors, meant[0]!, x);
  if (meant.length === 0 && types.length > 0) {
    const found = typeOf(value);
    return `${where}: expected ${[...new Set(types)].join(" or ")}, found ${found}`;
  }
  if (meant.length === 0) meant.push(...branches.values());
  const reasons = meant.slice(0, 4).map((j) => explain(errors, j, x).replace(`${where}: `, ""));
  const more = meant.length > 4 ? `; or ${meant.length - 4} more` : "";
  return `${where}: fits none of the choices of "${e.keyword}": ${reasons.join("; or ")}${more}`;
}

/**
 * The tag by which an object is not this choice: a property the choice fixes with `const` (as `kind` in a
 * tagged union) that the object has with another value. Undefined when there is none.
 */
function tagOf(choice: unknown, value: unknown): { key: string; value: unknown } | undefined {
  if (!isObject(choice) || !isObject(choice.properties) || !isObject(value)) return undefined;
  for (const [key, sub] of Object.entries(choice.properties)) {
    if (
      isObject(sub) && Object.hasOwn(sub, "const") && Object.hasOwn(value, key) &&
      JSON.stringify(value[key]) !== JSON.stringify(sub.const)
    ) return { key, value: sub.const };
  }
  return undefined;
}

function decodeSegment(segment: string): string {
  let text = segment;
  try {
    text = decodeURIComponent(segment);
  } catch { /* kept as written */ }
  return text.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** The value at an instance location ("#/a/0"), with the path as a reader writes it (`input.a[0]`). */
function locate(location: string, x: Explain): { path: string; value: unknown } {
  let path = x.path;
  let value: unknown = x.value;
  for (const raw of location.split("/").slice(1)) {
    const key = decodeSegment(raw);
    if (Array.isArray(value)) path += `[${key}]`;
    else path += /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    value = (value as Record<string, unknown> | undefined)?.[key];
  }
  return { path, value };
}

const pathOf = (location: string, x: Explain): string => locate(location, x).path;

/** The value of the keyword an error names, following `$ref`s as the validator did; undefined when unknown. */
function keywordValue(location: string, c: Compiled): unknown {
  let node: unknown = c.schema;
  for (const raw of location.split("/").slice(1)) {
    const key = decodeSegment(raw);
    if (key === "$ref" && isObject(node)) node = c.lookup[node.__absolute_ref__ as string];
    else if (key === "$recursiveRef") return undefined;
    else node = (node as Record<string, unknown> | undefined)?.[key];
  }
  return node;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** What a failing keyword expected, in words. */
function leaf(e: Unit, x: Explain): string {
  const k = keywordValue(e.keywordLocation, x.c);
  const v = locate(e.instanceLocation, x).value;
  const fallback = e.error.replace(/\.$/, "");
  if (k === undefined && e.keyword !== "false") return fallback;
  switch (e.keyword) {
    case "type":
      return `expected ${[k].flat().join(" or ")}, found ${typeOf(v)}`;
    case "const":
      return `must be ${shown(k)}`;
    case "enum":
      return `must be one of ${(k as unknown[]).map(shown).join(", ")}`;
    case "minimum":
      return `${v} is less than ${k}`;
    case "maximum":
      return `${v} is more than ${k}`;
    case "exclusiveMinimum":
      return typeof k === "number" ? `${v} is not more than ${k}` : fallback;
    case "exclusiveMaximum":
      return typeof k === "number" ? `${v} is not less than ${k}` : fallback;
    case "multipleOf":
      return `${v} is not a multiple of ${k}`;
    case "minLength":
      return `shorter than ${k} characters`;
    case "maxLength":
      return `longer than ${k} characters`;
    case "pattern":
      return `does not match ${k}`;
    case "format":
      return `${shown(v)} is not a valid ${k}`;
    case "minItems":
      return `fewer than ${k} items`;
    case "maxItems":
      return `more than ${k} items`;
    case "uniqueItems":
      return "has items that are equal, and they must be unique";
    case "contains":
      return 'has no item that fits "contains"';
    case "minProperties":
      return `fewer than ${k} properties`;
    case "maxProperties":
      return `more than ${k} properties`;
    case "required": {
      const missing = (k as string[]).filter((r) => !isObject(v) || !Object.hasOwn(v, r));
      return missing.length > 0 ? `"${missing[0]}" is missing` : fallback;
    }
    case "not":
      return 'fits the schema under "not", which it must not';
    case "false":
      return "no value is allowed here";
    default:
      return fallback;
  }
}
