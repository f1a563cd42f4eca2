/**
 * A guard around node:wasi's imports. Deno's WASI ignores WASI rights,
 * checks links only when their target exists (an `O_CREAT` through a
 * dangling link creates its target, wherever it is), answers ENOENT or
 * ENOTCAPABLE for outside paths depending on whether they exist, and opens
 * host paths by name, so the import object is wrapped:
 * - a file descriptor that comes from a read-only preopen may not create,
 *   write, truncate, rename, link or remove; files opened from such a folder
 *   are opened without write rights, so the OS opens them read-only too;
 * - no symbolic link may be made anywhere: uvwasi would make one that points
 *   out of the sandbox, and Deno's permission flags do not look through links;
 * - no hard link may be made, and no regular file with more than one link
 *   opened, unless hard links are allowed (`allowHardlinks`): another name of
 *   such a file may lie outside the grants;
 * - every path a call names is walked on the host first, component by
 *   component with `lstat` and following links, below the folder behind its
 *   directory fd (the guard keeps fd -> folder for the preopens and the
 *   folders opened from them). A path that leaves that folder, by `..`, by an
 *   absolute path or through a link, is refused with ENOTCAPABLE whether or
 *   not what it names exists, so the answer tells nothing of the outside;
 * - `path_open` never creates, truncates or opens for writing through a
 *   symbolic link, makes new files itself with create-new semantics, and
 *   checks every fd it opened against the path it walked (see `wasi_open.ts`).
 *
 * Remaining race windows, all needing another process that changes a granted
 * folder while the guest runs (the guest cannot make links itself):
 * - Between the walk and the open, a folder on the way can be replaced by a
 *   link out of the grants. A new file is made with `O_CREAT | O_EXCL`, which
 *   does not follow a final link but does follow links in the folders above
 *   it, so in that window an empty file can be made outside (Deno has no
 *   `openat` to pin the folder); the guard removes it again when the open
 *   that follows fails or is refused and the path still names it.
 * - What node:wasi then opens is compared with the walked path by type, size
 *   and modification time (to the millisecond), because node:wasi reports
 *   device and inode as 0: a file outside that matches all three, swapped in
 *   and back out within the window, would pass. Truncation is done only
 *   after that check, on the fd.
 * - The same window lets `path_create_directory`, `path_unlink_file`,
 *   `path_remove_directory`, `path_rename`, `path_readlink` and
 *   `path_filestat_*` act through a folder swapped for a link after the
 *   walk: their effect is not verified.
 * - Hard links are counted on the host path after the open (node:wasi
 *   reports every nlink as 1); a link made after that check is not seen, but
 *   the fd still names the file that was checked.
 *
 * @module
 */

import { checkPath, ERRNO, guardedPathOpen, type GuardState, type WasiFn } from "./wasi_open.ts";

/** Calls that change what a path names, with the positions of their directory fd arguments. */
const PATH_WRITES: Record<string, number[]> = {
  path_create_directory: [0],
  path_remove_directory: [0],
  path_unlink_file: [0],
  path_symlink: [2],
  path_rename: [0, 3],
  path_link: [0, 3],
  path_filestat_set_times: [0],
};
/** Calls that change an open file, with the position of their fd argument. */
const FD_WRITES: Record<string, number[]> = {
  fd_write: [0],
  fd_pwrite: [0],
  fd_allocate: [0],
  fd_filestat_set_size: [0],
  fd_filestat_set_times: [0],
  fd_fdstat_set_flags: [0],
};
/**
 * Calls that name paths (path_open aside), with the positions of each path's directory fd, pointer and length,
 * and of the lookup flags that say whether a final link is followed (-1: never followed).
 */
const PATH_ARGS: Record<string, [fd: number, ptr: number, len: number, flags: number][]> = {
  path_create_directory: [[0, 1, 2, -1]],
  path_remove_directory: [[0, 1, 2, -1]],
  path_unlink_file: [[0, 1, 2, -1]],
  path_readlink: [[0, 1, 2, -1]],
  path_filestat_get: [[0, 2, 3, 1]],
  path_filestat_set_times: [[0, 2, 3, 1]],
  path_rename: [[0, 1, 2, -1], [3, 4, 5, -1]],
  path_link: [[0, 2, 3, 1], [4, 5, 6, -1]],
};

