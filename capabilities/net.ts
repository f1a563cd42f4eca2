/**
 * Network grants: parsing `[capabilities.net] allow` entries, matching a request
 * against them, and telling private addresses apart.
 *
 * @module
 */

import { type Checked, refuse } from "./result.ts";

/** HTTP methods a grant may name. */
export const HTTP_METHODS: readonly string[] = Object.freeze([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
]);

/** One checked network grant. */
export interface NetGrant {
  /** `http` or `https` for a URL grant; null for a host grant, which allows both. */
  scheme: "http" | "https" | null;
  /** Lowercase ASCII host name, `*.suffix` wildcard, IPv4, or IPv6 without brackets. */
  host: string;
  /** The port, or null for any. */
  port: number | null;
  /** Requests' paths must start with this; `/` for a host grant. */
  pathPrefix: string;
  /** Methods allowed, or null for all. */
  methods: readonly string[] | null;
}

/** A `[capabilities.net] allow` entry as written. */
export type NetEntryInput = string | { url?: string; host?: string; methods?: readonly string[] };

/**
 * Checks one net entry: a host, `host:port`, an `http(s)://` URL prefix, or an
 * inline table with `url` or `host` and `methods`.
 *
 * Refused: `*` and any wildcard but a leading `*.` under a registrable name,
 * non-ASCII names (homoglyphs; the hint gives the punycode), user info, query or
 * fragment in a URL, schemes other than http and https, bad ports.
 *
 * @param entry The entry as written.
 * @returns The grant, or why not.
 * @example
 * ```ts
 * import { parseNetGrant } from "./net.ts";
 * const g = parseNetGrant({ url: "https://api.example.com/v1/", methods: ["GET"] });
 * if (!g.ok || g.value.port !== 443 || g.value.pathPrefix !== "/v1/") throw new Error("unexpected");
 * ```
 */
export function parseNetGrant(entry: NetEntryInput): Checked<NetGrant> {
  const text = typeof entry === "string" ? entry : entry.url ?? entry.host ?? "";
  const methods = typeof entry === "string" || !entry.methods ? null : Object.freeze([...entry.methods]);
  if (typeof entry !== "string" && entry.host !== undefined && entry.host.includes("://")) {
    return refuse({
      code: "ERR_NET_INVALID",
      message: `"${entry.host}" is a URL, not a host`,
      hint: `write url = "${entry.host}" instead of host = ...`,
    });
  }
  if (text.includes("://")) return parseUrlGrant(text, methods);
  if (typeof entry !== "string" && entry.url !== undefined) {
    return refuse({
      code: "ERR_NET_INVALID",
      message: `"${text}" is not a URL`,
      hint: `write url = "https://${text}/" or host = "${text}"`,
    });
  }
  const parsed = splitHostPort(text);
  if (!parsed.ok) return parsed;
  const host = checkHost(parsed.value.host);
  if (!host.ok) return host;
  return done(
    { scheme: null, host: host.value, port: parsed.value.port, pathPrefix: "/", methods },
    host.warning,
  );
}

