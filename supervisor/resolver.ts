/**
 * Resolving the host names a run is granted, once, when it starts (DNS
 * pinning). The run's process flags then list the addresses instead of the
 * names, so the sandbox can resolve no name itself, and `dns.resolve`
 * answers from this table only (`requests.ts`): a name that answers
 * differently later (DNS rebinding) changes nothing for the run.
 *
 * @module
 */

import { isAddressLiteral, type NetGrant, pinnableNames, type PinnedAddresses } from "../capabilities/net.ts";
import type { NameServer } from "../manifests/runtime_config.ts";

/** Options of {@linkcode resolveHost} and {@linkcode pinGrantedHosts}. */
export interface ResolverOptions {
  /** The name server to ask (`[runtime] name_server`); default the system's. */
  nameServer?: NameServer | null;
  /** How long one lookup may take, in ms; default 5000. */
  timeoutMs?: number;
}

/**
 * The addresses of a host name (A and AAAA records), IPv4 first. `localhost`
 * and names under `.localhost` are loopback without asking a name server.
 *
 * @param host A host name.
 * @param options The name server and the time allowed.
 * @returns The addresses, at least one.
 * @throws {Error} When the name has no address, or the name server does not answer.
 */
export async function resolveHost(host: string, options: ResolverOptions = {}): Promise<string[]> {
  if (host === "localhost" || host.endsWith(".localhost")) return ["127.0.0.1", "::1"];
  const errors: string[] = [];
  const answers = await Promise.all((["A", "AAAA"] as const).map(async (kind) => {
    try {
      return await Deno.resolveDns(host, kind, {
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        ...(options.nameServer ? { nameServer: options.nameServer } : {}),
      });
    } catch (e) {
      errors.push((e as Error).message);
      return [];
    }
  }));
  const out = answers.flat();
  if (out.length === 0) throw new Error(`"${host}" cannot be resolved: ${errors[0] ?? "no address"}`);
  return out;
}

/**
 * Resolves every host name the grants name exactly (not addresses, not
 * wildcards), once each, at the same time. A name that does not resolve maps
 * to no addresses: the run starts, and the gate refuses that name.
 *
 * @param grants The run's network grants.
 * @param options The name server and the time allowed.
 * @returns The pinned addresses, by name; deeply frozen.
 */
export async function pinGrantedHosts(
  grants: readonly NetGrant[],
  options: ResolverOptions = {},
): Promise<PinnedAddresses> {
  const names = pinnableNames(grants);
  const entries = await Promise.all(names.map(async (name) => {
    const addresses = await resolveHost(name, options).catch(() => []);
    // Only addresses: an answer that is not one would be read as a name by the flags.
    return [name, Object.freeze(addresses.filter(isAddressLiteral))] as const;
  }));
  return Object.freeze(Object.fromEntries(entries));
}
