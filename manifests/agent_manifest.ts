/**
 * The agent manifest (`agent.toml`): its schema, its types and its parser.
 *
 * @module
 */

import { posix } from "node:path";
import type { Issue, SourcePos } from "./errors.ts";
import { readDocument } from "./document.ts";
import type { ArrayNode, IntegerNode, StringNode, TableNode } from "./schema.ts";

const NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,62}$";

const pathList = (description: string): ArrayNode => ({
  type: "array",
  description,
  maxItems: 64,
  uniqueItems: true,
  default: [],
  items: {
    type: "string",
    /** One sentence on what it does. */
    description: "A folder or file, relative to the manifest's folder or absolute",
    minLength: 1,
    examples: ["notes"],
  },
});

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** The values of `[agent] task`: whether a run needs a task, may have one, or takes none. */
const TASK_MODES: readonly ManifestAgent["task"][] = ["required", "optional", "none"];

const limit = (description: string, maximum: number, fallback: number): IntegerNode => ({
  type: "integer",
  description,
  minimum: 1,
  maximum,
  default: fallback,
});

const nameList = (description: string, item: StringNode, maxItems = 64): ArrayNode => ({
  type: "array",
  description,
  maxItems,
  uniqueItems: true,
  default: [],
  items: item,
});

/** Default limits of an agent that sets none, under the runtime's ceilings. */
export const DEFAULT_LIMITS: Readonly<ManifestLimits> = Object.freeze({
  /** Memory of the sandbox, in MiB. */
  memory_mb: 128,
  /** Wall time of a run, in seconds. */
  timeout_s: 60,
  /** Most loop steps. */
  max_steps: 20,
  /** Most gate calls. */
  max_tool_calls: 100,
  /** Most output, in KiB. */
  max_output_kb: 1024,
  step_timeout_s: 10,
  /** Starts again of a queued run whose worker died. */
  retries: 0,
});