function parseUrlGrant(text: string, methods: readonly string[] | null): Checked<NetGrant> {
  const scheme = text.slice(0, text.indexOf("://")).toLowerCase();
  if (scheme !== "http" && scheme !== "https") {
    return refuse({
      code: "ERR_NET_SCHEME",
      message: `"${scheme}" URLs cannot be granted`,
      hint: 'grant an "https://" (or "http://") URL',
    });
  }
  const authority = text.slice(text.indexOf("://") + 3).split(/[/?#]/, 1)[0] ?? "";
  if (authority.includes("@")) {
    return refuse({
      code: "ERR_NET_INVALID",
      message: `"${text}" carries user info`,
      hint: "remove the user:password@ part; use [capabilities.secrets] for credentials",
    });
  }
  const parsed = splitHostPort(authority);
  if (!parsed.ok) return parsed;
  const host = checkHost(parsed.value.host);
  if (!host.ok) return host;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse({
      code: "ERR_NET_INVALID",
      message: `"${text}" is not a valid URL`,
      hint: 'write a URL such as "https://api.example.com/v1/"',
    });
  }
  if (url.search || url.hash || text.includes("?") || text.includes("#")) {
    return refuse({
      code: "ERR_NET_INVALID",
      message: `"${text}" has a query or fragment`,
      hint: "grant a path prefix only, without ? or #",
    });
  }
  const port = parsed.value.port ?? (scheme === "https" ? 443 : 80);
  return done({ scheme, host: host.value, port, pathPrefix: url.pathname, methods }, host.warning);
}

function done(grant: NetGrant, warning: string | undefined): Checked<NetGrant> {
  const value = Object.freeze(grant);
  return warning === undefined ? { ok: true, value } : { ok: true, value, warning };
}

function splitHostPort(text: string): Checked<{ host: string; port: number | null }> {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) {
      return refuse({
        code: "ERR_NET_INVALID",
        message: `"${text}" has no closing "]"`,
        hint: 'write an IPv6 address as "[::1]:8080"',
      });
    }
    host = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest) {
      if (!rest.startsWith(":")) {
        return refuse({
          code: "ERR_NET_INVALID",
          message: `"${text}" is not host:port`,
          hint: 'write "[::1]:8080"',
        });
      }
      portText = rest.slice(1);
    }
  } else {
    const parts = text.split(":");
    if (parts.length > 2) {
      return refuse({
        code: "ERR_NET_INVALID",
        message: `"${text}" has more than one ":"`,
        hint: 'write an IPv6 address in brackets, as "[::1]:8080"',
      });
    }
    host = parts[0]!;
    portText = parts[1];
  }
  if (portText === undefined) return { ok: true, value: { host, port: null } };
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    return refuse({
      code: "ERR_NET_PORT",
      message: `"${portText}" is not a port`,
      hint: "write a port from 1 to 65535",
    });
  }
  return { ok: true, value: { host, port } };
}

function checkHost(raw: string): Checked<string> {
  if (raw === "") {
    return refuse({
      code: "ERR_NET_INVALID",
      message: "The host is empty",
      hint: 'write a host such as "api.github.com"',
    });
  }
  if (raw.startsWith("[") && raw.endsWith("]")) {
    const inner = raw.slice(1, -1).toLowerCase();
    if (!/^[0-9a-f:.]+$/.test(inner) || !inner.includes(":")) {
      return refuse({
        code: "ERR_NET_INVALID",
        message: `"${raw}" is not an IPv6 address`,
        hint: 'write an IPv6 address such as "[::1]"',
      });
    }
    return isPrivateAddress(inner)
      ? { ok: true, value: inner, warning: `"${raw}" is a private or loopback address` }
      : { ok: true, value: inner };
  }
  if (raw === "*") {
    return refuse({
      code: "ERR_NET_WILDCARD",
      message: `"*" grants every host`,
      hint: "list the hosts the agent needs",
    });
  }
  if (/[^\x21-\x7e]/.test(raw)) {
    let puny = "";
    try {
      puny = new URL(`http://${raw}`).hostname;
    } catch { /* not even a valid international name */ }
    return refuse({
      code: "ERR_NET_NOT_ASCII",
      message: `"${raw}" has characters outside ASCII, which can imitate another host`,
      hint: puny && /^[\x21-\x7e]+$/.test(puny)
        ? `if you really mean this name, write its ASCII form "${puny}"`
        : "write the host name in ASCII",
    });
  }
  let host = raw.toLowerCase();
  if (host.endsWith(".")) host = host.slice(0, -1);
  const wildcard = host.startsWith("*.");
  const name = wildcard ? host.slice(2) : host;
  if (name.includes("*")) {
    return refuse({
      code: "ERR_NET_WILDCARD",
      message: `"${raw}" has a "*" that is not a leading "*."`,
      hint: 'a wildcard may only be a whole first label, as in "*.example.com"',
    });
  }
  if (/^[0-9.]+$/.test(name)) {
    if (wildcard) {
      return refuse({
        code: "ERR_NET_WILDCARD",
        message: `"${raw}" puts a wildcard on an address`,
        hint: "grant the address itself",
      });
    }
    if (!isIPv4(name)) {
      return refuse({
        code: "ERR_NET_INVALID",
        message: `"${raw}" is not a valid IPv4 address`,
        hint: 'write four numbers 0-255 without leading zeros, as "192.0.2.10"',
      });
    }
    return isPrivateAddress(name)
      ? { ok: true, value: name, warning: `"${raw}" is a private or loopback address` }
      : { ok: true, value: name };
  }
  const labels = name.split(".");
  const badLabel = labels.find((l) => !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l));
  if (badLabel !== undefined || name.length > 253) {
    return refuse({
      code: "ERR_NET_INVALID",
      message: `"${raw}" is not a valid host name`,
      hint: "use letters, digits, '-' and '.', each label 1 to 63 characters",
    });
  }
  if (wildcard) {
    if (labels.length < 2) {
      return refuse({
        code: "ERR_NET_WILDCARD",
        message: `"${raw}" covers a whole top-level domain`,
        hint: 'put the wildcard under a name you trust, as "*.example.com"',
      });
    }
    return {
      ok: true,
      value: host,
      warning: `"${raw}" grants every subdomain of "${name}", which a run cannot reach: a run pins each ` +
        `granted name to its addresses when it starts, and a wildcard cannot be enumerated (list the exact names)`,
    };
  }
  return { ok: true, value: host };
}

