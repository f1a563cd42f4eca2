/**
 * The `tools/list` of a remote `[mcp]` plugin when plugins are indexed, before
 * any run (so before any gate): the supervisor asks it with the gate's own
 * checks, applied here to the plugin's grants: its URL must be allowed by its
 * `[permissions.net]` (else nothing is sent), the host's name is resolved once
 * and refused when an address is private or loopback that is not itself
 * granted, the request connects to the address checked (`pinnedFetch`, TLS
 * verified against the name), its secret goes in at egress as a header, and
 * is redacted from what comes back. The answer is read to at most 8 MiB, within
 * the plugin's `timeout_s`.
 *
 * @module
 */

import { isPrivateAddress } from "../capabilities/net.ts";
import { remoteMcpGrant, remoteMcpSecret } from "../capabilities/mcp_remote.ts";
import { IronclawError } from "../manifests/errors.ts";
import type { SecretConfig } from "../manifests/runtime_config.ts";
import { pluginGrants } from "../plugins/plugin_index.ts";
import type { PluginManifest } from "../plugins/plugin_manifest.ts";
import { McpHttpClient, type McpHttpRequest } from "../protocol/mcp_http.ts";
import { pinnedFetch } from "../protocol/pinned_http.ts";
import { resolveHost } from "./resolver.ts";

/** The largest answer read, in bytes (the gate's `http.fetch` cap). */
const MAX_ANSWER = 8 * 1024 * 1024;

/** Options of {@linkcode remoteMcpClient}. */
export interface RemoteMcpClientOptions {
  /** The runtime config's `[secrets]`, where the plugin's `[mcp] secret` is defined. */
  secrets?: Readonly<Record<string, SecretConfig>>;
}

/**
 * A client of a remote `[mcp]` plugin's server whose requests pass the gate's checks.
 *
 * @param manifest The plugin (its `[mcp]` has a `url`).
 * @param options The runtime config's secrets.
 * @returns The client, and the secret's value to redact (null without one).
 * @throws {IronclawError} `ERR_PLUGIN_MCP` when its `[permissions.net]` does not allow the URL, or its host
 *   resolves to a private or loopback address not granted as such; `ERR_SECRET_UNKNOWN` / `ERR_PLUGIN_MCP` /
 *   `ERR_SECRET_MISSING` for a secret that cannot be sent.
 */
export async function remoteMcpClient(
  manifest: PluginManifest,
  options: RemoteMcpClientOptions = {},
): Promise<{ client: McpHttpClient; secret: string | null }> {
  const mcp = manifest.mcp!;
  const url = new URL(mcp.url!);
  const grants = pluginGrants(manifest);
  const { grant, issue } = remoteMcpGrant(grants);
  if (!grant) {
    throw new IronclawError(issue!.code, issue!.message, { hint: issue!.hint });
  }
  let header: [string, string] | null = null;
  let secret: string | null = null;
  if (mcp.secret !== null) {
    const found = remoteMcpSecret(grants, options.secrets ?? {});
    if (!found.secret) {
      throw new IronclawError(found.issue!.code, found.issue!.message, { hint: found.issue!.hint });
    }
    secret = await secretValue(found.secret);
    header = [found.secret.header, found.secret.format.replace("{value}", secret)];
  }
  const address = await checkedAddress(url, grant.host);
  const timeoutMs = mcp.timeoutS * 1000;
  const send = async (request: McpHttpRequest) => {
    const headers = new Headers(request.headers);
    if (header) headers.set(header[0], header[1]);
    const signal = AbortSignal.timeout(timeoutMs);
    const response = await pinnedFetch(url, {
      address,
      method: request.method,
      headers,
      body: request.body,
      signal,
    })
      .catch((e: Error) => {
        throw new IronclawError(
          "ERR_MCP_START",
          `The MCP server "${url.href}" cannot be reached: ${e.message}`,
          {
            hint: "check its url, and that it answers",
          },
        );
      });
    const body = await readAtMost(response, MAX_ANSWER);
    const redact = (s: string) => secret ? s.replaceAll(secret, "[redacted]") : s;
    return {
      status: response.status,
      headers: Object.fromEntries([...response.headers].map(([k, v]) => [k.toLowerCase(), redact(v)])),
      body: redact(body),
    };
  };
  return { client: new McpHttpClient({ plugin: manifest.name, send }), secret };
}

/** The secret's value, from the supervisor's environment or its file. */
async function secretValue(s: { name: string; env: string | null; file: string | null }): Promise<string> {
  const value = s.env !== null
    ? Deno.env.get(s.env)
    : (await Deno.readTextFile(s.file!).catch(() => undefined))?.trim();
  if (!value) {
    throw new IronclawError("ERR_SECRET_MISSING", `The secret "${s.name}" has no value`, {
      hint: s.env !== null
        ? `set ${s.env} in the supervisor's environment`
        : `write the secret into "${s.file}"`,
    });
  }
  return value;
}

/** The address to connect to, checked as the gate checks it (see `sandbox/gate/net.ts`). */
async function checkedAddress(url: URL, grantHost: string): Promise<string> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const literal = /^[0-9.]+$/.test(host) || host.includes(":");
  if (literal && grantHost === host) return host;
  const addresses = literal ? [host] : await resolveHost(host).catch((e: Error) => {
    throw new IronclawError("ERR_PLUGIN_MCP", `"${host}" cannot be resolved: ${e.message}`, {
      hint: "check the host name of the plugin's [mcp] url",
    });
  });
  const inside = addresses.find(isPrivateAddress);
  if (inside !== undefined) {
    throw new IronclawError(
      "ERR_PLUGIN_MCP",
      `"${host}" resolves to the private or loopback address ${inside}`,
      {
        hint: `grant the address itself ("${inside.includes(":") ? `[${inside}]` : inside}${
          url.port ? `:${url.port}` : ""
        }") in the plugin's [permissions.net] allow, and use it in its url`,
      },
    );
  }
  const address = addresses.find((a) => /^[0-9.]+$/.test(a) || a.includes(":"));
  if (address === undefined) {
    throw new IronclawError("ERR_PLUGIN_MCP", `"${host}" has no address to connect to`, {
      hint: "check the host name",
    });
  }
  return address;
}

/** The body as text, refused past `max` bytes. */
async function readAtMost(response: Response, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
    size += chunk.length;
    if (size > max) {
      await response.body?.cancel().catch(() => {});
      throw new IronclawError("ERR_MCP_PROTOCOL", `The MCP server's answer is larger than ${max} bytes`, {
        hint: "a tools/list answer should be small",
      });
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}
