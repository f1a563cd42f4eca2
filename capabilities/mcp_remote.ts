/**
 * The grants of a remote `[mcp]` plugin (`url`): its server is reached only
 * through the sandbox's gate, as an `http.fetch` of the plugin, so its URL must
 * be allowed by the plugin's own `[permissions.net]` (the agent's grants are
 * not asked), and the secret its `[mcp] secret` names must be a secret of the
 * runtime config bound to the URL's host. Pure.
 *
 * @module
 */

import type { Issue } from "../manifests/errors.ts";
import type { SecretConfig } from "../manifests/runtime_config.ts";
import { matchNet, type NetGrant, parseNetGrant } from "./net.ts";
import type { GrantOrigin, PluginGrants, SecretGrant } from "./policy.ts";

/**
 * The plugin's net grants that allow its server's URL, or the problem.
 *
 * @param plugin The plugin (with a remote `mcp`).
 * @returns The granting rule, or the issue naming what to grant.
 */
export function remoteMcpGrant(plugin: PluginGrants): { grant: NetGrant | null; issue: Issue | null } {
  const url = new URL(plugin.mcp!.url!);
  const grants = plugin.net.flatMap((entry) => {
    const g = parseNetGrant(entry);
    return g.ok ? [g.value] : [];
  });
  const grant = matchNet(grants, url, "POST") ?? null;
  if (grant) return { grant, issue: null };
  return {
    grant: null,
    issue: {
      code: "ERR_PLUGIN_MCP",
      message:
        `The MCP server "${url.href}" of plugin "${plugin.name}" is not granted by its [permissions.net]`,
      hint: `add "${url.host}" to [permissions.net] allow in its plugin.toml` +
        (isLoopbackHost(url.hostname) ? " (a loopback or private address must be granted as written)" : ""),
      pos: plugin.at(["mcp", "url"]),
    },
  };
}

/** Whether a URL's host is a loopback name or address (an `http:` server is allowed only there). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::1";
}

/**
 * The secret a remote `[mcp]` plugin names, as a grant of the plugin, or the problem.
 *
 * @param plugin The plugin (with a remote `mcp` naming a secret).
 * @param secrets The runtime config's `[secrets]`.
 * @returns The secret's grant (its origin is the plugin's `[mcp] secret` line), or the issue.
 */
export function remoteMcpSecret(
  plugin: PluginGrants,
  secrets: Readonly<Record<string, SecretConfig>>,
): { secret: SecretGrant | null; issue: Issue | null } {
  const name = plugin.mcp!.secret!;
  const at: GrantOrigin = { source: `plugin ${plugin.name}`, ...plugin.at(["mcp", "secret"]) };
  const s = Object.hasOwn(secrets, name) ? secrets[name]! : undefined;
  if (!s) {
    return {
      secret: null,
      issue: {
        code: "ERR_SECRET_UNKNOWN",
        message:
          `Plugin "${plugin.name}" names the secret "${name}", which the runtime config does not define`,
        hint: `define it in ironclaw.toml: [secrets.${name}] env = "VARIABLE", hosts = ["${
          new URL(plugin.mcp!.url!).host
        }"]`,
        pos: at,
      },
    };
  }
  const url = new URL(plugin.mcp!.url!);
  if (!s.hosts.includes(url.host) && !s.hosts.includes(url.hostname)) {
    return {
      secret: null,
      issue: {
        code: "ERR_PLUGIN_MCP",
        message:
          `The secret "${name}" is not bound to "${url.host}", the host of plugin "${plugin.name}"'s server`,
        hint: `add "${url.host}" to hosts under [secrets.${name}] in ironclaw.toml, or name another secret`,
        pos: at,
      },
    };
  }
  return {
    secret: {
      name,
      env: s.env ?? null,
      file: s.file ?? null,
      hosts: s.hosts,
      header: s.header,
      format: s.format,
      from: [at],
      plugin: plugin.name,
    },
    issue: null,
  };
}
