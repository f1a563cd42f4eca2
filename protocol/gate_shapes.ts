/**
 * Shapes of the values that cross the host gate. One shape gives the
 * TypeScript type (through {@linkcode TypeOf}, a mapped type), the type's text
 * in the generated typings and docs ({@linkcode typeText}) and the JSON Schema
 * the built-in loops show their model ({@linkcode jsonSchemaOf}).
 *
 * Pure: no Deno APIs.
 *
 * @module
 */

import type { ChatMessage, CompletionResult, ToolSpec } from "./model_types.ts";

/** Types a shape may name instead of spelling out (declared in `protocol/model_types.ts`). */
export interface NamedTypes {
  /** One message of a conversation. */
  ChatMessage: ChatMessage;
  /** A tool the model may call. */
  ToolSpec: ToolSpec;
  /** The model's answer. */
  CompletionResult: CompletionResult;
}

/** The shape of one JSON value. */
export type Shape =
  | { readonly kind: "string" }
  | { readonly kind: "number" }
  | { readonly kind: "boolean" }
  | { readonly kind: "unknown" }
  | { readonly kind: "literals"; readonly values: readonly string[] }
  | { readonly kind: "array"; readonly items: Shape }
  | { readonly kind: "record"; readonly values: Shape }
  | { readonly kind: "object"; readonly fields: Fields }
  | { readonly kind: "nullable"; readonly of: Shape }
  | { readonly kind: "named"; readonly name: keyof NamedTypes };

/** One field of an object: its shape, whether it may be left out, and what it means. */
export interface Field<S extends Shape = Shape> {
  /** The value's shape. */
  readonly shape: S;
  /** Whether the field may be left out. */
  readonly optional: boolean;
  /** What the field means, in one line, for docs and tool schemas. */
  readonly description: string;
}

/** The fields of an object, by name. */
export type Fields = Readonly<Record<string, Field>>;

/** A string. */
export const STRING: { readonly kind: "string" } = { kind: "string" };
/** A number. */
export const NUMBER: { readonly kind: "number" } = { kind: "number" };
/** A boolean. */
export const BOOLEAN: { readonly kind: "boolean" } = { kind: "boolean" };
/** Any JSON value. */
export const UNKNOWN: { readonly kind: "unknown" } = { kind: "unknown" };

/**
 * One of a few strings.
 *
 * @param values The strings.
 * @returns Their shape.
 */
export function literals<const V extends readonly string[]>(
  ...values: V
): { readonly kind: "literals"; readonly values: V } {
  return { kind: "literals", values };
}

/**
 * An array of one shape.
 *
 * @param items The items' shape.
 * @returns The array's shape.
 */
export function arrayOf<const S extends Shape>(items: S): { readonly kind: "array"; readonly items: S } {
  return { kind: "array", items };
}

/**
 * An object with any keys and values of one shape.
 *
 * @param values The values' shape.
 * @returns The object's shape.
 */
export function recordOf<const S extends Shape>(values: S): { readonly kind: "record"; readonly values: S } {
  return { kind: "record", values };
}

/**
 * An object with the given fields.
 *
 * @param fields The fields.
 * @returns The object's shape.
 */
export function objectOf<const F extends Fields>(fields: F): { readonly kind: "object"; readonly fields: F } {
  return { kind: "object", fields };
}

/**
 * A shape, or null.
 *
 * @param of The shape.
 * @returns The nullable shape.
 */
export function nullable<const S extends Shape>(of: S): { readonly kind: "nullable"; readonly of: S } {
  return { kind: "nullable", of };
}

/**
 * A type of {@linkcode NamedTypes}, by name.
 *
 * @param name The type's name.
 * @returns Its shape.
 */
export function named<const N extends keyof NamedTypes>(
  name: N,
): { readonly kind: "named"; readonly name: N } {
  return { kind: "named", name };
}

/**
 * A field that must be given.
 *
 * @param shape Its shape.
 * @param description What it means.
 * @returns The field.
 */
export function required<const S extends Shape>(
  shape: S,
  description: string,
): { readonly shape: S; readonly optional: false; readonly description: string } {
  return { shape, optional: false, description };
}

/**
 * A field that may be left out.
 *
 * @param shape Its shape.
 * @param description What it means.
 * @returns The field.
 */