/** The schema of `agent.toml`: the one source of the parser and of `agent.schema.json`. */
export const AGENT_SCHEMA: TableNode = {
  type: "table",
  /** One sentence on what it does. */
  description: "An IronClaw agent manifest: what the agent is and exactly what it may touch",
  required: ["agent"],
  fields: {
    /** `[agent]`. */
    agent: {
      type: "table",
      description: "Who the agent is and how it runs",
      required: ["name", "kind"],
      rules: [
        { when: { key: "kind", equals: "wasm" }, require: ["module"], forbid: ["language", "instructions"] },
        { when: { key: "kind", equals: "react" }, require: ["instructions"], forbid: ["module", "language"] },
        { when: { key: "kind", equals: "codeact" }, require: ["instructions"], forbid: ["module"] },
      ],
      fields: {
        name: {
          type: "string",
          description:
            "Lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters",
          pattern: NAME_PATTERN,
          patternHint: 'use lowercase letters, digits and "-", for example "notes-summarizer"',
          examples: ["notes-summarizer"],
        },
        version: {
          type: "string",
          description: "The agent's version, semver",
          pattern: "^\\d+\\.\\d+\\.\\d+(?:[-+][0-9A-Za-z.-]+)?$",
          patternHint: 'write a semantic version such as "0.1.0"',
          default: "0.0.0",
          examples: ["0.1.0"],
        },
        description: {
          type: "string",
          description: "One sentence on what the agent does",
          maxLength: 1024,
          default: "",
        },
        kind: {
          type: "string",
          description:
            "wasm: your own WebAssembly; react: built-in tool-calling loop; codeact: built-in code-writing loop",
          enum: ["wasm", "react", "codeact"],
        },
        module: {
          type: "string",
          description:
            "kind = wasm: a WebAssembly component or WASI preview1 module, relative to the manifest",
          minLength: 1,
          examples: ["agent.wasm"],
        },
        language: {
          type: "string",
          description: "kind = codeact: the language the model writes",
          enum: ["javascript", "python"],
        },
        instructions: {
          type: "string",
          description: "kind = react or codeact: the system prompt",
          maxLength: 65536,
          minLength: 1,
          examples: ["You summarize notes."],
        },
        task: {
          type: "string",
          description:
            "Whether the agent takes a task: required (ironclaw run needs --task), optional, or none (--task is refused)",
          enum: TASK_MODES,
          default: "required",
        },
      },
    },
    /** `[model]`, absent when the agent has no model access. */
    model: {
      type: "table",
      description: "Model access, brokered by the supervisor; without this table the agent has none",
      required: ["provider", "name"],
      fields: {
        provider: {
          type: "string",
          description: "A provider named in the runtime config's [providers] tables",
          pattern: "^[A-Za-z0-9_-]{1,64}$",
          patternHint: "write the name of a [providers.NAME] table of the runtime config",
          examples: ["ollama"],
        },
        name: {
          type: "string",
          description: "The model's name at the provider",
          minLength: 1,
          maxLength: 256,
          examples: ["qwen2.5:7b"],
        },
        max_calls: limit("Most model calls in one run", 100000, 20),
        max_tokens: limit("Most tokens (prompt and completion) in one run", 100_000_000, 100000),
      },
    },
    /** `[capabilities.*]`, each table filled with empty grants when absent. */
    capabilities: {
      type: "table",
      description: "What the agent may touch; nothing is granted by default",
      implicit: true,
      fields: {
        fs: {
          type: "table",
          description: "File system scope",
          implicit: true,
          fields: {
            read: pathList("Folders or files the agent may read"),
            write: pathList("Folders or files the agent may create, change and delete"),
            hardlinks: {
              type: "boolean",
              description:
                "Unsafe: let fs.read and fs.write use files with more than one hard link, which may be the same file as one outside the grants",
              default: false,
            },
          },
        },
        net: {
          type: "table",
          description: "Network egress",
          implicit: true,
          fields: {
            allow: {
              type: "array",
              description: "Hosts, host:port, URL prefixes, or inline tables that add methods",
              maxItems: 64,
              uniqueItems: true,
              default: [],
              items: {
                type: "union",
                description:
                  'write "host", "host:port", "https://host/path/", or { url = "...", methods = ["GET"] }',
                variants: [
                  {
                    type: "string",
                    description: "host, host:port or URL prefix",
                    minLength: 1,
                    maxLength: 2048,
                    examples: ["api.github.com"],
                  },
                  {
                    type: "table",
                    description: "A host or URL prefix with the methods allowed on it",
                    fields: {
                      url: {
                        type: "string",
                        description: "URL prefix",
                        minLength: 1,
                        maxLength: 2048,
                        examples: ["https://api.example.com/v1/"],
                      },
                      host: {
                        type: "string",
                        description: "host or host:port",
                        minLength: 1,
                        maxLength: 300,
                        examples: ["api.example.com"],
                      },
                      methods: nameList("HTTP methods allowed; absent means all", {
                        type: "string",
                        description: "An HTTP method",
                        enum: METHODS,
                      }, METHODS.length),
                    },
                  },
                ],
              },
            },
          },
        },
        run: {
          type: "table",
          description: "Subprocesses. Deno does not confine child processes: this is an escape hatch",
          implicit: true,
          fields: {
            dangerous: {
              type: "boolean",
              description:
                "Must be true for any subprocess: you accept that programs run outside the sandbox",
              default: false,
            },
            allow_interpreters: {
              type: "boolean",
              description:
                "Second opt-in for shells, deno and language interpreters, which run arbitrary code",
              default: false,
            },
            allow: nameList("Programs the agent may run, by name or absolute path", {
              type: "string",
              description: "A program name or absolute path, no arguments",
              pattern: "^(?:/[^\\s]*[^\\s/]|[A-Za-z0-9._+-]+)$",
              patternHint: 'write a program name such as "git" or an absolute path, without arguments',
              examples: ["git"],
            }),
          },
        },
        env: {
          type: "table",
          description: "Environment variables the agent may read",
          implicit: true,
          fields: {
            allow: nameList("Variable names; a trailing * grants a prefix", {
              type: "string",
              description: "A variable name, or a prefix ending in *",
              pattern: "^[A-Za-z_][A-Za-z0-9_]*\\*?$",
              patternHint: 'write a variable name such as "TZ", or a prefix such as "APP_*"',
              examples: ["TZ"],
            }),
          },
        },
        secrets: {
          type: "table",
          description:
            "Secrets defined in the runtime config, injected at egress to their hosts, never shown to the agent",
          implicit: true,
          fields: {
            use: nameList("Names of [secrets.NAME] tables of the runtime config", {
              type: "string",
              description: "A secret's name",
              pattern: "^[A-Za-z0-9_-]{1,64}$",
              patternHint: "write the name of a [secrets.NAME] table of the runtime config",
              examples: ["github"],
            }),
          },
        },
      },
    },
    /** `[plugins]`. */
    plugins: {
      type: "table",
      description: "Plugins from the plugin directory whose tools the agent may call",
      implicit: true,
      fields: {
        use: nameList("Plugin names", {
          type: "string",
          description: "A plugin's name",
          pattern: NAME_PATTERN,
          patternHint: "write a plugin's name as `ironclaw plugins list` shows it",
          examples: ["calculator"],
        }),
      },
    },
    /** `[approvals]`. */
    approvals: {
      type: "table",
      description:
        "Gate calls that wait for a person's decision (ironclaw approvals, or the prompt of ironclaw run), after their grants allowed them",
      implicit: true,
      fields: {
        require: nameList("Ops that need approval, or http.fetch:METHOD for one method of http.fetch", {
          type: "string",
          description: "A gate op such as fs.write, or http.fetch:POST",
          pattern: "^[a-z]+\\.[a-z_]+(?::[A-Za-z]+)?$",
          patternHint: 'write an op such as "fs.write", or "http.fetch:POST"',
          examples: ["fs.write"],
        }, 16),
        timeout_s: limit(
          "How long a call waits for a decision, in seconds; no decision by then is a denial",
          86400,
          300,
        ),
      },
    },
    /** `[limits]`, defaults filled in. */
    limits: {
      type: "table",
      description: "Resource limits of one run; each is capped by the runtime config's [limits]",
      implicit: true,
      fields: {
        memory_mb: limit(
          "Memory of the sandbox: JS heap and WebAssembly memory, in MiB",
          65536,
          DEFAULT_LIMITS.memory_mb,
        ),
        timeout_s: limit("Wall time of one run, in seconds", 86400, DEFAULT_LIMITS.timeout_s),
        max_steps: limit("Most loop steps of a react or codeact agent", 100000, DEFAULT_LIMITS.max_steps),
        max_tool_calls: limit(
          "Most gate calls (tools and actions) in one run",
          1000000,
          DEFAULT_LIMITS.max_tool_calls,
        ),
        max_output_kb: limit(
          "Most output the agent may produce, in KiB",
          1048576,
          DEFAULT_LIMITS.max_output_kb,
        ),
        step_timeout_s: limit(
          "Longest one step of a codeact agent's code may run, in seconds (at most timeout_s)",
          3600,
          DEFAULT_LIMITS.step_timeout_s,
        ),
        retries: {
          type: "integer",
          description:
            "How many times a queued run (ironclaw submit) is started again when its worker dies, as long as it made no allowed side effect (a write, a fetch, a program, a plugin tool)",
          minimum: 0,
          maximum: 10,
          default: DEFAULT_LIMITS.retries,
        },
      },
    },
  },
};

