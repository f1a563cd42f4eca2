/**
 * The runtime configuration (`ironclaw.toml`): where state and plugins live,
 * logging, the ceilings on every agent's limits, model providers and secrets.
 *
 * @module
 */

import { posix } from "node:path";
import type { SourcePos } from "./errors.ts";
import { readDocument } from "./document.ts";
import type { IntegerNode, TableNode } from "./schema.ts";

const ceiling = (description: string, maximum: number, fallback: number): IntegerNode => ({
  /** The wire protocol. */
  type: "integer",
  description,
  minimum: 1,
  maximum,
  default: fallback,
});

/** Ceilings on every agent's `[limits]` (and `[model]` budgets) when the config sets none. */
export const DEFAULT_CEILINGS: Readonly<RuntimeCeilings> = Object.freeze({
  /** Most memory an agent may ask for, in MiB. */
  memory_mb: 1024,
  /** Longest wall time, in seconds. */
  timeout_s: 600,
  /** Most loop steps. */
  max_steps: 200,
  /** Most gate calls. */
  max_tool_calls: 10000,
  /** Most output, in KiB. */
  max_output_kb: 16384,
  /** Most model calls. */
  max_model_calls: 1000,
  /** Most model tokens. */
  max_model_tokens: 10_000_000,
});

/** The schema of `ironclaw.toml`. */
export const CONFIG_SCHEMA: TableNode = {
  /** The wire protocol. */
  type: "table",
  description: "IronClaw runtime configuration",
  fields: {
    /** `[runtime]`, paths absolute. */
    runtime: {
      type: "table",
      description: "Where the runtime keeps its things",
      implicit: true,
      fields: {
        plugins_dir: {
          type: "string",
          description: "Folder of plugins, relative to this file",
          minLength: 1,
          default: "plugins",
        },
        state_dir: {
          type: "string",
          description:
            "Folder of run records and caches, relative to this file; default $XDG_STATE_HOME/ironclaw, else ~/.local/state/ironclaw",
          minLength: 1,
          examples: [".ironclaw"],
        },
        sandbox: {
          type: "string",
          description:
            "How the sandbox's second wall is built: a child process with Deno flags, or a Worker with Deno permissions inside a child; a compiled binary always uses worker",
          enum: ["process", "worker"],
          default: "process",
        },
        name_server: {
          type: "string",
          description:
            "The name server that resolves the hosts agents are granted (an IP address, and a port, default 53); default the system's",
          pattern: "^(?:[0-9]{1,3}(?:\\.[0-9]{1,3}){3}|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$",
          patternHint: 'write an IP address and a port, as "127.0.0.1:5353" or "[::1]:53"',
          examples: ["127.0.0.1:5353"],
        },
      },
    },
    /** `[store]`. */
    store: {
      type: "table",
      description: "Where runs, events, the queue and plugin state are kept",
      implicit: true,
      fields: {
        url: {
          type: "string",
          description:
            "A PostgreSQL URL, for a store shared by many machines (workers); default the SQLite file <state_dir>/ironclaw.db. Leave the password out: set PGPASSWORD, or use ~/.pgpass",
          pattern: "^postgres(?:ql)?://",
          patternHint: 'write a URL such as "postgres://ironclaw@db.internal:5432/ironclaw"',
          examples: ["postgres://ironclaw@127.0.0.1:5432/ironclaw"],
        },
      },
    },
    /** `[serve]`. */
    serve: {
      type: "table",
      description: "The HTTP API of ironclaw serve; its command-line flags override these",
      implicit: true,
      fields: {
        host: {
          type: "string",
          description:
            "The address to listen on; a non-loopback one exposes the API to the network (behind TLS, with care)",
          minLength: 1,
          default: "127.0.0.1",
        },
        port: {
          type: "integer",
          description: "The TCP port to listen on (0: any free port)",
          minimum: 0,
          maximum: 65535,
          default: 7341,
        },
        agents: {
          type: "string",
          description:
            "The folder of the served agents' manifests (NAME.toml, NAME/agent.toml), relative to this file",
          minLength: 1,
          examples: ["agents"],
        },
        concurrency: {
          type: "integer",
          description: "How many runs at once; more wait queued; default twice the number of cores",
          minimum: 1,
          maximum: 1024,
        },
        pool: {
          type: "integer",
          description:
            "Sandboxes kept started per served agent, with its flags, its code loaded and its module's realm made, waiting for a task; a taken one is replaced in the background (0: none)",
          minimum: 0,
          maximum: 64,
          default: 0,
        },
      },
    },
    /** `[log]`. */
    log: {
      type: "table",
      description: "Diagnostics of the runtime itself",
      implicit: true,
      fields: {
        level: {
          type: "string",
          description: "Least severe level written",
          enum: ["trace", "debug", "info", "warning", "error", "fatal"],
          default: "warning",
        },
        format: {
          type: "string",
          description: "pretty for people, json for machines",
          enum: ["pretty", "json"],
          default: "pretty",
        },
        file: {
          type: "string",
          description: "Write logs to this file instead of standard error",
          minLength: 1,
          examples: ["ironclaw.log"],
        },
      },
    },
    /** `[limits]`: the ceilings. */
    limits: {
      type: "table",
      description: "Ceilings: a manifest asking for more is refused",
      implicit: true,
      fields: {
        memory_mb: ceiling("Most memory an agent may ask for, in MiB", 65536, DEFAULT_CEILINGS.memory_mb),
        timeout_s: ceiling(
          "Longest wall time an agent may ask for, in seconds",
          86400,
          DEFAULT_CEILINGS.timeout_s,
        ),
        max_steps: ceiling("Most loop steps an agent may ask for", 100000, DEFAULT_CEILINGS.max_steps),
        max_tool_calls: ceiling(
          "Most gate calls an agent may ask for",
          1000000,
          DEFAULT_CEILINGS.max_tool_calls,
        ),
        max_output_kb: ceiling(
          "Most output an agent may ask for, in KiB",
          1048576,
          DEFAULT_CEILINGS.max_output_kb,
        ),
        max_model_calls: ceiling(
          "Most model calls an agent may ask for",
          100000,
          DEFAULT_CEILINGS.max_model_calls,
        ),
        max_model_tokens: ceiling(
          "Most model tokens an agent may ask for",
          100_000_000,
          DEFAULT_CEILINGS.max_model_tokens,
        ),
      },
    },
    /** `[providers.NAME]`, added to the built-in `openai`, `anthropic` and `ollama` (a same name replaces one). */
    providers: {
      type: "map",
      description:
        "Model providers by name, added to the built-in openai, anthropic and ollama; a table of the same name replaces the built-in one",
      keyPattern: "^[A-Za-z0-9_-]{1,64}$",
      keyHint: 'name providers with letters, digits, "_" and "-"',
      maxEntries: 64,
      values: {
        type: "table",
        description: "One model provider",
        required: ["type"],
        rules: [{
          when: { key: "type", equals: "scripted" },
          require: ["transcript"],
          forbid: ["api_key_env"],
        }],
        fields: {
          type: {
            type: "string",
            description: "The wire protocol",
            enum: ["openai", "ollama", "anthropic", "scripted"],
          },
          base_url: {
            type: "string",
            description: "The API's base URL",
            pattern: "^https?://[^\\s]+$",
            patternHint: 'write an http or https URL such as "http://127.0.0.1:11434"',
            examples: ["http://127.0.0.1:11434"],
          },
          api_key_env: {
            type: "string",
            description: "The environment variable the supervisor reads the API key from",
            pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
            patternHint: 'write a variable name such as "OPENAI_API_KEY"',
            examples: ["OPENAI_API_KEY"],
          },
          transcript: {
            type: "string",
            description: "type = scripted: the transcript file to replay, relative to this file",
            minLength: 1,
            examples: ["transcript.json"],
          },
          timeout_s: ceiling("Timeout of one model call, in seconds", 3600, 120),
        },
      },
    },
    /** `[telemetry]`: where runs are exported as OpenTelemetry traces and metrics; absent, nothing is sent. */
    telemetry: {
      type: "table",
      description:
        "OpenTelemetry export of runs, gate calls and model calls over OTLP/HTTP (JSON); without this table nothing is sent",
      required: ["otlp_endpoint"],
      fields: {
        otlp_endpoint: {
          type: "string",
          description:
            "The OTLP/HTTP receiver's base URL: traces go to <endpoint>/v1/traces, metrics to <endpoint>/v1/metrics",
          pattern: "^https?://[^\\s/?#@]+(?:/[^\\s?#]*)?$",
          patternHint:
            'write an http or https URL without query or credentials, such as "http://127.0.0.1:4318"',
          maxLength: 2048,
          examples: ["http://127.0.0.1:4318"],
        },
        service_name: {
          type: "string",
          description: "The service.name resource attribute of everything exported",
          minLength: 1,
          maxLength: 256,
          default: "ironclaw",
        },
        timeout_s: ceiling(
          "How long one export may take, in seconds; then it is given up (with a warning)",
          60,
          5,
        ),
        headers: {
          type: "map",
          description:
            'Request headers of every export, such as an API key: a literal value, or { env = "NAME" } to read it from the supervisor\'s environment',
          keyPattern: "^[A-Za-z0-9-]{1,64}$",
          keyHint: 'write a header name such as "Authorization"',
          maxEntries: 32,
          values: {
            type: "union",
            description: 'write "value" or { env = "VARIABLE" }',
            variants: [
              {
                type: "string",
                description: "The header's value",
                maxLength: 4096,
                examples: ["Bearer t0ken"],
              },
              {
                type: "table",
                description: "The header's value read from an environment variable of the supervisor",
                required: ["env"],
                fields: {
                  env: {
                    type: "string",
                    description: "The variable holding the value",
                    pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
                    patternHint: 'write a variable name such as "OTLP_TOKEN"',
                    examples: ["OTLP_TOKEN"],
                  },
                  format: {
                    type: "string",
                    description: "The header's value, with {value} where the variable's value goes",
                    pattern: "\\{value\\}",
                    patternHint: 'put {value} where the value goes, for example "Bearer {value}"',
                    default: "{value}",
                  },
                },
              },
            ],
          },
        },
      },
    },
    /** `[secrets.NAME]`. */
    plugins: {
      type: "map",
      description: "Settings of plugins by name: values for the config keys their plugin.toml declares",
      keyPattern: "^[a-z0-9][a-z0-9-]{0,62}$",
      keyHint: "write a plugin's name as `ironclaw plugins list` shows it",
      maxEntries: 64,
      values: {
        type: "map",
        description: "Config values of one plugin",
        keyPattern: "^[a-z][a-z0-9_]{0,63}$",
        keyHint: 'config keys are lowercase letters, digits and "_"',
        maxEntries: 64,
        values: { type: "any", description: "A value" },
      },
    },
    secrets: {
      type: "map",
      description: "Secrets by name, each bound to the hosts it may be sent to",
      keyPattern: "^[A-Za-z0-9_-]{1,64}$",
      keyHint: 'name secrets with letters, digits, "_" and "-"',
      maxEntries: 64,
      values: {
        type: "table",
        description: "One secret",
        required: ["hosts"],
        fields: {
          env: {
            type: "string",
            description: "Read the secret from this environment variable of the supervisor",
            pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
            patternHint: 'write a variable name such as "GITHUB_TOKEN"',
            examples: ["GITHUB_TOKEN"],
          },
          file: {
            type: "string",
            description: "Or read it from this file, relative to this config",
            minLength: 1,
            examples: ["secrets/github"],
          },
          hosts: {
            type: "array",
            description: "Hosts the secret is sent to; nowhere else",
            maxItems: 64,
            uniqueItems: true,
            items: {
              type: "string",
              description: "A host name",
              pattern: "^[a-z0-9.-]+(?::\\d{1,5})?$",
              patternHint: 'write a lowercase host name such as "api.github.com"',
              examples: ["api.github.com"],
            },
          },
          header: {
            type: "string",
            description: "The request header that carries it",
            pattern: "^[A-Za-z0-9-]{1,64}$",
            patternHint: 'write a header name such as "Authorization"',
            default: "Authorization",
          },
          format: {
            type: "string",
            description: "The header's value, with {value} where the secret goes",
            pattern: "\\{value\\}",
            patternHint: 'put {value} where the secret goes, for example "Bearer {value}"',
            default: "Bearer {value}",
          },
        },
      },
    },
  },
};

