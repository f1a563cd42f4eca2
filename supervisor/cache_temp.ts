/**
 * Temporary siblings of cache entries. A cache entry (a prepared component, a
 * sandbox bundle, a warmed Deno cache) is built under a temporary name beside
 * its place and renamed into it, so it appears whole or not at all. The
 * temporary name says which process made it (pid and start time), so a later
 * process can tell a folder left by one that was killed mid-way from one still
 * being written, and remove it.
 *
 * @module
 */

import { join } from "node:path";
import { processStartMark } from "./store/owner.ts";

/** `<entry>.<pid>.<start mark>.<random>.tmp`: the start mark is empty where there is no `/proc`. */
const TEMP_NAME = /\.(\d+)\.(\d*)\.[0-9a-f]{8,}\.tmp$/;

/** How old a temporary sibling whose maker cannot be told alive or dead must be before it is removed. */
const UNKNOWN_MAKER_MS = 24 * 60 * 60 * 1000;

/**
 * A unique temporary name beside `path`, naming this process.
 *
 * @param path The entry's final path.
 * @returns `<path>.<pid>.<start mark>.<random>.tmp`.
 * @example
 * ```ts
 * import { tempSibling } from "./cache_temp.ts";
 * const tmp = tempSibling("/cache/components/abc");
 * if (!tmp.startsWith(`/cache/components/abc.${Deno.pid}.`) || !tmp.endsWith(".tmp")) throw new Error(tmp);
 * ```
 */
export function tempSibling(path: string): string {
  const random = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  return `${path}.${Deno.pid}.${processStartMark(Deno.pid) ?? ""}.${random}.tmp`;
}

/**
 * Whether a temporary sibling was left by a process that is gone: its pid runs no more, or runs another
 * process (a different start time). When that cannot be told (no `/proc`), only one older than a day counts.
 *
 * @param name The folder or file name.
 * @param mtime When it was last changed.
 * @returns True for a stale temporary sibling; false for any other name.
 * @example
 * ```ts
 * import { staleTemp, tempSibling } from "./cache_temp.ts";
 * if (staleTemp(tempSibling("entry"), new Date())) throw new Error("this process is alive");
 * if (staleTemp("entry", new Date(0))) throw new Error("not a temporary name");
 * ```
 */
export function staleTemp(name: string, mtime: Date | null): boolean {
  const match = TEMP_NAME.exec(name);
  if (!match) return false;
  const [, pid, mark] = match;
  const here = processStartMark(Deno.pid);
  if (here !== null && mark) return processStartMark(Number(pid)) !== mark;
  return Date.now() - (mtime?.getTime() ?? 0) > UNKNOWN_MAKER_MS;
}

/**
 * Removes the temporary siblings in `dir` left by processes that are gone (killed mid-way, or out of disk
 * before they could clean up). Never fails: a folder it cannot read or remove is left for the next time.
 *
 * @param dir The folder the cache entries are in.
 * @returns The names removed.
 * @example
 * ```ts
 * import { removeStaleTemps } from "./cache_temp.ts";
 * const removed = await removeStaleTemps("/nonexistent");
 * if (removed.length !== 0) throw new Error();
 * ```
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!TEMP_NAME.test(entry.name)) continue;
      const path = join(dir, entry.name);
      const info = await Deno.lstat(path).catch(() => null);
      if (!info || !staleTemp(entry.name, info.mtime)) continue;
      await Deno.remove(path, { recursive: true }).then(() => removed.push(entry.name), () => {});
    }
  } catch { /* no folder yet, or unreadable: nothing to clean */ }
  return removed;
}