/** `[agent]` of a manifest. */
export interface ManifestAgent {
  /** The agent's name: lowercase letters, digits and '-'. */
  name: string;
  /** The agent's version, semver. */
  version: string;
  /** One sentence on what it does. */
  description: string;
  /** How it runs: its own WebAssembly, or a built-in loop. */
  kind: "wasm" | "react" | "codeact";
  /** kind = "wasm": the module, as written (relative to the manifest). */
  module?: string;
  /** kind = "codeact": the language the model writes. */
  language?: "javascript" | "python";
  /** kind = "react" | "codeact": the system prompt. */
  instructions?: string;
  /** Whether a run needs a task (`--task`), may have one, or takes none. */
  task: "required" | "optional" | "none";
}

/** `[model]` of a manifest. */
export interface ManifestModel {
  /** A `[providers.NAME]` of the runtime config. */
  provider: string;
  /** The agent's name: lowercase letters, digits and '-'. */
  name: string;
  /** Most model calls in one run. */
  max_calls: number;
  /** Most tokens in one run. */
  max_tokens: number;
}

/** One entry of `[capabilities.net] allow`. */
export type NetEntry = string | { url?: string; host?: string; methods?: string[] };

/** `[limits]` of a manifest. */
export interface ManifestLimits {
  /** Memory of the sandbox, in MiB. */
  memory_mb: number;
  /** Wall time of a run, in seconds. */
  timeout_s: number;
  /** Most loop steps. */
  max_steps: number;
  /** Most gate calls. */
  max_tool_calls: number;
  /** Most output, in KiB. */
  max_output_kb: number;
  /** Longest one code step may run, in seconds. */
  step_timeout_s: number;
  /** Starts again of a queued run whose worker died before any side effect. */
  retries: number;
}