/** `[runtime.limits]`: the ceilings on agents' limits. */
export interface RuntimeCeilings {
  /** Most memory an agent may ask for, in MiB. */
  memory_mb: number;
  /** Longest wall time, in seconds. */
  timeout_s: number;
  /** Most loop steps. */
  max_steps: number;
  /** Most gate calls. */
  max_tool_calls: number;
  /** Most output, in KiB. */
  max_output_kb: number;
  /** Most model calls. */
  max_model_calls: number;
  /** Most model tokens. */
  max_model_tokens: number;
}

/** One `[providers.NAME]` table. */
export interface ProviderConfig {
  /** The wire protocol. */
  type: "openai" | "ollama" | "anthropic" | "scripted";
  /** The API's base URL. */
  base_url?: string;
  /** The variable the supervisor reads the API key from. */
  api_key_env?: string;
  /** type = "scripted": the transcript to replay, absolute. */
  transcript?: string;
  /** Longest wall time, in seconds. */
  timeout_s: number;
}

/** One `[secrets.NAME]` table. */
export interface SecretConfig {
  /** The supervisor's variable holding the secret. */
  env?: string;
  /** Or the file holding it, absolute. */
  file?: string;
  /** The only hosts it is sent to. */
  hosts: string[];
  /** The request header that carries it. */
  header: string;
  /** The header's value, with `{value}` where the secret goes. */
  format: string;
}

