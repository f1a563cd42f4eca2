/**
 * A guard around node:wasi's imports. Deno's WASI (uvwasi) ignores WASI
 * rights, so the import object is wrapped:
 * - a file descriptor that comes from a read-only preopen may not create,
 *   write, truncate, rename, link or remove; files opened from such a folder
 *   are opened without write rights, so the OS opens them read-only too;
 * - no symbolic link may be made anywhere: uvwasi would make one that points
 *   out of the sandbox, and Deno's permission flags do not look through links.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type WasiFn = (...args: any[]) => any;

/** WASI errno ENOTCAPABLE. */
const ENOTCAPABLE = 76;
/** Rights that make uvwasi open a file for writing: fd_datasync, fd_write, fd_allocate, fd_filestat_set_size. */
const WRITE_RIGHTS = (1n << 0n) | (1n << 6n) | (1n << 8n) | (1n << 22n);
/** path_open flags that change a file: O_CREAT, O_TRUNC. */
const CHANGING_OFLAGS = 1 | 8;

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

/** What {@linkcode guardWasi} keeps read-only, and where it reports refusals. */
export interface WasiGuardOptions {
  /** The fds of the read-only preopens (3, 4, ... in preopen order). */
  readOnlyFds: readonly number[];
  /** The guest's memory, once instantiated. */
  memory: () => WebAssembly.Memory;
  /** Told of each refused call, for the record. */
  onRefused: (call: string) => void;
}

/**
 * Wraps WASI imports so that the given preopen fds, and every fd opened from them, stay read-only,
 * and no symbolic link can be made.
 *
 * @param wasi The `wasiImport` object of a node:wasi instance.
 * @param guard The fds of the read-only preopens (`readOnlyFds`: 3, 4, ... in preopen order), the guest's
 *   memory once instantiated (`memory`), and who is told of each refused call, for the record (`onRefused`).
 * @returns The wrapped import object.
 */
export function guardWasi(
  wasi: Record<string, WasiFn>,
  { readOnlyFds, memory, onRefused }: WasiGuardOptions,
): Record<string, WasiFn> {
  const ro = new Set(readOnlyFds);
  const out: Record<string, WasiFn> = { ...wasi };
  for (const [name, positions] of Object.entries({ ...PATH_WRITES, ...FD_WRITES })) {
    const original = wasi[name];
    if (!original) continue;
    out[name] = (...args: unknown[]) => {
      if (positions.some((i) => ro.has(args[i] as number))) {
        onRefused(name);
        return ENOTCAPABLE;
      }
      return original(...args);
    };
  }
  // path_open(dirfd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, fdflags, fd_out)
  out.path_symlink = () => {
    onRefused("path_symlink");
    return ENOTCAPABLE;
  };
  out.path_open = (
    dirfd: number,
    dirflags: number,
    path: number,
    len: number,
    oflags: number,
    base: bigint,
    inheriting: bigint,
    fdflags: number,
    fdOut: number,
  ) => {
    const readOnly = ro.has(dirfd);
    if (readOnly && ((oflags & CHANGING_OFLAGS) !== 0 || (BigInt(base) & WRITE_RIGHTS) !== 0n)) {
      onRefused("path_open for writing");
      return ENOTCAPABLE;
    }
    const inherit = readOnly ? BigInt(inheriting) & ~WRITE_RIGHTS : inheriting;
    const rc = wasi.path_open!(dirfd, dirflags, path, len, oflags, base, inherit, fdflags, fdOut);
    if (rc === 0 && readOnly) ro.add(new DataView(memory().buffer).getUint32(fdOut, true));
    return rc;
  };
  out.fd_close = (fd: number) => {
    const rc = wasi.fd_close!(fd);
    if (rc === 0) ro.delete(fd);
    return rc;
  };
  out.fd_renumber = (from: number, to: number) => {
    if (ro.has(from) !== ro.has(to)) {
      onRefused("fd_renumber across a read-only folder");
      return ENOTCAPABLE;
    }
    return wasi.fd_renumber!(from, to);
  };
  return out;
}
