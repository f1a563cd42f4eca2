/**
 * Reading manifests and runtime configs from disk, and resolving their Policy
 * with this machine's facts (home folder, symlinks, programs on PATH).
 *
 * @module
 */

import { basename, delimiter, isAbsolute, join, resolve } from "node:path";
import { InvalidDocumentError, IronclawError, isIssueCode, type Issue } from "../manifests/errors.ts";
import { type Manifest, parseManifest } from "../manifests/agent_manifest.ts";
import { defaultRuntimeConfig, parseRuntimeConfig, type RuntimeConfig } from "../manifests/runtime_config.ts";
import {
  checkManifest,
  type ModuleFormat,
  type Policy,
  resolvePolicy,
  type ResolvePolicyOptions,
} from "../capabilities/policy.ts";
import { sniffModuleFormat } from "./module_format.ts";
import { builtinPluginsDir } from "./assets.ts";
import type { PluginGrants } from "../capabilities/policy.ts";

/**
 * Reads a text file, turning "not found" and "not allowed" into errors that say what to do.
 *
 * @param path The file.
 * @param what What the file is, for the message ("manifest", "runtime config").
 * @returns Its text.
 * @throws {IronclawError} `ERR_NOT_FOUND` or `ERR_READ`.
 */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      throw new IronclawError("ERR_NOT_FOUND", `The ${what} "${path}" is a folder`, {
        hint: `give the path of the ${what} file inside it`,
      });
    }
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof IronclawError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new IronclawError("ERR_NOT_FOUND", `The ${what} "${path}" does not exist`, {
        hint: "check the path",
        cause: e,
      });
    }
    throw new IronclawError("ERR_READ", `Cannot read the ${what} "${path}": ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Options of {@linkcode loadRuntimeConfig}. */
export interface LoadConfigOptions {
  /** `--config`: this file, which must exist. */
  path?: string;
  /** Where to look for `ironclaw.toml` first, and what defaults resolve against; default the working directory. */
  cwd?: string;
  /** The manifest's folder: its `ironclaw.toml` is used when the working directory has none. */
  manifestDir?: string;
  /** The state folder when the config sets no `[runtime] state_dir`; default {@linkcode defaultStateDir}. */
  stateDir?: string;
}

/**
 * Finds the runtime config in force: `--config`, then `ironclaw.toml` in the
 * working directory, then `ironclaw.toml` in the manifest's folder, then the
 * built-in defaults. Without `[runtime] state_dir`, records go to the per-user
 * state folder ({@linkcode defaultStateDir}).
 *
 * @param options The explicit path, the working directory and the manifest's folder.
 * @returns The config.
 * @throws {IronclawError} When `--config` names a missing file, or the file is invalid.
 */
export async function loadRuntimeConfig(options: LoadConfigOptions = {}): Promise<RuntimeConfig> {
  const cwd = options.cwd ?? Deno.cwd();
  const stateDir = options.stateDir ?? defaultStateDir();
  const parseOptions = (path: string) => ({ path, ...(stateDir === undefined ? {} : { stateDir }) });
  if (options.path !== undefined) {
    const path = resolve(cwd, options.path);
    return parseRuntimeConfig(await readTextFile(path, "runtime config"), parseOptions(path));
  }
  const candidates = [join(cwd, "ironclaw.toml")];
  if (options.manifestDir !== undefined) {
    const beside = join(resolve(cwd, options.manifestDir), "ironclaw.toml");
    if (beside !== candidates[0]) candidates.push(beside);
  }
  for (const path of candidates) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw new IronclawError(
        "ERR_READ",
        `Cannot read the runtime config "${path}": ${(e as Error).message}`,
        {
          hint: "make it a readable file, or name another with --config",
          cause: e,
        },
      );
    }
    return parseRuntimeConfig(text, parseOptions(path));
  }
  return defaultRuntimeConfig(cwd, stateDir === undefined ? {} : { stateDir });
}

/**
 * The per-user folder of run records and caches when the runtime config sets
 * none, XDG style: `$XDG_STATE_HOME/ironclaw`, else `$HOME/.local/state/ironclaw`.
 * Relative values are ignored, as the XDG specification says.
 *
 * @param getEnv Reads an environment variable; default the process's (unset when not allowed).
 * @returns The folder, or undefined when neither variable gives one (the config's folder then holds `.ironclaw`).
 * @example
 * ```ts
 * import { defaultStateDir } from "./load.ts";
 * const env: Record<string, string> = { HOME: "/home/ada" };
 * if (defaultStateDir((name) => env[name]) !== "/home/ada/.local/state/ironclaw") throw new Error("unexpected");
 * ```
 */
export function defaultStateDir(
  getEnv: (name: string) => string | undefined = (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no --allow-env: no per-user folder
    }
  },
): string | undefined {
  const xdg = getEnv("XDG_STATE_HOME");
  if (xdg && isAbsolute(xdg)) return join(xdg, "ironclaw");
  const home = getEnv("HOME");
  if (home && isAbsolute(home)) return join(home, ".local", "state", "ironclaw");
  return undefined;
}

/**
 * Reads and parses a manifest (stops at its schema problems; {@linkcode loadPolicy} reports all).
 *
 * @param path The manifest file, absolute or relative to the working directory.
 * @returns The manifest, with relative paths to resolve against its folder.
 * @throws {IronclawError} When it is missing or invalid.
 */
export async function loadManifest(path: string): Promise<Manifest> {
  const abs = resolve(path);
  return parseManifest(await readTextFile(abs, "manifest"), { path: abs });
}

/** This machine's facts for {@linkcode resolvePolicy}: home, symlinks, PATH. */
export function machineFacts(): Pick<
  ResolvePolicyOptions,
  "home" | "realPath" | "findProgram"
> {
  const home = Deno.env.get("HOME");
  return {
    ...(home ? { home } : {}),
    realPath: (p) => {
      try {
        return Deno.realPathSync(p);
      } catch {
        return undefined;
      }
    },
    findProgram: (name) => {
      for (const dir of (Deno.env.get("PATH") ?? "").split(delimiter)) {
        if (!dir) continue;
        const candidate = join(dir, name);
        try {
          if (Deno.statSync(candidate).isFile) return Deno.realPathSync(candidate);
        } catch { /* not here */ }
      }
      return undefined;
    },
  };
}

/**
 * The plugins a manifest may use: the built-in ones and those of the runtime
 * config's plugins_dir (only their plugin.toml is read). A broken plugin that
 * the manifest uses is an error here, with its own file and line. A manifest
 * that uses no plugin gets none, and the plugin folders are not read.
 */
async function usablePlugins(
  manifest: Manifest,
  config: RuntimeConfig,
): Promise<Record<string, PluginGrants>> {
  const used = manifest.plugins?.use ?? [];
  if (used.length === 0) return {};
  const { indexPlugins, pluginGrants } = await import("../plugins/plugin_index.ts");
  const index = await indexPlugins([await builtinPluginsDir(), config.runtime.plugins_dir], {
    // Only the used [mcp] plugins' servers are listed (once per version: the list is cached).
    mcpTools: async (m) =>
      used.includes(m.name)
        ? (await import("./mcp_tools.ts")).listMcpTools(m, { secrets: config.secrets })
        : [],
  });
  const issues = index.broken.filter((b) => used.includes(basename(b.dir))).flatMap((b) =>
    b.error instanceof InvalidDocumentError ? b.error.issues : [{
      // A plugin folder that cannot be read: the only failure besides an invalid document.
      code: isIssueCode(b.error.code) ? b.error.code : "ERR_READ",
      message: b.error.message,
      hint: b.error.hint,
      pos: { file: b.dir, line: 1, column: 1, key: "" },
    }]
  );
  if (issues.length) throw new InvalidDocumentError(issues);
  return Object.fromEntries([...index.plugins].map(([name, m]) => [name, pluginGrants(m)]));
}

/**
 * The format of the module a manifest names, from the file's first bytes, read
 * before the Policy is resolved (a WASI guest's flags differ: its folders are
 * preopened). Undefined without a module, or when it is missing or not WebAssembly.
 */
function manifestModuleFormat(manifest: Manifest): Promise<ModuleFormat | undefined> {
  const module = manifest.agent?.module;
  // A path the Policy will refuse is not read: resolvePolicy reports it.
  if (typeof module !== "string" || module === "" || module.startsWith("~") || module.includes("\0")) {
    return Promise.resolve(undefined);
  }
  return sniffModuleFormat(resolve(manifest.dir, module));
}

/** A manifest read and parsed once, and its Policy resolved once. */
export interface LoadedAgent {
  /** The manifest (its `at()` tells where each key sits, for warnings). */
  manifest: Manifest;
  /**
   * The plugins the manifest may use, by name (built-in and the runtime config's plugins_dir); empty when it
   * uses none.
   */
  plugins: Readonly<Record<string, PluginGrants>>;
  /** The frozen Policy. */
  policy: Policy;
}

/**
 * Reads a manifest once and resolves its Policy once under a runtime config:
 * the plugin index and the module's format (its first bytes) are found first.
 *
 * @param path The manifest file.
 * @param config The runtime config in force.
 * @param options Overrides of this machine's facts, the plugin index or the module's format (tests use them).
 * @returns The manifest, the plugins it may use and the Policy.
 * @throws {IronclawError} When the manifest is missing or unreadable.
 * @throws {InvalidDocumentError} With every problem of the manifest and its grants.
 */
export async function loadAgent(
  path: string,
  config: RuntimeConfig,
  options: ResolvePolicyOptions = {},
): Promise<LoadedAgent> {
  const abs = resolve(path);
  const text = await readTextFile(abs, "manifest");
  const issues: Issue[] = [];
  const manifest = parseManifest(text, { path: abs, collect: issues });
  const plugins = options.plugins ?? await usablePlugins(manifest, config);
  const format = options.moduleFormat ?? await manifestModuleFormat(manifest);
  const opts = {
    ...machineFacts(),
    ...options,
    plugins,
    path: abs,
    ...(format ? { moduleFormat: format } : {}),
  };
  // A manifest with schema problems goes to checkManifest, which parses it again to report them together
  // with those of its well-formed grants; a valid one is parsed once.
  const policy = issues.length === 0
    ? resolvePolicy(manifest, config, opts)
    : checkManifest(text, config, opts);
  return { manifest, plugins, policy };
}

/**
 * Reads a manifest and resolves its Policy under a runtime config.
 *
 * @param path The manifest file.
 * @param config The runtime config in force.
 * @param options Overrides of this machine's facts (tests use them).
 * @returns The frozen Policy.
 * @throws {IronclawError} When the manifest is missing or any grant is refused.
 */
export async function loadPolicy(
  path: string,
  config: RuntimeConfig,
  options: ResolvePolicyOptions = {},
): Promise<Policy> {
  return (await loadAgent(path, config, options)).policy;
}
