/** `ironclaw plugins list` and `ironclaw plugins show <name>`: the plugins a run can use. */

import { formatIssue, InvalidDocumentError, printable } from "../manifests/errors.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { indexPlugins } from "../plugins/plugin_index.ts";
import { builtinPluginsDir } from "../supervisor/assets.ts";
import {
  COMMON_OPTIONS,
  configOption,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";
import { closest } from "../manifests/schema.ts";
import { IronclawError } from "../manifests/errors.ts";

/** Help of `ironclaw plugins`. */
export const PLUGINS_HELP = `List and show the plugins agents can use

Examples:
  ironclaw plugins list
  ironclaw plugins show calculator
  ironclaw plugins list --json

Usage:
  ironclaw plugins list [--json] [--config <file>]
  ironclaw plugins show <name> [--json] [--config <file>]

Plugins come from IronClaw's built-in folder and the runtime config's
[runtime] plugins_dir (a plugin there overrides a built-in one of the same
name). Only their plugin.toml is read; a broken plugin is listed with what is
wrong, and the others still load. A manifest uses one with [plugins] use.
`;

/**
 * Runs `ironclaw plugins`.
 *
 * @param args The arguments after `plugins`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function pluginsCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: COMMON_OPTIONS,
      allowPositionals: true,
      strict: true,
    }, "plugins");
    if (values.help) {
      io.out(PLUGINS_HELP);
      return 0;
    }
    const config = await loadRuntimeConfig(configOption(values));
    const index = await indexPlugins([await builtinPluginsDir(), config.runtime.plugins_dir], {
      // An [mcp] plugin's tools: its server's tools/list, done once per version and cached.
      mcpTools: async (m) =>
        (await import("../supervisor/mcp_tools.ts")).listMcpTools(m, {
          progress: (l) => io.err(`${l}\n`),
          secrets: config.secrets,
        }),
    });
    const s = styles(io);
    const [sub, ...rest] = positionals;
    if (sub === "list" && rest.length === 0) {
      if (values.json) {
        io.out(
          JSON.stringify({
            plugins: [...index.plugins.values()].map((p) => ({
              name: p.name,
              version: p.version,
              description: p.description,
              dir: p.dir,
              tools: p.tools.map((t) => t.name),
            })),
            broken: index.broken.map((b) => ({ dir: b.dir, code: b.error.code, message: b.error.message })),
          }) + "\n",
        );
        return 0;
      }
      for (const p of index.plugins.values()) {
        io.out(`${s.bold(p.name.padEnd(16))} ${p.version.padEnd(8)} ${printable(p.description)}\n`);
        io.out(`${"".padEnd(16)} ${s.dim(`tools: ${p.tools.map((t) => t.name).join(", ")}  (${p.dir})`)}\n`);
      }
      for (const b of index.broken) {
        io.err(`${s.red("broken")} ${printable(b.dir)}\n`);
        const lines = b.error instanceof InvalidDocumentError
          ? b.error.issues.map(formatIssue)
          : [`${b.error.message} [${b.error.code}]`];
        for (const l of lines) io.err(`  ${l.replaceAll("\n", "\n  ")}\n`);
      }
      return index.broken.length ? 1 : 0;
    }
    if (sub === "show" && rest.length === 1) {
      const p = index.plugins.get(rest[0]!);
      if (!p) {
        const near = closest(rest[0]!, [...index.plugins.keys()]);
        throw new IronclawError("ERR_NOT_FOUND", `No plugin named "${rest[0]}"`, {
          hint: near ? `did you mean "${near}"?` : "ironclaw plugins list shows the plugins",
        });
      }
      if (values.json) {
        io.out(
          JSON.stringify({
            name: p.name,
            version: p.version,
            description: p.description,
            dir: p.dir,
            tools: p.tools,
            mcp: p.mcp,
            permissions: p.permissions,
            config: p.config,
          }) + "\n",
        );
        return 0;
      }
      io.out(
        `${s.bold(p.name)} ${p.version}  ${printable(p.description)}\n${s.dim(p.dir)}\n${
          p.mcp
            ? `MCP server: ${printable(p.mcp.command ?? p.mcp.url ?? "")} ${
              printable(p.mcp.args.join(" "))
            }\n`
            : ""
        }\n${s.bold("Tools")}\n`,
      );
      for (const t of p.tools) {
        io.out(`  ${t.name}: ${printable(t.description)}\n    input: ${JSON.stringify(t.input)}\n`);
      }
      const perms = p.permissions;
      const grants = [
        ...perms.fs.read.map((x) => `read ${x}`),
        ...perms.fs.write.map((x) => `write ${x}`),
        ...perms.net.allow.map((x) => `net ${typeof x === "string" ? x : JSON.stringify(x)}`),
        ...perms.env.allow.map((x) => `env ${x}`),
        ...perms.run.allow.map((x) => `run ${x}`),
      ];
      io.out(
        `\n${s.bold("Permissions")}\n${
          grants.length ? grants.map((g) => `  ${printable(g)}\n`).join("") : "  none\n"
        }`,
      );
      const keys = Object.entries(p.config);
      io.out(
        `\n${s.bold("Config")} (set in ironclaw.toml as [plugins.${p.name}])\n${
          keys.length ? keys.map(([k, v]) => `  ${k} = ${JSON.stringify(v)}\n`).join("") : "  none\n"
        }`,
      );
      return 0;
    }
    throw new UsageError("Expected plugins list, or plugins show <name>", "ironclaw help plugins");
  } catch (e) {
    return reportError(io, e);
  }
}