/** What {@linkcode guardWasi} keeps read-only, and where it reports refusals. */
export interface WasiGuardOptions {
  /** The fds of the read-only preopens (3, 4, ... in preopen order). */
  readOnlyFds: readonly number[];
  /**
   * The rule a write to a read-only fd is refused by, for the record: `fs.read-only` by default, `approval`
   * when the preopens are read-only because writes need a person's approval.
   */
  readOnlyRule?: string;
  /** The folder behind each preopen fd; a path relative to an fd not here (nor opened from one) is refused. */
  folders: ReadonlyMap<number, string>;
  /** Whether files with more than one hard link may be opened and hard links made (default false). */
  allowHardlinks?: boolean;
  /** The guest's memory, once instantiated. */
  memory: () => WebAssembly.Memory;
  /** Told of each refused call and the rule that refused it (`fs.read-only`, `fs.outside`, ...), for the record. */
  onRefused: (call: string, rule: string) => void;
}

/**
 * Wraps WASI imports so that the given preopen fds, and every fd opened from them, stay read-only, no path
 * leaves its folder, and no symbolic link (nor, unless allowed, hard link) can be made or written through.
 *
 * @param wasi The `wasiImport` object of a node:wasi instance.
 * @param guard The read-only preopen fds (`readOnlyFds`), the folder behind each preopen fd (`folders`),
 *   whether hard links are allowed (`allowHardlinks`), the guest's memory once instantiated (`memory`), and who
 *   is told of each refused call, for the record (`onRefused`).
 * @returns The wrapped import object.
 */
export function guardWasi(wasi: Record<string, WasiFn>, guard: WasiGuardOptions): Record<string, WasiFn> {
  const state: GuardState = {
    wasi,
    memory: guard.memory,
    ro: new Set(guard.readOnlyFds),
    dirs: new Map(guard.folders),
    allowHardlinks: guard.allowHardlinks ?? false,
    readOnlyRule: guard.readOnlyRule ?? "fs.read-only",
    refuse: (call, rule) => {
      guard.onRefused(call, rule);
      return ERRNO.NOTCAPABLE;
    },
  };
  const out: Record<string, WasiFn> = { ...wasi };
  for (const [name, paths] of Object.entries(PATH_ARGS)) {
    const original = wasi[name];
    if (original) out[name] = checkingPaths(state, name, paths, original);
  }
  for (const [name, positions] of Object.entries({ ...PATH_WRITES, ...FD_WRITES })) {
    const next = out[name];
    if (!next) continue;
    out[name] = (...args: unknown[]) => {
      if (positions.some((i) => state.ro.has(args[i] as number))) {
        return state.refuse(name, state.readOnlyRule);
      }
      return next(...args);
    };
  }
  out.path_symlink = () => state.refuse("path_symlink", "fs.no-symlinks");
  if (!state.allowHardlinks) out.path_link = () => state.refuse("path_link", "fs.no-hardlinks");
  out.path_open = guardedPathOpen(state);
  out.fd_close = (fd: number) => {
    const rc = wasi.fd_close!(fd);
    if (rc === 0) forget(state, fd);
    return rc;
  };
  out.fd_renumber = (from: number, to: number) => {
    if (state.ro.has(from) !== state.ro.has(to)) return state.refuse("fd_renumber", "fs.read-only");
    const rc = wasi.fd_renumber!(from, to);
    if (rc === 0) {
      const dir = state.dirs.get(from);
      const readOnly = state.ro.has(from);
      forget(state, from);
      forget(state, to);
      if (dir !== undefined) state.dirs.set(to, dir);
      if (readOnly) state.ro.add(to);
    }
    return rc;
  };
  return out;
}

/** A wrapper of a path call that first checks each path it names. */
function checkingPaths(
  state: GuardState,
  name: string,
  paths: [number, number, number, number][],
  original: WasiFn,
): WasiFn {
  return (...args: unknown[]) => {
    for (const [fd, ptr, len, flags] of paths) {
      const follow = flags >= 0 && ((args[flags] as number) & 1) !== 0;
      const rc = checkPath(state, name, {
        fd: args[fd] as number,
        ptr: args[ptr] as number,
        len: args[len] as number,
        follow,
      });
      if (rc !== 0) return rc;
    }
    return original(...args);
  };
}

function forget(state: GuardState, fd: number): void {
  state.dirs.delete(fd);
  state.ro.delete(fd);
}
