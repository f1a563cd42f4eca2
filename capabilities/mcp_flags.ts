/**
 * The Deno flags of an `[mcp]` plugin's server: exactly the plugin's own
 * `[permissions]` (never the agent's, never the runtime's paths), with
 * `--no-prompt`, `--no-config` and `--cached-only` always, each flag with the
 * `plugin.toml` lines that caused it, as `ironclaw check` shows them. Pure.
 *
 * @module
 */

import type { Issue } from "../manifests/errors.ts";
import type { FlagExplanation } from "./deno_flags.ts";
import { denoNetValue, parseNetGrant } from "./net.ts";
import { checkPathGrant, isWithin } from "./paths.ts";
import { checkEnvGrant, checkProgramGrant } from "./commands.ts";
import type { GrantOrigin, PluginGrants, PluginMcp } from "./policy.ts";

/** The flags every MCP server gets, whatever its permissions. */
export const MCP_BASE_FLAGS: readonly string[] = Object.freeze([
  "--no-prompt",
  "--no-config",
  "--cached-only",
]);

/** An `[mcp]` plugin's server as a run starts it. */
export interface McpServerPlan extends PluginMcp {
  /** Its permission flags, each with why (the base flags first). */
  flags: readonly FlagExplanation[];
  /** The variables it may read: the supervisor passes their values, and nothing else of its environment. */
  env: readonly string[];
}

/** Options of {@linkcode mcpServerPlan}. */
export interface McpServerPlanOptions {
  /** The home folder, which may not be granted whole. */
  home?: string;
  /** Resolves a path's symlinks; undefined when it does not exist. */
  realPath?: (path: string) => string | undefined;
  /** Paths no write grant may cover (the manifest, the state folder...), each with its name; default none. */
  guarded?: readonly (readonly [string, string])[];
  /** Variables no grant may name (the keys the supervisor holds); default none. */
  reserved?: ReadonlySet<string>;
}

/**
 * The server plan of an `[mcp]` plugin, and the problems of its permissions.
 *
 * @param plugin The plugin's grants (with its `mcp`).
 * @param options Home folder and symlink resolver.
 * @returns The plan (null for a plugin without `[mcp]`) and the problems.
 * @example
 * ```ts
 * import { mcpServerPlan } from "./mcp_flags.ts";
 * const { plan } = mcpServerPlan({
 *   name: "files", dir: "/opt/plugins/files", fs: { read: ["/srv/docs"], write: [] }, net: [], env: [],
 *   run: { dangerous: false, allow_interpreters: false, allow: [] },
 *   at: () => ({ file: "plugin.toml", line: 1, column: 1, key: "" }),
 *   mcp: { command: "npm:some-server@1.0.0", args: [], url: null, secret: null, timeoutS: 30 },
 * });
 * if (!plan?.flags.some((f) => f.flag === "--allow-read=/srv/docs")) throw new Error();
 * ```
 */