export function optional<const S extends Shape>(
  shape: S,
  description: string,
): { readonly shape: S; readonly optional: true; readonly description: string } {
  return { shape, optional: true, description };
}

/** The TypeScript type of a shape. */
export type TypeOf<S> = S extends { kind: "string" } ? string
  : S extends { kind: "number" } ? number
  : S extends { kind: "boolean" } ? boolean
  : S extends { kind: "literals"; values: readonly (infer V)[] } ? V
  : S extends { kind: "array"; items: infer I } ? TypeOf<I>[]
  : S extends { kind: "record"; values: infer V } ? Record<string, TypeOf<V>>
  : S extends { kind: "object"; fields: infer F } ? ObjectOf<F>
  : S extends { kind: "nullable"; of: infer O } ? TypeOf<O> | null
  : S extends { kind: "named"; name: infer N extends keyof NamedTypes } ? NamedTypes[N]
  : unknown;

/** The TypeScript type of an object with these fields (a mapped type over them). */
export type ObjectOf<F> = Flat<
  & { -readonly [K in keyof F as F[K] extends { optional: false } ? K : never]: FieldType<F[K]> }
  & { -readonly [K in keyof F as F[K] extends { optional: true } ? K : never]?: FieldType<F[K]> }
>;

type FieldType<F> = F extends { shape: infer S } ? TypeOf<S> : never;
type Flat<T> = { [K in keyof T]: T[K] };

/**
 * The TypeScript text of a shape, on one line.
 *
 * @example
 * ```ts
 * import { arrayOf, literals, objectOf, optional, required, STRING, typeText } from "./gate_shapes.ts";
 * const text = typeText(objectOf({ path: required(STRING, "A file"), kind: optional(literals("a", "b"), "") }));
 * if (text !== '{ path: string; kind?: "a" | "b" }') throw new Error(text);
 * if (typeText(arrayOf(literals("a", "b"))) !== '("a" | "b")[]') throw new Error("parenthesised");
 * ```
 *
 * @param shape The shape.
 * @returns Its type as TypeScript text.
 */
export function typeText(shape: Shape): string {
  switch (shape.kind) {
    case "string":
    case "number":
    case "boolean":
    case "unknown":
      return shape.kind;
    case "literals":
      return shape.values.map((v) => JSON.stringify(v)).join(" | ");
    case "array": {
      const items = typeText(shape.items);
      return / \| /.test(items) && !items.startsWith("{") ? `(${items})[]` : `${items}[]`;
    }
    case "record":
      return `Record<string, ${typeText(shape.values)}>`;
    case "object": {
      const fields = Object.entries(shape.fields).map(([k, f]) =>
        `${k}${f.optional ? "?" : ""}: ${typeText(f.shape)}`
      );
      return fields.length === 0 ? "Record<string, never>" : `{ ${fields.join("; ")} }`;
    }
    case "nullable":
      return `${typeText(shape.of)} | null`;
    case "named":
      return shape.name;
  }
}

/**
 * The JSON Schema of a shape (named types are left open: `{}`).
 *
 * @param shape The shape.
 * @param description What the value means, if it is said.
 * @returns The schema.
 */
export function jsonSchemaOf(shape: Shape, description?: string): Record<string, unknown> {
  const said = description ? { description } : {};
  switch (shape.kind) {
    case "string":
    case "number":
    case "boolean":
      return { type: shape.kind, ...said };
    case "unknown":
    case "named":
      return { ...said };
    case "literals":
      return { type: "string", enum: [...shape.values], ...said };
    case "array":
      return { type: "array", items: jsonSchemaOf(shape.items), ...said };
    case "record":
      return { type: "object", additionalProperties: jsonSchemaOf(shape.values), ...said };
    case "nullable":
      return { anyOf: [jsonSchemaOf(shape.of), { type: "null" }], ...said };
    case "object":
      return {
        type: "object",
        properties: Object.fromEntries(
          Object.entries(shape.fields).map(([k, f]) => [k, jsonSchemaOf(f.shape, f.description)]),
        ),
        required: Object.entries(shape.fields).filter(([, f]) => !f.optional).map(([k]) => k),
        additionalProperties: false,
        ...said,
      };
  }
}