/** A header of `[telemetry] headers`: a literal value, or one read from the supervisor's environment. */
export type TelemetryHeader = string | {
  /** The variable holding the value. */
  env: string;
  /** The header's value, with `{value}` where the variable's value goes. */
  format: string;
};

/** `[telemetry]`: the OTLP/HTTP export of runs. */
export interface TelemetryConfig {
  /** The receiver's base URL, without a trailing slash: signals go to `/v1/traces` and `/v1/metrics` under it. */
  otlp_endpoint: string;
  /** The `service.name` resource attribute. */
  service_name: string;
  /** How long one export may take, in seconds. */
  timeout_s: number;
  /** Request headers of every export, by name. */
  headers: Record<string, TelemetryHeader>;
}

/** A name server, as `Deno.resolveDns` takes it. */
export interface NameServer {
  /** Its IP address (IPv6 without brackets). */
  ipAddr: string;
  /** Its port. */
  port: number;
}

/**
 * Reads `[runtime] name_server`: an IPv4 address or a bracketed IPv6 address, and an optional port (default 53).
 *
 * @param text The value as written.
 * @returns The name server, or null when it is not one.
 * @example
 * ```ts
 * import { parseNameServer } from "./runtime_config.ts";
 * if (parseNameServer("127.0.0.1:5353")?.port !== 5353 || parseNameServer("[::1]")?.ipAddr !== "::1") throw new Error();
 * if (parseNameServer("300.0.0.1") !== null || parseNameServer("dns.example:53") !== null) throw new Error();
 * ```
 */
