/**
 * `resolvePolicy`: a manifest, the runtime config and the plugins it uses become
 * one frozen Policy, the only thing the sandbox consults.
 *
 * @module
 */

import {
  type Manifest,
  type ManifestAgent,
  type NetEntry,
  parseManifest,
} from "../manifests/agent_manifest.ts";
import type { ProviderConfig, RuntimeConfig } from "../manifests/runtime_config.ts";
import { InvalidDocumentError, type Issue, type SourcePos } from "../manifests/errors.ts";
import { closest } from "../manifests/schema.ts";
import type { Checked } from "./result.ts";
import { checkPathGrant, isWithin } from "./paths.ts";
import { matchNet, type NetGrant, parseNetGrant } from "./net.ts";
import { checkEnvGrant, checkProgramGrant } from "./commands.ts";
import { type ApprovalPolicy, resolveApprovals } from "./approvals.ts";
import { type McpServerPlan, mcpServerPlan } from "./mcp_flags.ts";
import { remoteMcpGrant, remoteMcpSecret } from "./mcp_remote.ts";

/** A WebAssembly component, or a WASI preview1 core module. */
export type ModuleFormat = "component" | "preview1";

/**
 * The runtime's own paths of one run, kept apart from the Policy (which holds
 * only what the manifest and its plugins grant): what the sandbox reads and
 * writes besides the agent's grants, and what its module turned out to be.
 */
export interface RuntimePaths {
  /** Read-only paths of the runtime (its sandbox entry, a component's cache folder, Pyodide, plugin files). */
  read: readonly string[];
  /** Paths of the runtime the sandbox writes for this run (a WASI guest's output pipes, plugin data). */
  write: readonly string[];
  /** What the agent's module is (a WASI preview1 guest's folders are preopened), or null when unknown. */
  moduleFormat: ModuleFormat | null;
}

/** Where a grant came from: the manifest, or a plugin it uses. */
export interface GrantOrigin extends SourcePos {
  /** `manifest`, or `plugin NAME`. */
  source: string;
}

/** A granted path. */
export interface PathGrant {
  /** Absolute, normalised, symlinks resolved where the path exists. */
  path: string;
  /** Every line that granted it. */
  from: readonly GrantOrigin[];
}

/** A granted network destination. */
export interface NetPolicyGrant extends NetGrant {
  /** The manifest or plugin lines that granted it. */
  from: readonly GrantOrigin[];
}

/** A granted program. */
export interface ProgramGrant {
  /** As written: a name or an absolute path. */
  name: string;
  /** The absolute path it resolved to on this machine, or null when it was not found. */
  path: string | null;
  /** The manifest or plugin lines that granted it. */
  from: readonly GrantOrigin[];
}

/** A granted environment variable name or `PREFIX*`. */
export interface EnvGrant {
  /** Its name. */
  name: string;
  /** The manifest or plugin lines that granted it. */
  from: readonly GrantOrigin[];
}

/** A secret the agent may have injected at egress (it never sees the value). */
export interface SecretGrant {
  /** Its name. */
  name: string;
  /** Where the supervisor reads the value. */
  env: string | null;
  /** The file holding the value, or null. */
  file: string | null;
  /** The only hosts it is sent to. */
  hosts: readonly string[];
  /** The request header that carries it. */
  header: string;
  /** The header's value, with `{value}` where the secret goes. */
  format: string;
  /** The manifest or plugin lines that granted it. */
  from: readonly GrantOrigin[];
  /**
   * The plugin whose remote MCP server alone gets it (its `[mcp] secret`); absent for the manifest's secrets,
   * which go to the agent's requests and its plugins'.
   */
  plugin?: string;
}

