/**
 * `plugin.toml`: what a plugin is, the tools it adds (each with a JSON Schema
 * of its input), the permissions its code needs, and its config keys. Strict
 * like the agent manifest: every problem names the file, line and key.
 *
 * @module
 */

import { posix } from "node:path";
import type { Issue, IssueCode, SourcePos } from "../manifests/errors.ts";
import { readDocument } from "../manifests/document.ts";
import type { ArrayNode, TableNode } from "../manifests/schema.ts";
import { AGENT_SCHEMA } from "../manifests/agent_manifest.ts";
import type { NetEntry } from "../manifests/agent_manifest.ts";
import { schemaProblems } from "./json_schema.ts";
import { isLoopbackHost } from "../capabilities/mcp_remote.ts";

const caps = (AGENT_SCHEMA.fields.capabilities as TableNode).fields;

/** The schema of `plugin.toml`. */
export const PLUGIN_SCHEMA: TableNode = {
  type: "table",
  description: "An IronClaw plugin: its tools, the permissions its code needs, its config",
  required: ["plugin"],
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
    mcp: {
      type: "table",
      description:
        "An MCP server that is the plugin's code, instead of mod.ts: a local one (command) run as a Deno child " +
        "with exactly [permissions] as its flags, or a remote one (url); its tools are the plugin's tools",
      fields: {
        command: {
          type: "string",
          description:
            'A JS/TS MCP server: "npm:<package>@<exact version>", or a file relative to the plugin folder',
          minLength: 1,
          maxLength: 512,
          examples: ["npm:@modelcontextprotocol/server-filesystem@2026.8.31"],
        },
        args: {
          type: "array",
          description: "Its command-line arguments",
          maxItems: 64,
          items: { type: "string", description: "One argument", maxLength: 4096 },
          default: [],
        },
        url: {
          type: "string",
          description: "A remote MCP server (Streamable HTTP), reached through the gate's network rules",
          pattern: "^https?://[^\\s]+$",
          patternHint:
            'write an https URL (http only to a loopback address), for example "https://mcp.example.com/mcp"',
          examples: ["https://mcp.example.com/mcp"],
        },
        secret: {
          type: "string",
          description: "The secret injected at egress for a remote server",
          pattern: "^[A-Za-z_][A-Za-z0-9_-]{0,63}$",
          patternHint: 'name a secret of the runtime config, for example "example"',
        },
        timeout_s: {
          type: "integer",
          description:
            "The longest one tool call may take, in seconds (also capped by the run's step_timeout_s)",
          minimum: 1,
          maximum: 600,
          default: 30,
        },
      },
    },
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

/** The `[mcp]` table: the MCP server that is a plugin's code. */
export interface McpSpec {
  /** `npm:<package>@<version>` or a file path relative to the plugin folder; null for a remote server. */
  command: string | null;
  /** Its arguments. */
  args: string[];
  /** A remote server's URL; null for a local one. */
  url: string | null;
  /** The secret a remote server gets at egress. */
  secret: string | null;
  /** The longest one call may take, in seconds. */
  timeoutS: number;
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
  /** The MCP server that is its code, instead of `mod.ts`; null for a `mod.ts` plugin. */
  mcp: McpSpec | null;
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
      mcp?: { command?: string; args: string[]; url?: string; secret?: string; timeout_s: number };
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
  const mcp = mcpSpec(doc.value?.mcp, doc.value?.tools !== undefined, doc.issue);
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
    tools: mcp ? [] : (v?.tools ?? []).filter((t) => t && t.name && t.input),
    permissions: v?.permissions ??
      {
        fs: { read: [], write: [] },
        net: { allow: [] },
        run: { dangerous: false, allow_interpreters: false, allow: [] },
        env: { allow: [] },
      },
    config: v?.config ?? {},
    mcp,
    file: path,
    dir: posix.dirname(path),
    at: doc.at,
  };
}

