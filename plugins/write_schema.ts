/**
 * The JSON Schema of `plugin.toml`, made from {@linkcode PLUGIN_SCHEMA} (the
 * parser's own) the way `manifests/write_schema.ts` makes the others; as a
 * script (`deno task schema`) it writes `manifests/plugin.schema.json`. A test
 * checks the file is current.
 *
 * @module
 */

import { type JsonSchema, tomlJsonSchema } from "../manifests/json_schema.ts";
import { PLUGIN_SCHEMA } from "./plugin_manifest.ts";

/**
 * The JSON Schema of `plugin.toml`.
 *
 * @returns A draft 2020-12 schema.
 * @example
 * ```ts
 * import { pluginJsonSchema } from "./write_schema.ts";
 * if (pluginJsonSchema().additionalProperties !== false) throw new Error("unexpected");
 * ```
 */
export function pluginJsonSchema(): JsonSchema {
  const schema = tomlJsonSchema(PLUGIN_SCHEMA, {
    id: "https://ironclaw.dev/schemas/plugin.schema.json",
    title: "IronClaw plugin",
  });
  // The parser's schema takes a tool's input as any value and checks it apart (plugins/json_schema.ts); an
  // editor can at least tell that it must be an object schema, as the parser requires.
  const tool = ((schema.properties as Record<string, JsonSchema>).tools!.items as JsonSchema)
    .properties as Record<string, JsonSchema>;
  tool.input = {
    ...tool.input,
    type: "object",
    required: ["type"],
    properties: { type: { const: "object", description: "A tool's input is an object" } },
  };
  return schema;
}

/**
 * The files the script writes into `manifests/`, with their text.
 *
 * @returns File names and texts.
 */
export function pluginSchemaFiles(): Record<string, string> {
  return { "plugin.schema.json": JSON.stringify(pluginJsonSchema(), null, 2) + "\n" };
}

if (import.meta.main) {
  for (const [name, text] of Object.entries(pluginSchemaFiles())) {
    Deno.writeTextFileSync(new URL(`../manifests/${name}`, import.meta.url), text);
    console.log(`wrote manifests/${name}`);
  }
}
