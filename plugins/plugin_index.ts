/**
 * Finding plugins: the supervisor reads only each folder's `plugin.toml` (plugin
 * code never runs in the supervisor). A broken plugin is reported with its path
 * and the others still load.
 *
 * @module
 */

import { join } from "node:path";
import { InvalidDocumentError, IronclawError, type Issue } from "../manifests/errors.ts";
import type { PluginGrants } from "../capabilities/policy.ts";
import { parsePluginManifest, type PluginManifest, type PluginToolSpec } from "./plugin_manifest.ts";
import { checkPathGrant } from "../capabilities/paths.ts";
import { parseNetGrant } from "../capabilities/net.ts";
import { checkEnvGrant, checkProgramGrant } from "../capabilities/commands.ts";
import type { Checked } from "../capabilities/result.ts";

/** The plugins found, and the ones that could not be read. */
export interface PluginIndex {
  /** Usable plugins by name. */
  plugins: Map<string, PluginManifest>;
  /** Plugins that are broken: their folder and what is wrong. */
  broken: { dir: string; error: IronclawError }[];
}

/** Options of {@linkcode indexPlugins}. */
export interface IndexPluginsOptions {
  /**
   * Lists the tools of an `[mcp]` plugin's server (the supervisor's `tools/list`, cached by version); its
   * failure makes the plugin broken. Default: an MCP plugin has no tools.
   */
  mcpTools?: (manifest: PluginManifest) => Promise<PluginToolSpec[]>;
}

/**
 * Reads every `<dir>/<name>/plugin.toml` under the given folders (later folders
 * override earlier ones of the same name).
 *
 * @param dirs Plugin folders, such as the built-in folder and the runtime config's plugins_dir.
 * @param options How an MCP plugin's tools are listed.
 * @returns The index.
 */
export async function indexPlugins(
  dirs: readonly string[],
  options: IndexPluginsOptions = {},
): Promise<PluginIndex> {
  const plugins = new Map<string, PluginManifest>();
  const broken: PluginIndex["broken"] = [];
  for (const root of dirs) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(root));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      broken.push({
        dir: root,
        error: new IronclawError(
          "ERR_READ",
          `Cannot read the plugin folder "${root}": ${(e as Error).message}`,
        ),
      });
      continue;
    }
    for (const entry of entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
      if (!entry.isDirectory) continue;
      const dir = join(root, entry.name);
      const file = join(dir, "plugin.toml");
      try {
        const text = await Deno.readTextFile(file);
        const issues: Issue[] = [];
        const manifest = parsePluginManifest(text, file, issues);
        try {
          if (!manifest.mcp) await Deno.stat(join(dir, "mod.ts"));
        } catch {
          issues.push({
            code: "ERR_PLUGIN_CODE",
            message: `The plugin has no mod.ts beside ${file}`,
            hint: "write its handlers in mod.ts (export default definePlugin({...}))",
            pos: { file, line: 1, column: 1, key: "" },
          });
        }
        issues.push(...grantIssues(manifest));
        if (issues.length) throw new InvalidDocumentError(issues);
        if (manifest.mcp && options.mcpTools) manifest.tools = await options.mcpTools(manifest);
        plugins.set(manifest.name, manifest);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue; // a folder without plugin.toml is not a plugin
        broken.push({
          dir,
          error: e instanceof IronclawError
            ? e
            : new IronclawError("ERR_READ", `Cannot read "${file}": ${(e as Error).message}`),
        });
      }
    }
  }
  return { plugins, broken };
}

/** The plugin's own grants, checked as an agent's would be (so a dangerous one breaks the plugin at once). */
function grantIssues(manifest: PluginManifest): Issue[] {
  const out: Issue[] = [];
  const at = (path: (string | number)[]) => manifest.at(["permissions", ...path]);
  const take = (r: Checked<unknown>, path: (string | number)[]) => {
    if (!r.ok) out.push({ code: r.code, message: r.message, hint: r.hint, pos: at(path) });
  };
  const home = Deno.env.get("HOME");
  const realPath = (p: string) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return undefined;
    }
  };
  const p = manifest.permissions;
  for (const kind of ["read", "write"] as const) {
    p.fs[kind].forEach((raw, i) => {
      if (typeof raw === "string") {
        take(checkPathGrant(raw, { baseDir: manifest.dir, realPath, ...(home ? { home } : {}) }), [
          "fs",
          kind,
          i,
        ]);
      }
    });
  }
  p.net.allow.forEach((entry, i) => entry !== undefined && take(parseNetGrant(entry), ["net", "allow", i]));
  p.env.allow.forEach((name, i) =>
    typeof name === "string" && take(checkEnvGrant(name, new Set()), ["env", "allow", i])
  );
  if (p.run.allow.length > 0 && !p.run.dangerous) {
    out.push({
      code: "ERR_RUN_NOT_DANGEROUS",
      message: "Subprocesses are granted without dangerous = true",
      hint:
        "Deno does not confine child processes: add dangerous = true under [permissions.run] if you accept that",
      pos: at(["run", "allow"]),
    });
  }
  p.run.allow.forEach((name, i) =>
    typeof name === "string" && take(checkProgramGrant(name, p.run.allow_interpreters), ["run", "allow", i])
  );
  return out;
}

/** A plugin manifest as the policy takes it. */
export function pluginGrants(manifest: PluginManifest): PluginGrants {
  const p = manifest.permissions;
  return {
    name: manifest.name,
    dir: manifest.dir,
    fs: p.fs,
    net: p.net.allow,
    env: p.env.allow,
    run: p.run,
    at: manifest.at,
    tools: manifest.tools,
    config: manifest.config,
    ...(manifest.mcp ? { mcp: manifest.mcp } : {}),
  };
}