function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/**
 * The Deno `--allow-net` value of a grant: `host`, `host:port`, `[v6]:port`.
 *
 * @param grant A checked grant.
 * @returns The value for the flag.
 * @example
 * ```ts
 * import { denoNetValue } from "./net.ts";
 * const v = denoNetValue({ scheme: null, host: "::1", port: 8080, pathPrefix: "/", methods: null });
 * if (v !== "[::1]:8080") throw new Error(v);
 * ```
 */
export function denoNetValue(grant: NetGrant): string {
  const host = grant.host.includes(":") ? `[${grant.host}]` : grant.host;
  return grant.port === null ? host : `${host}:${grant.port}`;
}

/**
 * The addresses each granted host name resolved to when a run started, by
 * name (lowercase, no trailing dot). The run's process flags list these in
 * place of the names, and they are the only answers the sandbox gets for the
 * run's life. A name that did not resolve maps to an empty list.
 */
export type PinnedAddresses = Readonly<Record<string, readonly string[]>>;

/**
 * Whether a grant's host is an address (IPv4, or IPv6 without brackets), not a name.
 *
 * @param host A grant's host.
 * @returns True for an IP address.
 * @example
 * ```ts
 * import { isAddressLiteral } from "./net.ts";
 * if (!isAddressLiteral("10.0.0.1") || !isAddressLiteral("::1") || isAddressLiteral("a.example")) throw new Error();
 * ```
 */
export function isAddressLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

/**
 * The host names a run pins when it starts: every granted host that is
 * neither an address nor a wildcard, once each, in grant order. A wildcard
 * cannot be enumerated, so it is never pinned (and cannot be reached by a run).
 *
 * @param grants The granted entries.
 * @returns The names.
 * @example
 * ```ts
 * import { parseNetGrant, pinnableNames } from "./net.ts";
 * const grants = ["a.example", "a.example:8080", "*.b.example", "10.0.0.1"].map((e) => {
 *   const g = parseNetGrant(e);
 *   if (!g.ok) throw new Error();
 *   return g.value;
 * });
 * if (JSON.stringify(pinnableNames(grants)) !== '["a.example"]') throw new Error();
 * ```
 */
export function pinnableNames(grants: readonly NetGrant[]): string[] {
  const names = grants.map((g) => g.host).filter((h) => !isAddressLiteral(h) && !h.startsWith("*."));
  return [...new Set(names)];
}

/**
 * The Deno `--allow-net` values of a grant in a run: an address grant as it
 * is; a name as the addresses it was pinned to (each with the grant's port),
 * none when it did not resolve; a wildcard as nothing (it cannot be pinned).
 * Without `pinned` (what `ironclaw check` shows), the grant's own value.
 *
 * @param grant A checked grant.
 * @param pinned The run's pinned addresses, when it has started.
 * @returns The values for the flag.
 * @example
 * ```ts
 * import { denoNetValues } from "./net.ts";
 * const g = { scheme: null, host: "a.example", port: 443, pathPrefix: "/", methods: null };
 * const v = denoNetValues(g, { "a.example": ["192.0.2.1", "2001:db8::1"] });
 * if (v.join(",") !== "192.0.2.1:443,[2001:db8::1]:443") throw new Error(v.join(","));
 * if (denoNetValues(g)[0] !== "a.example:443") throw new Error();
 * ```
 */
