/**
 * The WASI preopens of a grant, as node:wasi and the WASI guard take them:
 * the granted folders that exist, each under a unique guest path
 * ({@linkcode preopenTable}), read-only ones listed by fd.
 *
 * @module
 */

import type { EnforcedGrant } from "../../protocol/grant.ts";
import { preopenTable } from "../../protocol/preopens.ts";

/** The WASI preopens of a grant, computed once per grant object. */
export interface Preopens {
  /** Guest path to folder, in fd order (node:wasi's `preopens`). */
  preopens: Record<string, string>;
  /** The fds of the read-only preopens. */
  readOnlyFds: number[];
  /** The folder behind each preopen fd. */
  folders: Map<number, string>;
}

// One table per grant: the WASI instance and its guard, made apart, must agree on every fd even if a granted
// folder appears or disappears between the two calls.
const computed = new WeakMap<EnforcedGrant, Preopens>();

/**
 * The WASI preopens of a grant: every granted folder that exists, each under a unique guest path. The same grant
 * object always gets the same answer.
 *
 * @param policy The grant.
 * @returns The preopens for node:wasi, the read-only fds, and the folder behind each fd.
 */
export function preopensOf(policy: EnforcedGrant): Preopens {
  const known = computed.get(policy);
  if (known) return known;
  const preopens: Record<string, string> = {};
  const readOnlyFds: number[] = [];
  const folders = new Map<number, string>();
  for (const p of preopenTable(policy, { isFolder })) {
    preopens[p.guest] = p.host;
    folders.set(p.fd, p.host);
    if (p.readOnly) readOnlyFds.push(p.fd);
  }
  const out = { preopens, readOnlyFds, folders };
  computed.set(policy, out);
  return out;
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