/** The model access of a run, brokered by the supervisor. */
export interface ModelPolicy {
  /** The provider's name in the runtime config. */
  provider: string;
  /** The provider's wire protocol. */
  type: ProviderConfig["type"];
  /** The provider's base URL. */
  baseUrl: string | null;
  /** The supervisor's variable holding the API key. */
  apiKeyEnv: string | null;
  /** The transcript a scripted provider replays. */
  transcript: string | null;
  /** Timeout in seconds. */
  timeoutS: number;
  /** Its name. */
  name: string;
  /** Most model calls in one run. */
  maxCalls: number;
  /** Most tokens in one run. */
  maxTokens: number;
  /** The manifest or plugin lines that granted it. */
  from: GrantOrigin;
}

/** The limits of one run, after ceilings. */
export interface PolicyLimits {
  /** Memory of the sandbox, in MiB. */
  memoryMb: number;
  /** Timeout in seconds. */
  timeoutS: number;
  /** Most loop steps. */
  maxSteps: number;
  /** Most gate calls. */
  maxToolCalls: number;
  /** Most output, in KiB. */
  maxOutputKb: number;
  /** Longest one code step may run, in seconds (never more than timeoutS). */
  stepTimeoutS: number;
  /** How many times a queued run is started again when its worker dies before any side effect. */
  retries: number;
}

/** A grant that is allowed but deserves a second look. */
export interface PolicyWarning {
  /** What deserves the second look. */
  message: string;
  /** The line that caused it. */
  at: GrantOrigin;
}

/** `[agent]` as the Policy holds it: the module path resolved, absent keys null. */
export interface PolicyAgent {
  /** Its name. */
  name: string;
  /** The agent's version. */
  version: string;
  /** One sentence on what it does. */
  description: string;
  /** How it runs. */
  kind: ManifestAgent["kind"];
  /** Absolute path of the WebAssembly module, for kind = "wasm". */
  module: string | null;
  /** What the module is, when it was known at resolve time. */
  moduleFormat: ModuleFormat | null;
  /** kind = "codeact": the language, "javascript" by default. */
  language: NonNullable<ManifestAgent["language"]> | null;
  /** The system prompt of a built-in loop. */
  instructions: string | null;
  /** Whether a run needs a task, may have one, or takes none. */
  task: ManifestAgent["task"];
}

/** Everything an agent may do, resolved and frozen. */
export interface Policy {
  /** `[agent]`. */
  agent: PolicyAgent;
  /** The manifest's absolute path. */
  manifestFile: string;
  /** The folder its relative paths resolved against. */
  baseDir: string;
  /** Model access, or null. */
  model: ModelPolicy | null;
  /** Granted paths; `hardlinks`: whether files with more than one hard link may be read and written. */
  fs: { read: readonly PathGrant[]; write: readonly PathGrant[]; hardlinks: boolean };
  /** Granted network destinations. */
  net: readonly NetPolicyGrant[];
  /** Granted programs. */
  run: { dangerous: boolean; allowInterpreters: boolean; programs: readonly ProgramGrant[] };
  /** The supervisor's variable holding the value, or null. */
  env: readonly EnvGrant[];
  /** Secrets injected at egress. */
  secrets: readonly SecretGrant[];
  /** Plugins used. */
  plugins: readonly PolicyPlugin[];
  /** Limits of the run. */
  limits: PolicyLimits;
  /** `[approvals]`: the calls that wait for a person's decision, and how long. */
  approvals: ApprovalPolicy;
  /** Limits as written, with where: `limits.memory_mb` and so on. */
  limitOrigins: Readonly<Record<keyof PolicyLimits, GrantOrigin | null>>;
  /** Grants allowed that deserve a second look. */
  warnings: readonly PolicyWarning[];
}