export function denoNetValues(grant: NetGrant, pinned?: PinnedAddresses): string[] {
  if (pinned === undefined || isAddressLiteral(grant.host)) return [denoNetValue(grant)];
  if (grant.host.startsWith("*.")) return [];
  return (pinned[grant.host] ?? []).map((host) => denoNetValue({ ...grant, host }));
}

/**
 * The first grant that allows `method` on `url`, or undefined. Host names
 * match exactly, or as a subdomain of a `*.` grant; ports, schemes, path
 * prefixes (on segment boundaries) and methods must all agree.
 *
 * @param grants The granted entries.
 * @param url The request's URL.
 * @param method The request's method (default `"GET"`, as for `fetch`).
 * @returns The grant that allows it, if any.
 * @example
 * ```ts
 * import { matchNet, parseNetGrant } from "./net.ts";
 * const g = parseNetGrant("https://api.example.com/v1");
 * if (!g.ok) throw new Error();
 * if (!matchNet([g.value], new URL("https://api.example.com/v1/x"), "GET")) throw new Error("should match");
 * if (matchNet([g.value], new URL("https://api.example.com/v10"), "GET")) throw new Error("should not");
 * ```
 */
export function matchNet(grants: readonly NetGrant[], url: URL, method = "GET"): NetGrant | undefined {
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "http" && scheme !== "https") return undefined;
  if (url.username || url.password) return undefined;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  const port = url.port ? Number(url.port) : scheme === "https" ? 443 : 80;
  const m = method.toUpperCase();
  return grants.find((g) =>
    (g.scheme === null || g.scheme === scheme) &&
    (g.host.startsWith("*.") ? host.endsWith(g.host.slice(1)) : host === g.host) &&
    (g.port === null || g.port === port) &&
    pathAllowed(g.pathPrefix, url.pathname) &&
    (g.methods === null || g.methods.includes(m))
  );
}

function pathAllowed(prefix: string, path: string): boolean {
  if (prefix === "/" || prefix === path) return true;
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path.startsWith(prefix + "/");
}

/**
 * True for addresses that reach this machine or a private network: loopback,
 * RFC 1918, link-local, carrier-grade NAT, unspecified, multicast, reserved,
 * IPv6 unique-local and link-local, and IPv4-mapped forms of those.
 *
 * @param ip An IPv4 or IPv6 address (no brackets).
 * @returns Whether it is private.
 * @example
 * ```ts
 * import { isPrivateAddress } from "./net.ts";
 * if (!isPrivateAddress("10.1.2.3") || isPrivateAddress("93.184.216.34")) throw new Error("unexpected");
 * ```
 */
export function isPrivateAddress(ip: string): boolean {
  const a = ip.toLowerCase();
  if (a.includes(":")) {
    const mapped = a.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/);
    if (mapped) return isPrivateAddress(mapped[1]!);
    const words = expandV6(a);
    if (!words) return true;
    const first = words[0]!;
    if (words.every((w) => w === 0)) return true; // ::
    if (words.slice(0, 7).every((w) => w === 0) && words[7] === 1) return true; // ::1
    if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
      return isPrivateAddress(`${words[6]! >> 8}.${words[6]! & 255}.${words[7]! >> 8}.${words[7]! & 255}`);
    }
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
  }
  const p = a.split(".").map(Number);
  if (p.length !== 4 || p.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return true;
  const [x, y] = p as [number, number, number, number];
  return x === 0 || x === 10 || x === 127 || (x === 100 && y >= 64 && y <= 127) || (x === 169 && y === 254) ||
    (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 192 && y === 0 && p[2] === 0) ||
    (x === 198 && (y === 18 || y === 19)) || x >= 224;
}

function expandV6(a: string): number[] | undefined {
  const halves = a.split("::");
  if (halves.length > 2) return undefined;
  const parse = (
    s: string,
  ) => (s === "" ? [] : s.split(":").map((w) => (/^[0-9a-f]{1,4}$/.test(w) ? parseInt(w, 16) : NaN)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const words = [...head, ...Array(fill).fill(0), ...tail];
  return words.some(Number.isNaN) ? undefined : words;
}
