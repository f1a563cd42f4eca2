/**
 * JSON Schema (draft 2020-12) made from the same schema the parser checks
 * against, so editors complete and validate what IronClaw accepts.
 *
 * @module
 */

import { AGENT_SCHEMA } from "./agent_manifest.ts";
import { CONFIG_SCHEMA } from "./runtime_config.ts";
import { MAX_STRING, type Node, type TableNode } from "./schema.ts";

/** A JSON Schema document, as plain data. */
export type JsonSchema = { [key: string]: unknown };

function convert(node: Node): JsonSchema {
  const base: JsonSchema = { description: node.description };
  switch (node.type) {
    case "string":
      return {
        ...base,
        type: "string",
        ...(node.enum ? { enum: [...node.enum] } : {}),
        ...(node.pattern ? { pattern: node.pattern } : {}),
        ...(node.minLength !== undefined ? { minLength: node.minLength } : {}),
        maxLength: node.maxLength ?? MAX_STRING,
        ...(node.default !== undefined ? { default: node.default } : {}),
        ...(node.examples ? { examples: [...node.examples] } : {}),
      };
    case "integer":
      return {
        ...base,
        type: "integer",
        minimum: node.minimum,
        maximum: node.maximum,
        ...(node.default !== undefined ? { default: node.default } : {}),
      };
    case "boolean":
      return { ...base, type: "boolean", ...(node.default !== undefined ? { default: node.default } : {}) };
    case "array":
      return {
        ...base,
        type: "array",
        items: convert(node.items),
        maxItems: node.maxItems,
        ...(node.uniqueItems ? { uniqueItems: true } : {}),
      };
    case "map":
      return {
        ...base,
        type: "object",
        propertyNames: { pattern: node.keyPattern },
        additionalProperties: convert(node.values),
        maxProperties: node.maxEntries,
      };
    case "union":
      return { ...base, oneOf: node.variants.map(convert) };
    case "any":
      return base;
    case "table":
      return table(node, base);
  }
}

function table(node: TableNode, base: JsonSchema): JsonSchema {
  const out: JsonSchema = {
    ...base,
    type: "object",
    properties: Object.fromEntries(Object.entries(node.fields).map(([k, v]) => [k, convert(v)])),
    additionalProperties: false,
  };
  if (node.required?.length) out.required = [...node.required];
  if (node.rules?.length) {
    out.allOf = node.rules.map((rule) => ({
      if: { properties: { [rule.when.key]: { const: rule.when.equals } }, required: [rule.when.key] },
      then: {
        ...(rule.require?.length ? { required: [...rule.require] } : {}),
        ...(rule.forbid?.length ? { not: { anyOf: rule.forbid.map((k) => ({ required: [k] })) } } : {}),
      },
    }));
  }
  return out;
}

/** What names a generated schema file: its `$id` and `title`. */
export interface JsonSchemaMeta {
  /** The schema's `$id`, a URL. */
  id: string;
  /** Its title. */
  title: string;
}

/**
 * The JSON Schema (draft 2020-12) of a TOML document checked against a parser
 * schema: how every schema file IronClaw ships is made, so editors check what
 * the parser accepts.
 *
 * @param node The parser's schema of the document.
 * @param meta The schema's `$id` and title.
 * @returns A draft 2020-12 schema.
 * @example
 * ```ts
 * import { tomlJsonSchema } from "./json_schema.ts";
 * const s = tomlJsonSchema(
 *   { type: "table", description: "A document", fields: { name: { type: "string", description: "Its name" } } },
 *   { id: "https://example.com/doc.schema.json", title: "A document" },
 * );
 * if (s.additionalProperties !== false || s.title !== "A document") throw new Error("unexpected");
 * ```
 */
export function tomlJsonSchema(node: TableNode, meta: JsonSchemaMeta): JsonSchema {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: meta.id,
    title: meta.title,
    ...convert(node),
  };
}

/**
 * The JSON Schema of `agent.toml`.
 *
 * @returns A draft 2020-12 schema.
 * @example
 * ```ts
 * import { agentJsonSchema } from "./json_schema.ts";
 * const s = agentJsonSchema();
 * if (s.additionalProperties !== false) throw new Error("unexpected");
 * ```
 */
export function agentJsonSchema(): JsonSchema {
  return tomlJsonSchema(AGENT_SCHEMA, {
    id: "https://ironclaw.dev/schemas/agent.schema.json",
    title: "IronClaw agent manifest",
  });
}

/**
 * The JSON Schema of `ironclaw.toml`.
 *
 * @returns A draft 2020-12 schema.
 * @example
 * ```ts
 * import { runtimeConfigJsonSchema } from "./json_schema.ts";
 * if (runtimeConfigJsonSchema().type !== "object") throw new Error("unexpected");
 * ```
 */
export function runtimeConfigJsonSchema(): JsonSchema {
  return tomlJsonSchema(CONFIG_SCHEMA, {
    id: "https://ironclaw.dev/schemas/ironclaw.schema.json",
    title: "IronClaw runtime configuration",
  });
}
