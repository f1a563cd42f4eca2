/**
 * Which guest path each granted folder gets as a WASI preview1 preopen, and
 * its fd. Shared by the sandbox (which preopens them) and `ironclaw check`
 * (which shows them), so the two cannot differ. Pure: whether a folder exists
 * is asked of the caller.
 *
 * Guest paths are unique: when two granted folders would get the same one
 * (`notes` beside the manifest and an absolute `/notes`, say), the later one
 * gets `-2` (then `-3`, ...) appended. Without that, node:wasi would keep one
 * of the two under the shared name and the fds would no longer match the
 * grants, so a read-only folder could end up writable.
 *
 * @module
 */

import { posix } from "node:path";
import type { EnforcedGrant } from "./grant.ts";
import { isWithin } from "../capabilities/paths.ts";

/** The first fd of the preopens: 0, 1 and 2 are stdin, stdout and stderr. */
export const FIRST_PREOPEN_FD = 3;

/** One preopen of a WASI guest. */
export interface Preopen {
  /** The path the guest sees it under (unique among the preopens). */
  readonly guest: string;
  /** The granted folder. */
  readonly host: string;
  /** Its fd in the guest: 3, 4, ... in order. */
  readonly fd: number;
  /** Whether only read access is granted (the WASI guard keeps it so). */
  readonly readOnly: boolean;
}

/** Options of {@linkcode preopenTable}. */
export interface PreopenTableOptions {
  /** Whether a path is an existing folder (node:wasi preopens only those); default: every path is. */
  isFolder?: (path: string) => boolean;
}

/**
 * The guest path of a granted folder, before collisions are resolved: `/notes` for `<manifest folder>/notes`,
 * else its absolute path.
 *
 * @param policy The grant (its manifest folder).
 * @param hostPath The granted folder, absolute.
 * @returns The guest path.
 * @example
 * ```ts
 * import { guestPath } from "./preopens.ts";
 * const policy = { baseDir: "/agent" } as Parameters<typeof guestPath>[0];
 * if (guestPath(policy, "/agent/notes") !== "/notes") throw new Error("unexpected");
 * ```
 */
export function guestPath(policy: Pick<EnforcedGrant, "baseDir">, hostPath: string): string {
  if (isWithin(policy.baseDir, hostPath)) return "/" + posix.relative(policy.baseDir, hostPath);
  return hostPath;
}

/**
 * The preopens of a grant: every granted folder that exists (writable ones first, then read-only ones, each in
 * grant order), under a unique guest path, with its fd.
 *
 * @param policy The grant.
 * @param options `isFolder`: which granted paths are folders.
 * @returns The preopens, in fd order.
 * @example
 * ```ts
 * import { preopenTable } from "./preopens.ts";
 * const policy = {
 *   baseDir: "/agent",
 *   fs: { read: [{ path: "/agent/notes", from: [] }, { path: "/notes", from: [] }], write: [] },
 * } as unknown as Parameters<typeof preopenTable>[0];
 * const table = preopenTable(policy);
 * if (table.map((p) => p.guest).join() !== "/notes,/notes-2") throw new Error("unexpected");
 * ```
 */
export function preopenTable(policy: EnforcedGrant, options: PreopenTableOptions = {}): Preopen[] {
  const isFolder = options.isFolder ?? (() => true);
  const writable = new Set(policy.fs.write.map((g) => g.path));
  const folders = [...new Set([...policy.fs.write, ...policy.fs.read].map((g) => g.path))].filter(isFolder);
  const taken = new Set<string>();
  return folders.map((host, n) => {
    const wanted = guestPath(policy, host);
    let guest = wanted;
    for (let k = 2; taken.has(guest); k++) guest = `${wanted === "/" ? "" : wanted}-${k}`;
    taken.add(guest);
    return { guest, host, fd: FIRST_PREOPEN_FD + n, readOnly: !writable.has(host) };
  });
}