export function parseNameServer(text: string): NameServer | null {
  const m = text.match(/^(?:([0-9.]+)|\[([0-9a-fA-F:.]+)\])(?::([0-9]{1,5}))?$/);
  if (!m) return null;
  const port = m[3] === undefined ? 53 : Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) {
    const parts = m[1].split(".");
    const ok = parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
    return ok ? { ipAddr: m[1], port } : null;
  }
  return m[2]!.includes(":") ? { ipAddr: m[2]!.toLowerCase(), port } : null;
}

/** A checked runtime configuration with defaults filled in and paths resolved. */
export interface RuntimeConfig {
  /** The file it came from, or `(defaults)`. */
  file: string;
  /** `[runtime]`, paths absolute. */
  runtime: {
    /** The folder of plugins. */
    plugins_dir: string;
    /** The folder of run records and caches. */
    state_dir: string;
    /** How the sandbox's second wall is built: Deno flags of a child process, or a Worker's permissions. */
    sandbox: "process" | "worker";
    /** The name server that resolves granted host names, or null for the system's. */
    name_server: NameServer | null;
  };
  /** `[store]`. */
  store: {
    /** The PostgreSQL URL, or null for the SQLite store of the state folder. */
    url: string | null;
  };
  /** `[serve]`: the HTTP API of `ironclaw serve`. */
  serve: {
    /** The address to listen on. */
    host: string;
    /** The TCP port (0: any free port). */
    port: number;
    /** The agents folder, absolute, or null when the config names none. */
    agents: string | null;
    /** How many runs at once, or null for twice the number of cores. */
    concurrency: number | null;
    /** Sandboxes kept warm per served agent (0: none). */
    pool: number;
  };
  /** `[log]`. */
  log: {
    level: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
    /** The header's value, with `{value}` where the secret goes. */
    format: "pretty" | "json";
    /** Or the file holding it, absolute. */
    file?: string;
  };
  /** `[limits]`: the ceilings. */
  limits: RuntimeCeilings;
  /** `[providers.NAME]`, the built-in {@linkcode DEFAULT_PROVIDERS} included unless redefined. */
  providers: Record<string, ProviderConfig>;
  /** `[plugins.NAME]`: config values for plugins. */
  plugins: Record<string, Record<string, unknown>>;
  /** `[secrets.NAME]`. */
  secrets: Record<string, SecretConfig>;
  /** `[telemetry]`, or null when the config has none: then nothing is exported. */
  telemetry: TelemetryConfig | null;
  /** Where a key path sits in the file. */
  at(path: readonly (string | number)[]): SourcePos;
}