/** The permissions a plugin asks for in its `plugin.toml`, as written. */
export interface PluginGrants {
  /** Its name. */
  name: string;
  /** Its folder: relative paths resolve against it. */
  dir: string;
  /** Granted paths. */
  fs: { read: readonly string[]; write: readonly string[] };
  /** Granted network destinations. */
  net: readonly NetEntry[];
  /** The supervisor's variable holding the value, or null. */
  env: readonly string[];
  /** Granted programs. */
  run: { dangerous: boolean; allow_interpreters: boolean; allow: readonly string[] };
  /** Where a key path of its permissions sits, such as `["permissions", "fs", "read", 0]`. */
  at(path: readonly (string | number)[]): SourcePos;
  /** The tools it adds. */
  tools?: readonly PluginTool[];
  /** Its config keys with their defaults. */
  config?: Readonly<Record<string, unknown>>;
  /** The MCP server that is its code (its `[mcp]` table), when it is one. */
  mcp?: PluginMcp;
}

/** A plugin's `[mcp]` table: a local server (`command`) or a remote one (`url`). */
export interface PluginMcp {
  /** `npm:<package>@<version>`, or a file relative to the plugin folder; null for a remote server. */
  command: string | null;
  /** Its arguments. */
  args: readonly string[];
  /** A remote server's URL; null for a local one. */
  url: string | null;
  /** The secret a remote server gets at egress. */
  secret: string | null;
  /** The longest one call may take, in seconds. */
  timeoutS: number;
}

/** A tool a plugin adds. */
export interface PluginTool {
  /** Its name within the plugin. */
  name: string;
  /** What it does, for the model. */
  description: string;
  /** JSON Schema of its input. */
  input: Readonly<Record<string, unknown>>;
}

/** A plugin a run uses. */
export interface PolicyPlugin {
  /** Its name. */
  name: string;
  /** Its folder (its `mod.ts` is imported in the sandbox). */
  dir: string;
  /** The manifest line that uses it. */
  from: GrantOrigin;
  /** Its tools. */
  tools: readonly PluginTool[];
  /** Its config: the defaults of its `plugin.toml`, then the runtime config's `[plugins.NAME]`. */
  config: Readonly<Record<string, unknown>>;
  /**
   * Its MCP server, when its code is one: a local one is started by the supervisor with exactly the plugin's
   * permissions as its flags (which are then not the sandbox's); a remote one (`url`, no flags) is reached
   * through the sandbox's gate under the plugin's `[permissions.net]`, which join the sandbox's as the plugin's
   * own; null for a `mod.ts` plugin.
   */
  mcp: McpServerPlan | null;
}

/** Options of {@linkcode resolvePolicy}; the I/O-backed ones are supplied by the caller. */
export interface ResolvePolicyOptions {
  /** The home folder, which may not be granted whole. */
  home?: string;
  /** Resolves a path's symlinks; undefined when it does not exist. */
  realPath?: (path: string) => string | undefined;
  /** Finds a program name on the supervisor's PATH. */
  findProgram?: (name: string) => string | undefined;
  /** Plugins found in the plugin directory, by name. */
  plugins?: Readonly<Record<string, PluginGrants>>;
  /**
   * What the agent's module is, read from its first bytes by the caller: a WASI
   * preview1 guest's folders are preopened, which needs write access at the process layer.
   */
  moduleFormat?: ModuleFormat;
}

interface Source {
  label: string;
  /** The folder its relative paths resolved against. */
  baseDir: string;
  prefix: readonly string[];
  at(path: readonly (string | number)[]): SourcePos;
  /** Granted paths. */
  fs: { read: readonly string[]; write: readonly string[] };
  /** Granted network destinations. */
  net: readonly NetEntry[];
  /** The supervisor's variable holding the value, or null. */
  env: readonly string[];
  /** Granted programs. */
  run: { dangerous: boolean; allow_interpreters: boolean; allow: readonly string[] };
}