/** An exactly pinned npm specifier: `npm:<name>@<x.y.z>` (a prerelease or build suffix allowed), nothing after. */
const PINNED_NPM =
  /^npm:(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*@\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

type IssueFn = (code: IssueCode, message: string, hint: string, path: (string | number)[]) => void;

/** The checked `[mcp]` table, or null when there is none; its problems go to `issue`. */
function mcpSpec(
  raw: { command?: string; args: string[]; url?: string; secret?: string; timeout_s: number } | undefined,
  hasTools: boolean,
  issue: IssueFn,
): McpSpec | null {
  if (raw === undefined) {
    if (!hasTools) {
      issue(
        "ERR_MISSING_KEY",
        "The plugin has neither [[tools]] nor [mcp]",
        "declare its tools in [[tools]] " +
          "tables and write mod.ts, or name an MCP server in [mcp]",
        [],
      );
    }
    return null;
  }
  if (hasTools) {
    issue(
      "ERR_PLUGIN_MCP",
      "An [mcp] plugin declares [[tools]]",
      "remove the [[tools]] tables: an MCP " +
        "plugin's tools are the ones its server lists",
      ["tools"],
    );
  }
  const { command, url, secret } = raw;
  if (command !== undefined && url !== undefined) {
    issue(
      "ERR_PLUGIN_MCP",
      "[mcp] has both command and url",
      "keep command for a local server, or url for " +
        "a remote one",
      ["mcp", "url"],
    );
  } else if (command === undefined && url === undefined) {
    issue(
      "ERR_PLUGIN_MCP",
      "[mcp] has neither command nor url",
      'add command = "npm:<package>@<version>", ' +
        'or url = "https://..."',
      ["mcp"],
    );
  }
  if (url !== undefined) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch { /* below */ }
    if (parsed === null || parsed.username || parsed.password || parsed.hash) {
      issue(
        "ERR_PLUGIN_MCP",
        `"${url}" is not a URL an MCP server can be reached at`,
        "write the server's endpoint, such as " +
          '"https://mcp.example.com/mcp", without credentials or a fragment (credentials go in [mcp] secret)',
        ["mcp", "url"],
      );
    } else if (parsed.protocol === "http:" && !isLoopbackHost(parsed.hostname)) {
      issue(
        "ERR_PLUGIN_MCP",
        `The MCP server "${url}" is plain http`,
        "use https (http is allowed only to a loopback address)",
        ["mcp", "url"],
      );
    }
  }
  if (command !== undefined) {
    if (command.startsWith("npm:") && !PINNED_NPM.test(command)) {
      const bare = command.replace(/@[^@/]*$/, "");
      issue(
        "ERR_PLUGIN_MCP",
        `The MCP server "${command}" is not pinned to an exact version`,
        `write ` +
          `"${command.startsWith("npm:@") && !command.slice(5).includes("@") ? command : bare}@<x.y.z>" ` +
          "(npm view <package> version tells the latest): a server that changes under the plugin is refused",
        [
          "mcp",
          "command",
        ],
      );
    } else if (
      !command.startsWith("npm:") && (/^[a-z][a-z0-9+.-]*:/i.test(command) || posix.isAbsolute(command) ||
        posix.normalize(command).startsWith(".."))
    ) {
      issue(
        "ERR_PLUGIN_MCP",
        `The MCP server "${command}" is neither an npm package nor a file of the plugin`,
        'use "npm:<package>@<x.y.z>", or a path inside the plugin folder such as "server.ts"',
        ["mcp", "command"],
      );
    }
    if (secret !== undefined) {
      issue("ERR_PLUGIN_MCP", "[mcp] secret is for a remote server (url)", "remove secret, or use url", [
        "mcp",
        "secret",
      ]);
    }
  }
  return {
    command: command ?? null,
    args: raw.args ?? [],
    url: url ?? null,
    secret: secret ?? null,
    timeoutS: raw.timeout_s ?? 30,
  };
}