/** Providers every config has unless it redefines them (a `[providers.NAME]` of the same name replaces one). */
export const DEFAULT_PROVIDERS: Readonly<Record<string, Readonly<ProviderConfig>>> = Object.freeze({
  /** OpenAI's API, its key in `OPENAI_API_KEY`. */
  openai: Object.freeze({
    type: "openai",
    base_url: "https://api.openai.com/v1",
    api_key_env: "OPENAI_API_KEY",
    timeout_s: 120,
  }),
  /** Anthropic's API, its key in `ANTHROPIC_API_KEY`. */
  anthropic: Object.freeze({
    type: "anthropic",
    base_url: "https://api.anthropic.com",
    api_key_env: "ANTHROPIC_API_KEY",
    timeout_s: 120,
  }),
  /** Ollama on this machine, no key. */
  ollama: Object.freeze({ type: "ollama", base_url: "http://127.0.0.1:11434", timeout_s: 120 }),
});

/** Options of {@linkcode parseRuntimeConfig}. */
export interface ParseRuntimeConfigOptions {
  /** The config's absolute path: errors name it and relative paths resolve against its folder. */
  path: string;
  /**
   * The absolute state folder when the text sets no `[runtime] state_dir`:
   * the caller finds the per-user one (see `defaultStateDir` of `runtime/load.ts`).
   * Default `.ironclaw` in the config's folder.
   */
  stateDir?: string;
}