/**
 * Resolves a manifest against the runtime config and the plugins it uses into
 * one deeply frozen Policy. Pure: file system facts come through `options`.
 *
 * @param manifest A parsed manifest.
 * @param config The runtime config in force.
 * @param options Home folder, symlink and program resolvers, plugin index, the module's format.
 * @returns The frozen Policy.
 * @throws {InvalidDocumentError} With every refused grant, each at its line.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * const m = parseManifest(
 *   `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n[capabilities.fs]\nread = ["notes"]\n`,
 *   { path: "/srv/a/agent.toml" },
 * );
 * const p = resolvePolicy(m, defaultRuntimeConfig("/srv"));
 * if (p.fs.read[0]?.path !== "/srv/a/notes" || !Object.isFrozen(p)) throw new Error("unexpected");
 * ```
 */
export function resolvePolicy(
  manifest: Manifest,
  config: RuntimeConfig,
  options: ResolvePolicyOptions = {},
): Policy {
  const issues: Issue[] = [];
  const warnings: PolicyWarning[] = [];
  const origin = (src: Source, path: readonly (string | number)[]): GrantOrigin => ({
    source: src.label,
    ...src.at([...src.prefix, ...path]),
  });
  const manifestSource: Source = {
    label: "manifest",
    /** The folder its relative paths resolved against. */
    baseDir: manifest.dir,
    prefix: ["capabilities"],
    /** The line that caused it. */
    at: manifest.at,
    /** Granted paths. */
    fs: manifest.capabilities.fs,
    /** Granted network destinations. */
    net: manifest.capabilities.net.allow,
    /** The supervisor's variable holding the value, or null. */
    env: manifest.capabilities.env.allow,
    /** Granted programs. */
    run: manifest.capabilities.run,
  };
  const mOrigin = (path: readonly (string | number)[]): GrantOrigin => ({
    source: "manifest",
    ...manifest.at(path),
  });
  const take = <T>(r: Checked<T>, at: GrantOrigin): T | undefined => {
    if (!r.ok) {
      issues.push({ code: r.code, message: r.message, hint: r.hint, pos: at });
      return undefined;
    }
    if (r.warning) warnings.push({ message: r.warning, at });
    return r.value;
  };

  // Plugins: each one used must exist; its permissions join as another source.
  const sources: Source[] = [manifestSource];
  const plugins: PolicyPlugin[] = [];
  const pluginSecrets: SecretGrant[] = [];
  const index = options.plugins ?? {};
  manifest.plugins.use.forEach((name, n) => {
    if (typeof name !== "string") return;
    const at = mOrigin(["plugins", "use", n]);
    const plugin = Object.hasOwn(index, name) ? index[name] : undefined;
    if (!plugin) {
      const near = closest(name, Object.keys(index));
      issues.push({
        code: "ERR_PLUGIN_UNKNOWN",
        message: `No plugin named "${name}" in the plugin directory "${config.runtime.plugins_dir}"`,
        hint: near ? `did you mean "${near}"?` : "`ironclaw plugins list` shows the plugins there",
        pos: at,
      });
      return;
    }
    const settings = Object.hasOwn(config.plugins, name) ? config.plugins[name]! : {};
    const defaults = plugin.config ?? {};
    for (const key of Object.keys(settings)) {
      if (!Object.hasOwn(defaults, key)) {
        const near = closest(key, Object.keys(defaults));
        issues.push({
          code: "ERR_UNKNOWN_KEY",
          message: `Plugin "${name}" has no config key "${key}"`,
          hint: near
            ? `did you mean "${near}"?`
            : `its keys are ${Object.keys(defaults).map((k) => `"${k}"`).join(", ") || "none"}`,
          pos: config.at(["plugins", name, key]),
        });
      }
    }
    // An MCP plugin's permissions are its server's flags, not the sandbox's: its server runs apart.
    const server = mcpServerPlan(plugin, {
      ...optional("home", options.home),
      ...optional("realPath", options.realPath),
      guarded: [
        [manifest.file, "the manifest itself"],
        [config.runtime.state_dir, "the runtime's state folder (run records)"],
        [config.runtime.plugins_dir, "the plugin folder"],
        ...(config.file.startsWith("/") ? [[config.file, "the runtime config"] as [string, string]] : []),
      ],
      reserved: new Set([
        ...Object.values(config.providers).flatMap((p) => p.api_key_env ? [p.api_key_env] : []),
        ...Object.values(config.secrets).flatMap((s) => s.env ? [s.env] : []),
      ]),
    });
    issues.push(...server.issues);
    plugins.push({
      name,
      dir: plugin.dir,
      from: at,
      tools: plugin.tools ?? [],
      config: { ...defaults, ...settings },
      mcp: server.plan,
    });
    if (!plugin.mcp) {
      sources.push({ label: `plugin ${name}`, baseDir: plugin.dir, prefix: ["permissions"], ...plugin });
    } else if (plugin.mcp.url !== null) {
      // A remote server is reached through the gate as the plugin: its net grants join the sandbox's, as its own.
      const { issue } = remoteMcpGrant(plugin);
      if (issue) issues.push(issue);
      sources.push({
        label: `plugin ${name}`,
        baseDir: plugin.dir,
        prefix: ["permissions"],
        at: plugin.at,
        fs: { read: [], write: [] },
        net: plugin.net,
        env: [],
        run: { dangerous: false, allow_interpreters: false, allow: [] },
      });
      if (plugin.mcp.secret !== null) {
        const { secret, issue } = remoteMcpSecret(plugin, config.secrets);
        if (issue) issues.push(issue);
        if (secret) pluginSecrets.push(secret);
      }
    }
  });

  // Files.
  const grantPaths = (kind: "read" | "write") => {
    const out = new Map<string, GrantOrigin[]>();
    for (const src of sources) {
      src.fs[kind].forEach((raw, n) => {
        if (typeof raw !== "string") return; // refused by the schema already
        const at = origin(src, ["fs", kind, n]);
        const opts = {
          baseDir: src.baseDir,
          ...optional("home", options.home),
          ...optional("realPath", options.realPath),
        };
        const path = take(checkPathGrant(raw, opts), at);
        if (path === undefined) return;
        if (path.includes(",")) {
          issues.push({
            code: "ERR_PATH_COMMA",
            message: `"${raw}" contains a comma, which Deno's flags cannot carry`,
            hint: "rename the folder, or grant its parent",
            pos: at,
          });
          return;
        }
        out.set(path, [...(out.get(path) ?? []), at]);
      });
    }
    return [...out].map(([path, from]) => ({ path, from }));
  };
  const read = grantPaths("read");
  const write = grantPaths("write");
  const hardlinks = manifest.capabilities.fs.hardlinks;
  if (hardlinks) {
    warnings.push({
      message:
        "Files with more than one hard link are read and written: a hard link inside a grant can be a file outside it",
      at: mOrigin(["capabilities", "fs", "hardlinks"]),
    });
  }
  // An agent must not rewrite its own grants, the runtime's records or the plugins it runs with.
  const guarded: [string, string][] = [
    [manifest.file, "the manifest itself"],
    [config.runtime.state_dir, "the runtime's state folder (run records)"],
    [config.runtime.plugins_dir, "the plugin folder"],
  ];
  if (config.file.startsWith("/")) guarded.push([config.file, "the runtime config"]);
  for (const g of write) {
    const hit = guarded.find(([p]) => isWithin(g.path, p));
    if (hit) {
      issues.push({
        code: "ERR_PATH_GUARDED",
        message: `The write grant "${g.path}" covers ${hit[1]}, "${hit[0]}"`,
        hint: 'grant a folder that holds only the agent\'s output, such as "out"',
        pos: g.from[0]!,
      });
    }
  }

  // Network.
  const net: NetPolicyGrant[] = [];
  for (const src of sources) {
    src.net.forEach((entry, n) => {
      if (entry === undefined || entry === null) return;
      const at = origin(src, ["net", "allow", n]);
      const grant = take(parseNetGrant(entry), at);
      if (grant) net.push({ ...grant, from: [at] });
    });
  }

  // Environment: never the variables that hold keys the supervisor brokers.
  const reserved = new Set<string>();
  for (const p of Object.values(config.providers)) if (p.api_key_env) reserved.add(p.api_key_env);
  for (const s of Object.values(config.secrets)) if (s.env) reserved.add(s.env);
  const env = new Map<string, GrantOrigin[]>();
  for (const src of sources) {
    src.env.forEach((name, n) => {
      if (typeof name !== "string") return;
      const at = origin(src, ["env", "allow", n]);
      const ok = take(checkEnvGrant(name, reserved), at);
      if (ok !== undefined) env.set(ok, [...(env.get(ok) ?? []), at]);
    });
  }

  // Subprocesses.
  let dangerous = false;
  let allowInterpreters = false;
  const programs = new Map<string, GrantOrigin[]>();
  for (const src of sources) {
    if (src.run.allow.length > 0 && !src.run.dangerous) {
      issues.push({
        code: "ERR_RUN_NOT_DANGEROUS",
        message: "Subprocesses are granted without dangerous = true",
        hint:
          "Deno does not confine child processes: add dangerous = true under [capabilities.run] if you accept that, or remove allow",
        pos: origin(src, ["run", "allow"]),
      });
      continue;
    }
    if (src.run.dangerous && src.run.allow.length > 0) {
      dangerous = true;
      allowInterpreters ||= src.run.allow_interpreters;
      warnings.push({
        message: "Subprocesses run outside the sandbox, with the supervisor's user",
        at: origin(src, ["run", "dangerous"]),
      });
    }
    src.run.allow.forEach((name, n) => {
      if (typeof name !== "string") return;
      const at = origin(src, ["run", "allow", n]);
      const ok = take(checkProgramGrant(name, src.run.allow_interpreters), at);
      if (ok !== undefined) programs.set(ok, [...(programs.get(ok) ?? []), at]);
    });
  }

  // Secrets: the manifest's, and those of remote MCP plugins (each for its own plugin's requests only).
  const secrets: SecretGrant[] = [...pluginSecrets];
  manifest.capabilities.secrets.use.forEach((name, n) => {
    if (typeof name !== "string") return;
    const at = mOrigin(["capabilities", "secrets", "use", n]);
    const s = Object.hasOwn(config.secrets, name) ? config.secrets[name] : undefined;
    if (!s) {
      const near = closest(name, Object.keys(config.secrets));
      issues.push({
        code: "ERR_SECRET_UNKNOWN",
        message: `No secret named "${name}" in the runtime config "${config.file}"`,
        hint: near
          ? `did you mean "${near}"?`
          : `define it in ironclaw.toml: [secrets.${name}] env = "VARIABLE", hosts = ["api.example.com"]`,
        pos: at,
      });
      return;
    }
    for (const host of s.hosts) {
      if (
        !net.some((g) =>
          matchNet([g], new URL(`https://${host}/`), "GET") ||
          matchNet([g], new URL(`http://${host}/`), "GET")
        )
      ) {
        warnings.push({
          message:
            `Secret "${name}" is bound to "${host}", which [capabilities.net] does not grant: it will never be sent`,
          at,
        });
      }
    }
    secrets.push({
      name,
      env: s.env ?? null,
      file: s.file ?? null,
      hosts: s.hosts,
      header: s.header,
      format: s.format,
      from: [at],
    });
  });

  // Model.
  let model: ModelPolicy | null = null;
  if (manifest.model?.provider !== undefined && manifest.model.name !== undefined) {
    const m = manifest.model;
    const provider = Object.hasOwn(config.providers, m.provider) ? config.providers[m.provider] : undefined;
    if (!provider) {
      const known = Object.keys(config.providers).sort();
      const near = closest(m.provider, known);
      issues.push({
        code: "ERR_PROVIDER_UNKNOWN",
        message: `No provider named "${m.provider}" in the runtime config "${config.file}"`,
        hint: near
          ? `did you mean "${near}"?`
          : `${known.length ? `name one of ${known.map((k) => `"${k}"`).join(", ")}, or ` : ""}` +
            `define it in ironclaw.toml: [providers.${m.provider}] type = "openai", base_url = "..."`,
        pos: mOrigin(["model", "provider"]),
      });
    } else {
      model = {
        provider: m.provider,
        type: provider.type,
        baseUrl: provider.base_url ?? null,
        apiKeyEnv: provider.api_key_env ?? null,
        transcript: provider.transcript ?? null,
        timeoutS: provider.timeout_s,
        name: m.name,
        maxCalls: m.max_calls,
        maxTokens: m.max_tokens,
        from: mOrigin(["model"]),
      };
    }
    const budgets = [["max_calls", "max_model_calls"], ["max_tokens", "max_model_tokens"]] as const;
    for (const [key, ceilingKey] of budgets) {
      if (m[key] > config.limits[ceilingKey]) {
        issues.push(ceilingIssue(["model", key], m[key], config, ceilingKey, mOrigin(["model", key])));
      }
    }
  } else if (!manifest.model && manifest.agent.kind !== "wasm") {
    issues.push({
      code: "ERR_MISSING_KEY",
      message: `A ${manifest.agent.kind} agent needs a [model] table`,
      hint: '[model] provider = "ollama", name = "qwen2.5:7b"',
      pos: mOrigin(["agent", "kind"]),
    });
  }

  // Limits: what the manifest asks for, under the ceilings; a default above a ceiling is lowered to it.
  const limitKeys = {
    /** Memory of the sandbox, in MiB. */
    memoryMb: "memory_mb",
    /** Timeout in seconds. */
    timeoutS: "timeout_s",
    /** Most loop steps. */
    maxSteps: "max_steps",
    /** Most gate calls. */
    maxToolCalls: "max_tool_calls",
    /** Most output, in KiB. */
    maxOutputKb: "max_output_kb",
  } as const;
  const limits = {} as PolicyLimits;
  const limitOrigins = {} as Record<keyof PolicyLimits, GrantOrigin | null>;
  for (
    const [prop, key] of Object.entries(limitKeys) as [
      Exclude<keyof PolicyLimits, "stepTimeoutS" | "retries">,
      (typeof limitKeys)[Exclude<keyof PolicyLimits, "stepTimeoutS" | "retries">],
    ][]
  ) {
    const asked = manifest.limits[key];
    const ceiling = config.limits[key];
    const written = manifest.has(["limits", key]);
    limitOrigins[prop] = written ? mOrigin(["limits", key]) : null;
    if (written && asked > ceiling) {
      issues.push(ceilingIssue(["limits", key], asked, config, key, mOrigin(["limits", key])));
    }
    limits[prop] = Math.min(asked, ceiling);
  }
  // A step never outlasts the run.
  limits.stepTimeoutS = Math.min(manifest.limits.step_timeout_s, limits.timeoutS);
  limitOrigins.stepTimeoutS = manifest.has(["limits", "step_timeout_s"])
    ? mOrigin(["limits", "step_timeout_s"])
    : null;
  limits.retries = manifest.limits.retries;
  limitOrigins.retries = manifest.has(["limits", "retries"]) ? mOrigin(["limits", "retries"]) : null;

  // The module of a wasm agent is read by the sandbox, so it must be a safe path too.
  let module: string | null = null;
  if (manifest.agent.module !== undefined) {
    const at = mOrigin(["agent", "module"]);
    const opts = {
      baseDir: manifest.dir,
      ...optional("home", options.home),
      ...optional("realPath", options.realPath),
    };
    module = take(checkPathGrant(manifest.agent.module, opts), at) ?? null;
  }

  const approvals = resolveApprovals(
    { require: manifest.approvals.require, timeoutS: manifest.approvals.timeout_s },
    { at: (n) => mOrigin(["approvals", "require", n]), issues },
  );

  if (issues.length > 0) throw new InvalidDocumentError(issues);
  return deepFreeze({
    /** `[agent]`. */
    agent: {
      name: manifest.agent.name,
      version: manifest.agent.version,
      description: manifest.agent.description,
      kind: manifest.agent.kind,
      module,
      moduleFormat: module === null ? null : options.moduleFormat ?? null,
      language: manifest.agent.language ?? (manifest.agent.kind === "codeact" ? "javascript" : null),
      instructions: manifest.agent.instructions ?? null,
      task: manifest.agent.task,
    },
    /** The manifest's absolute path. */
    manifestFile: manifest.file,
    /** The folder its relative paths resolved against. */
    baseDir: manifest.dir,
    model,
    /** Granted paths. */
    fs: { read, write, hardlinks },
    net,
    /** Granted programs. */
    run: {
      dangerous,
      allowInterpreters,
      programs: [...programs].map(([name, from]) => ({
        name,
        path: name.startsWith("/") ? name : options.findProgram?.(name) ?? null,
        from,
      })),
    },
    /** The supervisor's variable holding the value, or null. */
    env: [...env].map(([name, from]) => ({ name, from })),
    secrets,
    plugins,
    limits,
    approvals,
    limitOrigins,
    warnings,
  });
}

