/**
 * The WASI preopens of a grant: which granted folders a preview1 guest gets,
 * under which guest paths, and which of them are read-only.
 *
 * @module
 */

import { posix } from "node:path";
import type { EnforcedGrant } from "../../protocol/grant.ts";
import { isWithin } from "../../capabilities/paths.ts";

/** The guest path of a granted folder: `/notes` for `<manifest folder>/notes`, else its absolute path. */
export function guestPath(policy: EnforcedGrant, hostPath: string): string {
  if (isWithin(policy.baseDir, hostPath)) return "/" + posix.relative(policy.baseDir, hostPath);
  return hostPath;
}

/** The WASI preopens of a Policy: every granted folder, read-only ones listed with their fds. */
export function preopensOf(
  policy: EnforcedGrant,
): { preopens: Record<string, string>; readOnlyFds: number[] } {
  const preopens: Record<string, string> = {};
  const readOnlyFds: number[] = [];
  const writable = new Set(policy.fs.write.map((g) => g.path));
  const folders = [...new Set([...policy.fs.write, ...policy.fs.read].map((g) => g.path))].filter(isFolder);
  folders.forEach((path, n) => {
    preopens[guestPath(policy, path)] = path;
    if (!writable.has(path)) readOnlyFds.push(3 + n);
  });
  return { preopens, readOnlyFds };
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