export function mcpServerPlan(
  plugin: PluginGrants,
  options: McpServerPlanOptions = {},
): { plan: McpServerPlan | null; issues: Issue[] } {
  const issues: Issue[] = [];
  if (!plugin.mcp) return { plan: null, issues };
  const at = (path: (string | number)[]): GrantOrigin => ({
    source: `plugin ${plugin.name}`,
    ...plugin.at(["permissions", ...path]),
  });
  if (plugin.mcp.url !== null) return remotePlan(plugin, plugin.mcp, at);
  const take = <T>(
    r: { ok: true; value: T } | { ok: false; code: Issue["code"]; message: string; hint: string },
    o: GrantOrigin,
  ) => {
    if (r.ok) return r.value;
    issues.push({ code: r.code, message: r.message, hint: r.hint, pos: o });
    return undefined;
  };
  const flags: FlagExplanation[] = MCP_BASE_FLAGS.map((flag) => ({
    flag,
    why: "always: no prompt, no config file, no fetch of code at run time",
    from: [],
  }));
  const add = (kind: string, values: { value: string; from: GrantOrigin }[], why: string) => {
    if (values.length === 0) return;
    const unique = [...new Set(values.map((v) => v.value))];
    flags.push({ flag: `--allow-${kind}=${unique.join(",")}`, why, from: values.map((v) => v.from) });
  };
  const pathOptions = {
    baseDir: plugin.dir,
    ...(options.home !== undefined ? { home: options.home } : {}),
    ...(options.realPath ? { realPath: options.realPath } : {}),
  };
  for (const kind of ["read", "write"] as const) {
    const values = plugin.fs[kind].flatMap((raw, i) => {
      const o = at(["fs", kind, i]);
      const path = take(checkPathGrant(raw, pathOptions), o);
      const hit = kind === "write" && path !== undefined &&
        (options.guarded ?? []).find(([p]) => isWithin(path, p));
      if (hit) {
        issues.push({
          code: "ERR_PATH_GUARDED",
          message: `The write grant "${path}" covers ${hit[1]}, "${hit[0]}"`,
          hint: "grant the MCP server a folder that holds only its own data",
          pos: o,
        });
        return [];
      }
      return path === undefined ? [] : [{ value: path, from: o }];
    });
    add(kind, values, `the MCP server may ${kind} these paths`);
  }
  const net = plugin.net.flatMap((entry, i) => {
    const o = at(["net", "allow", i]);
    const g = take(parseNetGrant(entry), o);
    return g === undefined ? [] : [{ value: denoNetValue(g), from: o }];
  });
  add("net", net, "the MCP server may connect to these hosts");
  const env = plugin.env.flatMap((name, i) => {
    const o = at(["env", "allow", i]);
    const n = take(checkEnvGrant(name, options.reserved ?? new Set()), o);
    return n === undefined ? [] : [{ value: n, from: o }];
  });
  add("env", env, "the MCP server may read these variables (the only ones it is given)");
  if (plugin.run.dangerous) {
    const run = plugin.run.allow.flatMap((name, i) => {
      const o = at(["run", "allow", i]);
      const p = take(checkProgramGrant(name, plugin.run.allow_interpreters), o);
      return p === undefined ? [] : [{ value: p, from: o }];
    });
    add("run", run, "the MCP server may start these programs (dangerous: they are not confined)");
  }
  const { command, args, url, secret, timeoutS } = plugin.mcp;
  return {
    plan: { command, args: [...args], url, secret, timeoutS, flags, env: env.map((e) => e.value) },
    issues,
  };
}

/**
 * A remote server runs nowhere here: it has no flags, and only `[permissions.net]` applies to it (the gate's
 * rules for its requests); a grant of files, variables or programs is refused.
 */
function remotePlan(
  plugin: PluginGrants,
  mcp: PluginMcp,
  at: (path: (string | number)[]) => GrantOrigin,
): { plan: McpServerPlan; issues: Issue[] } {
  const issues: Issue[] = [];
  const kinds: [string, (string | number)[], number][] = [
    ["fs.read", ["fs", "read"], plugin.fs.read.length],
    ["fs.write", ["fs", "write"], plugin.fs.write.length],
    ["env", ["env", "allow"], plugin.env.length],
    ["run", ["run", "allow"], plugin.run.allow.length],
  ];
  for (const [name, path, count] of kinds) {
    if (count === 0) continue;
    issues.push({
      code: "ERR_PLUGIN_MCP",
      message: `A remote MCP server (url) is granted [permissions.${name}], which nothing would use`,
      hint:
        "remove it: only [permissions.net] applies to a remote server, as the gate's rules for its requests",
      pos: at(path),
    });
  }
  const { command, args, url, secret, timeoutS } = mcp;
  return { plan: { command, args: [...args], url, secret, timeoutS, flags: [], env: [] }, issues };
}
