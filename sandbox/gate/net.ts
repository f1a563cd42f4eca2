/**
 * The network op: `http.fetch`. Scheme, host, port, path prefix and method
 * must match one grant; a name is resolved (by the supervisor, from the
 * addresses the run pinned when it started) and refused when any of its
 * addresses is private or loopback, unless that address itself is granted.
 * The request then goes to the address that was checked (`pinned_http.ts`):
 * nothing resolves the name a second time, so a name that answers differently
 * later (DNS rebinding) cannot redirect it. Secrets bound to the host go in at
 * egress and are redacted from what comes back.
 *
 * @module
 */

import { isPrivateAddress, matchNet } from "../../capabilities/net.ts";
import type { SecretValue } from "../../protocol/protocol.ts";
import { readCapped } from "./_stream.ts";
import { pinnedFetch } from "../../protocol/pinned_http.ts";
import { denied, invalid, ioAsync } from "./errors.ts";
import { type Args, type FamilyOps, type GateContext, MAX_HTTP_BYTES, OP_TIMEOUT_MS } from "./family.ts";

/** Where a request connects. */
export interface NetPin {
  /** The address the gate checked, or null to connect by the URL's host (only with the gate's checks off). */
  address: string | null;
}

/** The network calls `http.fetch` makes (the platform's, or a test's fakes). */
export interface NetIo {
  /** Like `fetch`, but connecting to `pin.address`; redirects are returned, never followed. */
  fetch(url: URL, init: RequestInit, pin: NetPin): Promise<Response>;
  /** Resolves a host name to its addresses; rejects when it has none. */
  resolveHost(host: string): Promise<string[]>;
}

/** Options of {@linkcode denoNetIo}. */
export interface DenoNetIoOptions {
  /** More certificate authorities to trust (PEM), for tests. */
  caCerts?: string[];
}

/**
 * The real network calls: requests by {@linkcode pinnedFetch} to the checked address.
 *
 * @param resolveHost How names are resolved (the supervisor does it: the sandbox cannot reach a name server);
 *   by default, directly.
 * @param options Certificate authorities to trust besides the system's.
 * @returns The calls.
 */