function ceilingIssue(
  path: readonly string[],
  asked: number,
  config: RuntimeConfig,
  ceilingKey: keyof RuntimeConfig["limits"],
  /** The line that caused it. */
  at: GrantOrigin,
): Issue {
  return {
    code: "ERR_LIMIT_CEILING",
    /** What deserves the second look. */
    message: `${path.join(".")} = ${asked} is above the runtime's ceiling of ${config.limits[ceilingKey]}`,
    hint: `ask for at most ${config.limits[ceilingKey]}, or raise [limits] ${ceilingKey} in "${config.file}"`,
    pos: at,
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Options of {@linkcode checkManifest}. */
export interface CheckManifestOptions extends ResolvePolicyOptions {
  /** The manifest's absolute path: errors name it and relative grants resolve against its folder. */
  path?: string;
}

/**
 * Parses a manifest and resolves its Policy, reporting every problem of both
 * steps together: the schema's, and those of the grants that were well-formed.
 *
 * @param text The manifest's TOML text.
 * @param config The runtime config in force.
 * @param options The manifest's path, and the options of {@linkcode resolvePolicy}.
 * @returns The frozen Policy.
 * @throws {InvalidDocumentError} With every problem found.
 * @example
 * ```ts
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { InvalidDocumentError } from "../manifests/errors.ts";
 * import { checkManifest } from "./policy.ts";
 * try {
 *   const text = `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\ncolour = 1\n[capabilities.fs]\nread = ["/"]\n`;
 *   checkManifest(text, defaultRuntimeConfig("/srv"), { path: "/srv/a/agent.toml" });
 *   throw new Error("should be refused");
 * } catch (e) {
 *   if (!(e instanceof InvalidDocumentError)) throw e;
 *   if (e.issues.map((i) => i.code).join() !== "ERR_UNKNOWN_KEY,ERR_PATH_ROOT") throw e;
 * }
 * ```
 */
export function checkManifest(
  text: string,
  config: RuntimeConfig,
  options: CheckManifestOptions = {},
): Policy {
  const issues: Issue[] = [];
  const manifest = parseManifest(text, { ...optional("path", options.path), collect: issues });
  if (issues.length === 0) return resolvePolicy(manifest, config, options);
  if (manifest.agent?.name !== undefined && manifest.agent.kind !== undefined) {
    try {
      resolvePolicy(manifest, config, options);
    } catch (e) {
      // Anything but a list of refusals means the partial manifest could not be read: the schema's problems stand.
      if (e instanceof InvalidDocumentError) issues.push(...e.issues);
    }
  }
  throw new InvalidDocumentError(issues);
}
