/**
 * The subset of JSON Schema that plugin tools declare their input with, and a
 * validator for it. Small on purpose: what it does not know, it refuses
 * (an unknown keyword makes the schema invalid), so a schema never means less
 * than its author thinks.
 *
 * Keywords: `type` (a name or a list of names: string, number, integer,
 * boolean, object, array, null), `properties`, `required`,
 * `additionalProperties` (boolean or schema), `items`, `enum`, `const`,
 * `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`,
 * `pattern`, and the notes `description`, `title`, `default`, `examples`.
 *
 * @module
 */

const TYPES = ["string", "number", "integer", "boolean", "object", "array", "null"];
const NOTES = ["description", "title", "default", "examples", "$schema"];
const KEYWORDS = [
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "pattern",
  ...NOTES,
];

type Schema = Record<string, unknown>;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The problems of a schema, each with its path; empty when it is valid.
 *
 * @param schema A tool's input schema.
 * @param path Where it is, for the messages.
 * @returns The problems.
 * @example
 * ```ts
 * import { schemaProblems } from "./json_schema.ts";
 * if (schemaProblems({ type: "object", properties: { x: { type: "strng" } } }).length !== 1) throw new Error();
 * ```
 */
export function schemaProblems(schema: unknown, path = "input"): string[] {
  if (!isObject(schema)) return [`${path} must be a table (a JSON Schema object)`];
  const out: string[] = [];
  for (const key of Object.keys(schema)) {
    if (!KEYWORDS.includes(key)) {
      out.push(
        `${path}: "${key}" is not a keyword IronClaw understands (it knows ${
          KEYWORDS.filter((k) => !NOTES.includes(k)).join(", ")
        })`,
      );
    }
  }
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  for (const t of types) {
    if (typeof t !== "string" || !TYPES.includes(t)) {
      out.push(`${path}.type: ${JSON.stringify(t)} is not one of ${TYPES.join(", ")}`);
    }
  }
  if (schema.properties !== undefined) {
    if (!isObject(schema.properties)) out.push(`${path}.properties must be a table`);
    else {for (const [k, v] of Object.entries(schema.properties)) {
        out.push(...schemaProblems(v, `${path}.properties.${k}`));
      }}
  }
  if (
    schema.required !== undefined &&
    (!Array.isArray(schema.required) || schema.required.some((r) => typeof r !== "string"))
  ) {
    out.push(`${path}.required must be a list of property names`);
  }
  if (isObject(schema.additionalProperties)) {
    out.push(...schemaProblems(schema.additionalProperties, `${path}.additionalProperties`));
  } else if (schema.additionalProperties !== undefined && typeof schema.additionalProperties !== "boolean") {
    out.push(`${path}.additionalProperties must be true, false or a schema`);
  }
  if (schema.items !== undefined) out.push(...schemaProblems(schema.items, `${path}.items`));
  if (schema.enum !== undefined && !Array.isArray(schema.enum)) out.push(`${path}.enum must be a list`);
  for (const k of ["minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"]) {
    if (schema[k] !== undefined && typeof schema[k] !== "number") out.push(`${path}.${k} must be a number`);
  }
  if (schema.pattern !== undefined) {
    try {
      new RegExp(schema.pattern as string, "u");
    } catch {
      out.push(`${path}.pattern is not a valid regular expression`);
    }
  }
  return out;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/**
 * Checks a value against a (valid) schema.
 *
 * @param schema The schema.
 * @param value The value.
 * @param path Where the value is, for the message.
 * @returns The first problem with its path, or null when the value fits.
 * @example
 * ```ts
 * import { inputProblem } from "./json_schema.ts";
 * const schema = { type: "object", properties: { n: { type: "integer", minimum: 1 } }, required: ["n"] };
 * if (inputProblem(schema, { n: 0 }) !== "input.n: 0 is less than 1") throw new Error();
 * ```
 */
export function inputProblem(schema: Schema, value: unknown, path = "input"): string | null {
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type as string[] : [schema.type as string];
    const t = typeOf(value);
    if (!types.some((want) => want === t || (want === "number" && t === "integer"))) {
      return `${path}: expected ${types.join(" or ")}, found ${t}`;
    }
  }
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    return `${path}: must be ${JSON.stringify(schema.const)}`;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    return `${path}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`;
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) {
      return `${path}: ${value} is less than ${schema.minimum}`;
    }
    if (typeof schema.maximum === "number" && value > schema.maximum) {
      return `${path}: ${value} is more than ${schema.maximum}`;
    }
  }
  if (typeof value === "string") {
    if (typeof schema.minLength === "number" && value.length < schema.minLength) {
      return `${path}: shorter than ${schema.minLength} characters`;
    }
    if (typeof schema.maxLength === "number" && value.length > schema.maxLength) {
      return `${path}: longer than ${schema.maxLength} characters`;
    }
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
      return `${path}: does not match ${schema.pattern}`;
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) {
      return `${path}: fewer than ${schema.minItems} items`;
    }
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems) {
      return `${path}: more than ${schema.maxItems} items`;
    }
    if (isObject(schema.items)) {
      for (const [i, item] of value.entries()) {
        const p = inputProblem(schema.items, item, `${path}[${i}]`);
        if (p) return p;
      }
    }
  }
  if (isObject(value)) {
    for (const r of (schema.required as string[] | undefined) ?? []) {
      if (!Object.hasOwn(value, r)) return `${path}: "${r}" is missing`;
    }
    const props = isObject(schema.properties) ? schema.properties : {};
    for (const [k, v] of Object.entries(value)) {
      if (Object.hasOwn(props, k)) {
        const p = inputProblem(props[k] as Schema, v, `${path}.${k}`);
        if (p) return p;
      } else if (schema.additionalProperties === false) {
        return `${path}: "${k}" is not expected`;
      } else if (isObject(schema.additionalProperties)) {
        const p = inputProblem(schema.additionalProperties, v, `${path}.${k}`);
        if (p) return p;
      }
    }
  }
  return null;
}