export function denoNetIo(
  resolveHost?: (host: string) => Promise<string[]>,
  options: DenoNetIoOptions = {},
): NetIo {
  return {
    fetch: (url, init, pin) =>
      pinnedFetch(url, {
        ...(pin.address === null ? {} : { address: pin.address }),
        ...(init.method ? { method: init.method } : {}),
        ...(init.headers ? { headers: init.headers } : {}),
        ...(typeof init.body === "string" ? { body: init.body } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
        ...(options.caCerts ? { caCerts: options.caCerts } : {}),
      }),
    resolveHost: resolveHost ?? resolveDirectly,
  };
}

/** Options of {@linkcode netOps}. */
export interface NetOpsOptions {
  /** Secret values to inject as headers into requests to their hosts, and to redact from what comes back. */
  secrets: readonly SecretValue[];
  /**
   * The plugin the gate acts for, or null for the agent: a secret of a plugin's remote MCP server is injected
   * only into that plugin's requests (every secret is redacted from every answer).
   */
  actor?: string | null;
}

/**
 * The network op of one gate.
 *
 * @param ctx The gate's Policy, checks and grants.
 * @param net The network calls.
 * @param options The secrets for egress.
 * @returns The handler of `http.fetch`.
 */
export function netOps(ctx: GateContext, net: NetIo, options: NetOpsOptions): FamilyOps<"net"> {
  return {
    "http.fetch": {
      precheck: (args) => void netGrant(ctx, args, options.actor ?? null),
      run: async (args) => {
        const actor = options.actor ?? null;
        const { url, method, rule, grantHost } = netGrant(ctx, args, actor);
        // With the gate's checks off (tests only) the request connects by name: the process flags decide.
        const address = grantHost === null ? null : await checkedAddress(net, url, { grantHost, actor });
        const own = options.secrets.filter((s) => s.plugin === undefined || s.plugin === actor);
        const headers = requestHeaders(args, url, own);
        if (args.body !== undefined && typeof args.body !== "string") {
          throw invalid('"body" must be a string', "serialise the body");
        }
        const init: RequestInit = {
          method,
          headers,
          redirect: "manual",
          signal: AbortSignal.timeout(OP_TIMEOUT_MS),
        };
        if (args.body !== undefined) init.body = args.body as string;
        const response = await ioAsync(() => net.fetch(url, init, { address }), url.href);
        const body = await readCapped(response.body, MAX_HTTP_BYTES);
        // A server that echoes a secret back does not hand it to the guest.
        const redact = (text: string) =>
          options.secrets.reduce((t, s) => (s.value ? t.replaceAll(s.value, "[redacted]") : t), text);
        return {
          value: {
            status: response.status,
            headers: Object.fromEntries([...response.headers].map(([k, v]) => [k, redact(v)])),
            body: redact(new TextDecoder().decode(body)),
          },
          rule,
        };
      },
    },
  };
}

/**
 * Where a network grant is added: the manifest's `[capabilities.net] allow`, or for a plugin's own requests
 * also its `plugin.toml`'s `[permissions.net]` (a plugin's gate may use both).
 */
function grantPlace(actor: string | null): string {
  return actor === null
    ? "[capabilities.net] allow in the manifest"
    : `[permissions.net] of plugin "${actor}" (its plugin.toml), or [capabilities.net] allow in the manifest`;
}

/** The checks of http.fetch that need no waiting: the URL, the method and the grant. */
function netGrant(
  ctx: GateContext,
  args: Args,
  actor: string | null,
): { url: URL; method: string; rule: string; grantHost: string | null } {
  if (typeof args.url !== "string") {
    throw invalid('"url" must be a string', 'pass {"url": "https://api.example.com/"}');
  }
  let url: URL;
  try {
    url = new URL(args.url);
  } catch {
    throw invalid(`"${args.url}" is not a URL`, "pass an absolute http or https URL");
  }
  const method = typeof args.method === "string" ? args.method.toUpperCase() : "GET";
  if (!/^[A-Z]{1,16}$/.test(method)) {
    throw invalid(`"${args.method}" is not an HTTP method`, 'use "GET", "POST"...');
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw denied(`"${url.protocol}" URLs cannot be fetched`, {
      hint: "use an http or https URL",
      rule: "net.scheme",
    });
  }
  if (!ctx.checks) return { url, method, rule: "unchecked", grantHost: null };
  const grant = matchNet(ctx.mine(ctx.policy.net), url, method);
  if (!grant) {
    throw denied(`${method} ${url.origin}${url.pathname} is not granted`, {
      hint: `add "${url.host}" (or a URL prefix with ${method}) to ${grantPlace(actor)}`,
      rule: "net",
    });
  }
  const port = grant.port ? `:${grant.port}` : "";
  const rule = `net:${grant.scheme ? `${grant.scheme}://` : ""}${grant.host}${port}${grant.pathPrefix}`;
  return { url, method, rule, grantHost: grant.host };
}

/** The request's headers: the guest's, checked, then the secrets bound to this host (the guest never holds them). */
function requestHeaders(args: Args, url: URL, secrets: readonly SecretValue[]): Headers {
  const headers = new Headers();
  if (args.headers !== undefined) {
    if (typeof args.headers !== "object" || args.headers === null) {
      throw invalid('"headers" must be an object', 'pass {"accept": "application/json"}');
    }
    for (const [k, v] of Object.entries(args.headers as Record<string, unknown>)) {
      if (typeof v !== "string") {
        throw invalid(`Header "${k}" must be a string`, "pass header values as strings");
      }
      try {
        headers.set(k, v);
      } catch {
        throw invalid(`"${k}" is not a valid header`, "check the header name and value");
      }
    }
  }
  for (const s of secrets) {
    if (s.hosts.includes(url.host) || s.hosts.includes(url.hostname)) {
      headers.set(s.header, s.format.replace("{value}", s.value));
    }
  }
  return headers;
}

/**
 * The address a request connects to, checked: private and loopback addresses
 * only by an explicit grant of that address; a name is resolved first (by the
 * supervisor, failing closed), and refused when any of its addresses is
 * private. The request connects to the first of the addresses checked, and
 * nothing resolves the name again.
 */
async function checkedAddress(
  net: NetIo,
  url: URL,
  grant: { grantHost: string; actor: string | null },
): Promise<string> {
  const { grantHost } = grant;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const literal = /^[0-9.]+$/.test(host) || host.includes(":");
  if (literal && grantHost === host) return host;
  let addresses: string[];
  if (literal) {
    addresses = [host];
  } else if (host === "localhost" || host.endsWith(".localhost")) {
    addresses = ["127.0.0.1", "::1"];
  } else {
    try {
      addresses = await net.resolveHost(host);
    } catch (e) {
      // The supervisor's refusal says why (a name not granted, under a wildcard, not resolved at the start).
      const hint = (e as { hint?: unknown }).hint;
      throw denied(`"${host}" cannot be resolved: ${(e as Error).message}`, {
        hint: typeof hint === "string" && hint !== "" ? hint : "check the host name",
        rule: "net.dns",
      });
    }
  }
  const inside = addresses.find(isPrivateAddress);
  if (inside !== undefined) {
    throw denied(`"${host}" resolves to the private or loopback address ${inside}`, {
      hint: `grant the address itself ("${inside.includes(":") ? `[${inside}]` : inside}${
        url.port ? `:${url.port}` : ""
      }") in ${grantPlace(grant.actor)} if it must be reached`,
      rule: "net.private",
    });
  }
  // Only an address is connected to: an answer that is not one would be resolved by name again.
  const address = addresses.find((a) => /^[0-9.]+$/.test(a) || a.includes(":"));
  if (address === undefined) {
    throw denied(`"${host}" has no address to connect to`, { hint: "check the host name", rule: "net.dns" });
  }
  return address;
}

async function resolveDirectly(host: string): Promise<string[]> {
  const out: string[] = [];
  for (const kind of ["A", "AAAA"] as const) {
    try {
      out.push(...await Deno.resolveDns(host, kind));
    } catch { /* none of this kind */ }
  }
  if (out.length === 0) throw new Error("no address");
  return out;
}
