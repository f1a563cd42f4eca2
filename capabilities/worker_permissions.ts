/**
 * `toWorkerPermissions`: the Deno permissions of the Worker that runs the
 * agent side of a sandbox in worker mode (a compiled binary's second wall),
 * exactly what `toDenoFlags` grants the sandbox process; and
 * `pluginWorkerPermissions`: those of one plugin's own Worker, exactly that
 * plugin's grants.
 *
 * @module
 */

import { denoNetValue } from "./net.ts";
import {
  type DenoFlagsOptions,
  type DenoGrantKind,
  denoGrants,
  type PermissionSource,
} from "./deno_flags.ts";

/**
 * A Worker's `deno.permissions` with every key spelled out: a key left out of
 * Deno's object inherits the parent thread's grant, so none is ever left out,
 * and no key is ever `true` or `"inherit"`. Assignable to
 * `Deno.PermissionOptionsObject`.
 */
export interface WorkerPermissions {
  /** Readable paths, or nothing. */
  read: string[] | false;
  /** Writable paths, or nothing. */
  write: string[] | false;
  /** `host[:port]` values, or nothing. */
  net: string[] | false;
  /** Variable names (a trailing `*` as in `--allow-env`), or nothing. */
  env: string[] | false;
  /** Programs, only for a dangerous Policy; else nothing. */
  run: string[] | false;
  /** Never: foreign code is not confined. */
  ffi: false;
  /** Never. */
  sys: false;
  /** Never: nothing is downloaded. */
  import: false;
}

/**
 * The Worker permissions for a Policy: the union of each kind's values of
 * {@linkcode denoGrants}, the same computation the process flags come from
 * (repeated `--allow-read` flags add up the same way), and `false` for every
 * kind the Policy does not grant.
 *
 * @param policy A resolved Policy, or a sandbox's narrowed grant.
 * @param options The runtime's own paths of the run.
 * @returns Every permission key, none inherited.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { toWorkerPermissions } from "./worker_permissions.ts";
 * const m = parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, { path: "/srv/a/agent.toml" });
 * const p = toWorkerPermissions(resolvePolicy(m, defaultRuntimeConfig("/srv")));
 * if (p.read === false || p.read[0] !== "/srv/a/a.wasm" || p.net !== false) throw new Error("unexpected");
 * ```
 */
export function toWorkerPermissions(
  policy: PermissionSource<unknown>,
  options: DenoFlagsOptions = {},
): WorkerPermissions {
  const grants = denoGrants(policy, options);
  const of = (kind: DenoGrantKind): string[] | false => {
    const values = [...new Set(grants.filter((g) => g.kind === kind).flatMap((g) => g.values))];
    return values.length > 0 ? values : false;
  };
  return {
    read: of("read"),
    write: of("write"),
    net: of("net"),
    env: of("env"),
    run: of("run"),
    ffi: false,
    sys: false,
    import: false,
  };
}

/** What {@linkcode pluginWorkerPermissions} reads of a run's grant: its grants by source, and the plugins used. */
export interface PluginPermissionSource extends PermissionSource<{ readonly source: string }> {
  /** The plugins the run uses: their names and folders. */
  plugins: readonly { readonly name: string; readonly dir: string }[];
}

/** Options of {@linkcode pluginWorkerPermissions}. */
export interface PluginWorkerPermissionsOptions {
  /** The plugin's name, as the run's grant lists it. */
  plugin: string;
  /** The plugin's own folder for this agent, readable and writable (default none). */
  dataDir?: string | null;
  /** Further files its code may import, read-only (the plugin API file; default none). */
  code?: readonly string[];
}

/**
 * The Deno permissions of one plugin's own Worker: the grant entries whose
 * `from` names `plugin NAME` and no others (write implies read, as for the
 * process flags), read access to its folder (its code) and to `code`, read
 * and write access to its data folder; programs only when the run is
 * dangerous; never `ffi`, `sys` or `import`. Nothing the manifest or another
 * plugin granted is in it, so neither the agent's code nor another plugin
 * can use this plugin's grants through it.
 *
 * @param grant The run's grant (a Policy, or the sandbox's narrowed grant).
 * @param options The plugin's name, its data folder, and the files of the plugin API.
 * @returns Every permission key, none inherited.
 * @throws {RangeError} When the grant does not use the plugin.
 * @example
 * ```ts
 * import { pluginWorkerPermissions } from "./worker_permissions.ts";
 * const by = (source: string) => [{ source }];
 * const grant = {
 *   agent: { module: null, moduleFormat: null },
 *   fs: { read: [{ path: "/srv/notes", from: by("manifest") }, { path: "/p/a/x", from: by("plugin a") }], write: [] },
 *   net: [{ scheme: null, host: "api.a.example", port: null, pathPrefix: "/", methods: null, from: by("plugin a") }],
 *   env: [{ name: "HOME", from: by("manifest") }],
 *   run: { dangerous: false, programs: [] },
 *   plugins: [{ name: "a", dir: "/p/a" }],
 * };
 * const p = pluginWorkerPermissions(grant, { plugin: "a", dataDir: "/state/a" });
 * if (JSON.stringify(p.read) !== '["/p/a/x","/p/a","/state/a"]') throw new Error(String(p.read));
 * if (JSON.stringify(p.net) !== '["api.a.example"]' || p.env !== false) throw new Error("not its own");
 * if (JSON.stringify(p.write) !== '["/state/a"]' || p.run !== false || p.import !== false) throw new Error();
 * ```
 */
export function pluginWorkerPermissions(
  grant: PluginPermissionSource,
  options: PluginWorkerPermissionsOptions,
): WorkerPermissions {
  const { plugin, dataDir = null, code = [] } = options;
  const used = grant.plugins.find((p) => p.name === plugin);
  if (!used) throw new RangeError(`The run does not use the plugin "${plugin}"`);
  const own = <T extends { from: readonly { source: string }[] }>(entries: readonly T[]): T[] =>
    entries.filter((e) => e.from.some((o) => o.source === `plugin ${plugin}`));
  const list = (values: readonly string[]): string[] | false => {
    const unique = [...new Set(values)];
    return unique.length > 0 ? unique : false;
  };
  const data = dataDir === null ? [] : [dataDir];
  const writes = own(grant.fs.write).map((g) => g.path);
  return {
    read: list([...own(grant.fs.read).map((g) => g.path), ...writes, used.dir, ...code, ...data]),
    write: list([...writes, ...data]),
    net: list(own(grant.net).map(denoNetValue)),
    env: list(own(grant.env).map((e) => e.name)),
    run: grant.run.dangerous ? list(own(grant.run.programs).map((p) => p.path ?? p.name)) : false,
    ffi: false,
    sys: false,
    import: false,
  };
}
