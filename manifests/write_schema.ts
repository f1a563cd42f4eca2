/**
 * Writes `manifests/agent.schema.json` and `manifests/ironclaw.schema.json`
 * from the parser's schema: `deno task schema`. A test checks they are current.
 *
 * @module
 */

import { agentJsonSchema, runtimeConfigJsonSchema } from "./json_schema.ts";

/** The files this script writes, with their text. */
export function schemaFiles(): Record<string, string> {
  return {
    "agent.schema.json": JSON.stringify(agentJsonSchema(), null, 2) + "\n",
    "ironclaw.schema.json": JSON.stringify(runtimeConfigJsonSchema(), null, 2) + "\n",
  };
}

if (import.meta.main) {
  for (const [name, text] of Object.entries(schemaFiles())) {
    Deno.writeTextFileSync(new URL(name, import.meta.url), text);
    console.log(`wrote manifests/${name}`);
  }
}