/** A checked agent manifest, keys as in the file, defaults filled in, paths not yet resolved. */
export interface Manifest {
  /** The manifest's file, as given. */
  file: string;
  /** The folder relative paths resolve against. */
  dir: string;
  /** `[agent]`. */
  agent: ManifestAgent;
  /** `[model]`, absent when the agent has no model access. */
  model?: ManifestModel;
  /** `[capabilities.*]`, each table filled with empty grants when absent. */
  capabilities: {
    fs: { read: string[]; write: string[]; hardlinks: boolean };
    net: { allow: NetEntry[] };
    run: { dangerous: boolean; allow_interpreters: boolean; allow: string[] };
    env: { allow: string[] };
    secrets: { use: string[] };
  };
  /** `[plugins]`. */
  plugins: { use: string[] };
  /** `[approvals]`: ops (or `http.fetch:METHOD`) that wait for a person, and how long. */
  approvals: { require: string[]; timeout_s: number };
  /** `[limits]`, defaults filled in. */
  limits: ManifestLimits;
  /** Where a key path (such as `capabilities.fs.read[0]`) sits in the file. */
  at(path: readonly (string | number)[]): SourcePos;
  /** Whether the file wrote a key path, as opposed to a default filling it in. */
  has(path: readonly (string | number)[]): boolean;
}

/** Options of {@linkcode parseManifest}. */
export interface ParseManifestOptions {
  /** The manifest's path, used in errors and to resolve relative paths: give it absolute. Default `/agent.toml`. */
  path?: string;
  /**
   * Collect schema problems here and return the valid part of the manifest
   * (invalid values left out or at their defaults) instead of throwing, so
   * later checks can report their problems too. Syntax errors still throw.
   */
  collect?: Issue[];
}

/**
 * Parses and checks the text of an `agent.toml`. Pure: no file is read.
 *
 * @param text The TOML text.
 * @param options Where the text came from.
 * @returns The manifest with defaults filled in.
 * @throws {InvalidDocumentError} With every problem found, each with file, line, column and key.
 * @example
 * ```ts
 * import { parseManifest } from "./agent_manifest.ts";
 * const m = parseManifest(`[agent]\nname = "hi"\nkind = "wasm"\nmodule = "hi.wasm"\n`, { path: "/srv/hi/agent.toml" });
 * if (m.dir !== "/srv/hi" || m.limits.timeout_s !== 60) throw new Error("unexpected");
 * ```
 */
export function parseManifest(text: string, options: ParseManifestOptions = {}): Manifest {
  const file = options.path ?? "/agent.toml";
  const doc = readDocument<Omit<Manifest, "file" | "dir" | "at" | "has">>({ text, file }, AGENT_SCHEMA);
  const net = doc.value?.capabilities?.net?.allow ?? [];
  net.forEach((entry, n) => {
    if (typeof entry !== "object" || entry === null) return;
    const has = Number(entry.url !== undefined) + Number(entry.host !== undefined);
    if (has !== 1) {
      doc.issue(
        has === 0 ? "ERR_MISSING_KEY" : "ERR_CONFLICT",
        has === 0 ? 'The entry needs "url" or "host"' : 'The entry has both "url" and "host"',
        'write { url = "https://host/path/", methods = [...] } or { host = "host", methods = [...] }',
        ["capabilities", "net", "allow", n],
      );
    }
  });
  if (options.collect) options.collect.push(...doc.issues);
  else doc.finish();
  return { ...doc.value, file, dir: posix.dirname(posix.normalize(file)), at: doc.at, has: doc.has };
}