/**
 * Parses and checks an `ironclaw.toml`. Pure: no file is read.
 *
 * @param text The TOML text.
 * @param options Where the text came from.
 * @returns The configuration with defaults filled in and paths made absolute.
 * @throws {InvalidDocumentError} With every problem found.
 * @example
 * ```ts
 * import { parseRuntimeConfig } from "./runtime_config.ts";
 * const c = parseRuntimeConfig(`[log]\nformat = "json"\n`, {
 *   path: "/srv/ironclaw.toml",
 *   stateDir: "/home/ada/.local/state/ironclaw",
 * });
 * if (c.runtime.state_dir !== "/home/ada/.local/state/ironclaw" || c.log.format !== "json") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function parseRuntimeConfig(text: string, options: ParseRuntimeConfigOptions): RuntimeConfig {
  const doc = readDocument<
    Omit<RuntimeConfig, "file" | "at" | "runtime" | "store" | "serve" | "telemetry"> & {
      telemetry?: Omit<TelemetryConfig, "headers"> & { headers?: Record<string, TelemetryHeader> };
      store: { url?: string };
      serve: { host: string; port: number; agents?: string; concurrency?: number; pool: number };
      runtime: Omit<RuntimeConfig["runtime"], "state_dir" | "name_server"> & {
        state_dir?: string;
        name_server?: string;
      };
    }
  >({ text, file: options.path }, CONFIG_SCHEMA);
  for (const [name, secret] of Object.entries(doc.value?.secrets ?? {})) {
    if (secret && (secret.env === undefined) === (secret.file === undefined)) {
      doc.issue(
        secret.env === undefined ? "ERR_MISSING_KEY" : "ERR_CONFLICT",
        `Secret "${name}" needs exactly one of "env" and "file"`,
        `write env = "VARIABLE" or file = "path/to/secret" under [secrets.${name}]`,
        ["secrets", name],
      );
    }
  }
  for (const [name, provider] of Object.entries(doc.value?.providers ?? {})) {
    if (provider && provider.type !== "scripted" && provider.base_url === undefined) {
      doc.issue(
        "ERR_MISSING_KEY",
        `Provider "${name}" needs "base_url"`,
        `add base_url = "http://127.0.0.1:11434" (or your server) under [providers.${name}]`,
        ["providers", name],
      );
    }
  }
  const nameServer = doc.value?.runtime?.name_server;
  // The schema's pattern refuses other shapes; this refuses octets over 255 and ports out of range.
  const shape = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
  if (typeof nameServer === "string" && shape.test(nameServer) && parseNameServer(nameServer) === null) {
    doc.issue(
      "ERR_VALUE",
      `"${nameServer}" is not a name server's address`,
      'write an IP address and a port, as "127.0.0.1:5353" or "[::1]:53"',
      ["runtime", "name_server"],
    );
  }
  const endpoint = doc.value?.telemetry?.otlp_endpoint;
  if (typeof endpoint === "string" && /^https?:\/\/[^\s/?#@]+/.test(endpoint) && !URL.canParse(endpoint)) {
    doc.issue(
      "ERR_VALUE",
      `"${endpoint}" is not a URL`,
      'write an http or https URL such as "http://127.0.0.1:4318"',
      ["telemetry", "otlp_endpoint"],
    );
  }
  doc.finish();
  const dir = posix.dirname(options.path);
  const value = doc.value;
  const abs = (p: string) => posix.resolve(dir, p);
  return {
    ...value,
    /** Or the file holding it, absolute. */
    file: options.path,
    /** `[runtime]`, paths absolute. */
    runtime: {
      plugins_dir: abs(value.runtime.plugins_dir),
      state_dir: value.runtime.state_dir === undefined
        ? posix.resolve(dir, options.stateDir ?? ".ironclaw")
        : abs(value.runtime.state_dir),
      sandbox: value.runtime.sandbox,
      name_server: value.runtime.name_server === undefined
        ? null
        : parseNameServer(value.runtime.name_server),
    },
    /** `[store]`. */
    store: { url: value.store.url ?? null },
    /** `[serve]`. */
    serve: {
      host: value.serve.host,
      port: value.serve.port,
      agents: value.serve.agents === undefined ? null : abs(value.serve.agents),
      concurrency: value.serve.concurrency ?? null,
      pool: value.serve.pool,
    },
    /** `[log]`. */
    log: value.log.file === undefined ? value.log : { ...value.log, file: abs(value.log.file) },
    /** `[providers.NAME]`, the built-in ones included unless redefined. */
    providers: {
      ...DEFAULT_PROVIDERS,
      ...Object.fromEntries(
        Object.entries(value.providers ?? {}).map((
          [k, p],
        ) => [k, p.transcript === undefined ? p : { ...p, transcript: abs(p.transcript) }]),
      ),
    },
    /** `[secrets.NAME]`. */
    plugins: value.plugins ?? {},
    secrets: Object.fromEntries(
      Object.entries(value.secrets ?? {}).map((
        [k, s],
      ) => [k, s.file === undefined ? s : { ...s, file: abs(s.file) }]),
    ),
    /** `[telemetry]`. */
    telemetry: value.telemetry === undefined ? null : {
      ...value.telemetry,
      otlp_endpoint: value.telemetry.otlp_endpoint.replace(/\/+$/, ""),
      headers: value.telemetry.headers ?? {},
    },
    at: doc.at,
  };
}

/**
 * The configuration in force when there is no `ironclaw.toml`.
 *
 * @param dir The folder that relative defaults (plugins, and state without `stateDir`) resolve against: the working directory.
 * @param options `stateDir`: the absolute state folder (the per-user one); default `.ironclaw` in `dir`.
 * @returns The built-in defaults.
 * @example
 * ```ts
 * import { defaultRuntimeConfig } from "./runtime_config.ts";
 * const c = defaultRuntimeConfig("/srv", { stateDir: "/var/lib/ironclaw" });
 * if (c.file !== "(defaults)" || c.runtime.state_dir !== "/var/lib/ironclaw") throw new Error("unexpected");
 * if (c.providers.openai?.api_key_env !== "OPENAI_API_KEY") throw new Error("unexpected");
 * ```
 */
export function defaultRuntimeConfig(
  dir: string,
  options: Pick<ParseRuntimeConfigOptions, "stateDir"> = {},
): RuntimeConfig {
  return {
    ...parseRuntimeConfig("", { path: posix.join(dir, "ironclaw.toml"), ...options }),
    file: "(defaults)",
  };
}
