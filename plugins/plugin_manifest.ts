/**
 * `plugin.toml`: what a plugin is, the tools it adds (each with a JSON Schema
 * of its input), the permissions its code needs, and its config keys. Strict
 * like the agent manifest: every problem names the file, line and key.
 *
 * @module
 */

import { posix } from "node:path";
import type { Issue, SourcePos } from "../manifests/errors.ts";
import { readDocument } from "../manifests/document.ts";
import type { ArrayNode, TableNode } from "../manifests/schema.ts";
import { AGENT_SCHEMA } from "../manifests/agent_manifest.ts";
import type { NetEntry } from "../manifests/agent_manifest.ts";
import { schemaProblems } from "./json_schema.ts";

const caps = (AGENT_SCHEMA.fields.capabilities as TableNode).fields;

/** The schema of `plugin.toml`. */
export const PLUGIN_SCHEMA: TableNode = {
  type: "table",
  description: "An IronClaw plugin: its tools, the permissions its code needs, its config",
  required: ["plugin", "tools"],
  fields: {
    plugin: {
      type: "table",
      description: "Who the plugin is",
      required: ["name"],
      fields: {
        name: {
          type: "string",
          description: "Lowercase letters, digits and '-'; the name manifests use in [plugins] use",
          pattern: "^[a-z0-9][a-z0-9-]{0,62}$",
          patternHint: 'use lowercase letters, digits and "-", for example "calculator"',
          examples: ["calculator"],
        },
        version: {
          type: "string",
          description: "The plugin's version, semver",
          pattern: "^\\d+\\.\\d+\\.\\d+(?:[-+][0-9A-Za-z.-]+)?$",
          patternHint: 'write a semantic version such as "0.1.0"',
          default: "0.0.0",
        },
        description: {
          type: "string",
          description: "One sentence on what it adds",
          maxLength: 1024,
          default: "",
        },
      },
    },
    tools: {
      type: "array",
      description: "The tools it adds: [[tools]] tables",
      maxItems: 64,
      items: {
        type: "table",
        description: "One tool",
        required: ["name", "description", "input"],
        fields: {
          name: {
            type: "string",
            description: "Lowercase letters, digits and '_'",
            pattern: "^[a-z][a-z0-9_]{0,47}$",
            patternHint: 'use lowercase letters, digits and "_", for example "evaluate"',
            examples: ["evaluate"],
          },
          description: {
            type: "string",
            description: "What it does, for the model",
            minLength: 1,
            maxLength: 2048,
            examples: ["..."],
          },
          input: { type: "any", description: "A JSON Schema (object) of its input" },
        },
      },
    } satisfies ArrayNode,
    permissions: {
      type: "table",
      description: "What the plugin's code may touch, in the same syntax as an agent's [capabilities]",
      implicit: true,
      fields: { fs: caps.fs!, net: caps.net!, run: caps.run!, env: caps.env! },
    },
    config: {
      type: "map",
      description: "Config keys with their defaults; the runtime config's [plugins.NAME] may set them",
      keyPattern: "^[a-z][a-z0-9_]{0,63}$",
      keyHint: 'name config keys with lowercase letters, digits and "_"',
      maxEntries: 64,
      values: { type: "any", description: "The default value" },
    },
  },
};

/** One tool of a plugin. */
export interface PluginToolSpec {
  /** The tool's name within its plugin. */
  name: string;
  /** What it does, for the model. */
  description: string;
  /** JSON Schema of its input. */
  input: Record<string, unknown>;
}

/** A checked `plugin.toml`. */
export interface PluginManifest {
  /** The plugin's name. */
  name: string;
  /** Its version. */
  version: string;
  /** What it adds. */
  description: string;
  /** Its tools. */
  tools: PluginToolSpec[];
  /** What its code needs, as written (relative paths resolve against its folder). */
  permissions: {
    fs: { read: string[]; write: string[] };
    net: { allow: NetEntry[] };
    run: { dangerous: boolean; allow_interpreters: boolean; allow: string[] };
    env: { allow: string[] };
  };
  /** Config defaults. */
  config: Record<string, unknown>;
  /** `plugin.toml`'s path. */
  file: string;
  /** The plugin's folder. */
  dir: string;
  /** Where a key path sits in `plugin.toml`. */
  at(path: readonly (string | number)[]): SourcePos;
}

/**
 * Parses and checks a `plugin.toml`. Pure: no file is read.
 *
 * @param text The TOML text.
 * @param path The file's absolute path (its folder holds `mod.ts`).
 * @param collect Where to put problems instead of throwing (syntax errors still throw).
 * @returns The plugin manifest.
 * @throws {InvalidDocumentError} With every problem found, when `collect` is not given.
 * @example
 * ```ts
 * import { parsePluginManifest } from "./plugin_manifest.ts";
 * const p = parsePluginManifest(
 *   `[plugin]\nname = "echo"\n[[tools]]\nname = "echo"\ndescription = "Echoes"\ninput = { type = "object" }\n`,
 *   "/opt/plugins/echo/plugin.toml",
 * );
 * if (p.tools[0]?.name !== "echo" || p.dir !== "/opt/plugins/echo") throw new Error();
 * ```
 */
export function parsePluginManifest(text: string, path: string, collect?: Issue[]): PluginManifest {
  const doc = readDocument<
    {
      plugin: { name: string; version: string; description: string };
      tools: PluginToolSpec[];
      permissions: PluginManifest["permissions"];
      config?: Record<string, unknown>;
    }
  >(
    { text, file: path },
    PLUGIN_SCHEMA,
  );
  const seen = new Set<string>();
  (doc.value?.tools ?? []).forEach((tool, i) => {
    if (!tool) return;
    if (tool.name && seen.has(tool.name)) {
      doc.issue("ERR_DUPLICATE", `Tool "${tool.name}" is declared twice`, "give each tool its own name", [
        "tools",
        i,
        "name",
      ]);
    }
    seen.add(tool.name);
    if (tool.input !== undefined) {
      const problems = schemaProblems(tool.input);
      if (problems.length === 0 && (tool.input as { type?: unknown }).type !== "object") {
        problems.push('input: a tool\'s input must be an object schema (type = "object")');
      }
      for (const p of problems) {
        doc.issue(
          "ERR_PLUGIN_SCHEMA",
          `The input schema of "${tool.name}" is invalid: ${p}`,
          "write a JSON Schema (draft 2020-12) object: keywords spelled as the standard spells them, $refs into its own $defs",
          ["tools", i, "input"],
        );
      }
    }
  });
  const folder = posix.basename(posix.dirname(path));
  const name = doc.value?.plugin?.name;
  if (name !== undefined && name !== folder) {
    doc.issue(
      "ERR_PLUGIN_NAME",
      `The plugin is named "${name}" but its folder is "${folder}"`,
      `rename the folder to "${name}", or the plugin to "${folder}"`,
      ["plugin", "name"],
    );
  }
  if (collect) collect.push(...doc.issues);
  else doc.finish();
  const v = doc.value;
  return {
    name: v?.plugin?.name ?? folder,
    version: v?.plugin?.version ?? "0.0.0",
    description: v?.plugin?.description ?? "",
    tools: (v?.tools ?? []).filter((t) => t && t.name && t.input),
    permissions: v?.permissions ??
      {
        fs: { read: [], write: [] },
        net: { allow: [] },
        run: { dangerous: false, allow_interpreters: false, allow: [] },
        env: { allow: [] },
      },
    config: v?.config ?? {},
    file: path,
    dir: posix.dirname(path),
    at: doc.at,
  };
}
