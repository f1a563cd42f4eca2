/**
 * The WASI guard's `path_open`, and its checks of paths (see `wasi_guard.ts`
 * for the whole guard and its remaining race windows).
 *
 * - A path that leaves the folder behind its directory fd is refused with
 *   ENOTCAPABLE whether or not its target exists ({@linkcode walkPath}).
 * - A path through a symbolic link (any component, the final one followed or
 *   not, dangling or not) is never opened to create, truncate or write.
 * - A file is created by the guard itself, with create-new semantics
 *   (`O_CREAT | O_EXCL`, which never follows a final link), at the host path
 *   the walk found; uvwasi then only opens it, without `O_CREAT`.
 * - `O_TRUNC` is done after the checks below, on the fd, never by the open.
 * - After every open, the new fd is compared with the host path the walk
 *   found: that path must not be a link, and type, size and modification
 *   time must match (node:wasi reports device and inode as 0, so they cannot
 *   be compared). A mismatch means the path changed under the
 *   open, and the fd is closed and refused.
 * - A regular file with more than one link (a hard link whose other name may
 *   lie outside the grants) is closed and refused unless hard links are
 *   allowed. node:wasi reports every nlink as 1, so the count is read from
 *   the host path too (the fd's is read as well, should that change).
 *
 * @module
 */

import { walkPath } from "./wasi_paths.ts";

// deno-lint-ignore no-explicit-any
export type WasiFn = (...args: any[]) => any;

/** WASI errnos the guard answers with. */
export const ERRNO = { BADF: 8, EXIST: 20, FAULT: 21, ILSEQ: 25, LOOP: 32, NOTCAPABLE: 76 } as const;
/** Rights that make uvwasi open a file for writing: fd_datasync, fd_write, fd_allocate, fd_filestat_set_size. */
export const WRITE_RIGHTS = (1n << 0n) | (1n << 6n) | (1n << 8n) | (1n << 22n);
const O_CREAT = 1;
const O_EXCL = 4;
const O_TRUNC = 8;
const LOOKUP_FOLLOW = 1;
const FILETYPE_DIRECTORY = 3;
const FILETYPE_REGULAR = 4;
/** Where in the guest's memory the guard lets fd_filestat_get write (the bytes are put back after). */
const SCRATCH = 0;
const FILESTAT_SIZE = 64;

/** What the guard knows and may do, shared by its wrappers. */
export interface GuardState {
  /** The unwrapped imports. */
  readonly wasi: Record<string, WasiFn>;
  /** The guest's memory, once instantiated. */
  readonly memory: () => WebAssembly.Memory;
  /** Read-only fds: the read-only preopens and what was opened from them. */
  readonly ro: Set<number>;
  /** The host folder behind each directory fd: the preopens and the folders opened from them. */
  readonly dirs: Map<number, string>;
  /** Whether files with more than one hard link may be opened. */
  readonly allowHardlinks: boolean;
  /** The rule a write to a read-only fd is refused by (`fs.read-only`, or `approval`). */
  readonly readOnlyRule: string;
  /** Records a refusal and returns ENOTCAPABLE. */
  readonly refuse: (call: string, rule: string) => number;
}

/**
 * Checks the path a call names, relative to one of its directory fds: ENOTCAPABLE when it leaves that fd's
 * folder (or the fd is no folder the guard knows), ELOOP for too many links.
 *
 * @param state The guard.
 * @param call The call's name, for the record.
 * @param at The directory fd, the path's pointer and length in the guest's memory, and whether a final link
 *   is followed.
 * @returns 0 when the call may go on, else the errno to answer.
 */
export function checkPath(
  state: GuardState,
  call: string,
  at: { fd: number; ptr: number; len: number; follow: boolean },
): number {
  const root = state.dirs.get(at.fd);
  if (root === undefined) return ERRNO.NOTCAPABLE;
  const path = guestString(state.memory(), at.ptr, at.len);
  if (typeof path === "number") return path;
  const walk = walkPath(root, path, { follow: at.follow });
  if (walk.kind === "outside") return state.refuse(call, "fs.outside");
  return walk.kind === "loop" ? ERRNO.LOOP : 0;
}

/**
 * The guarded `path_open(dirfd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, fdflags,
 * fd_out)`.
 *
 * @param state The guard.
 * @returns The wrapped import.
 */
export function guardedPathOpen(state: GuardState): WasiFn {
  return (dirfd: number, dirflags: number, path: number, len: number, oflags: number, ...rest: unknown[]) => {
    const [base, inheriting, fdflags, fdOut] = rest as [bigint, bigint, number, number];
    const readOnly = state.ro.has(dirfd);
    const changing = (oflags & (O_CREAT | O_TRUNC)) !== 0 || (BigInt(base) & WRITE_RIGHTS) !== 0n;
    if (readOnly && changing) return state.refuse("path_open for writing", state.readOnlyRule);
    const root = state.dirs.get(dirfd);
    if (root === undefined) return ERRNO.NOTCAPABLE;
    const text = guestString(state.memory(), path, len);
    if (typeof text === "number") return text;
    const walk = walkPath(root, text, { follow: (dirflags & LOOKUP_FOLLOW) !== 0 });
    if (walk.kind === "outside") return state.refuse("path_open", "fs.outside");
    if (walk.kind === "loop") return ERRNO.LOOP;
    if (changing && walk.viaLink) return state.refuse("path_open through a link", "fs.no-links");
    const made = (oflags & O_CREAT) !== 0 ? createNew(walk.host, walk.exists, oflags) : null;
    if (typeof made === "number") return made;
    const inherit = readOnly ? BigInt(inheriting) & ~WRITE_RIGHTS : inheriting;
    const flags = oflags & ~(O_CREAT | O_EXCL | O_TRUNC);
    const rc = state.wasi.path_open!(dirfd, dirflags, path, len, flags, base, inherit, fdflags, fdOut);
    if (rc !== 0) {
      if (made) undoCreate(walk.host, made);
      return rc;
    }
    const fd = new DataView(state.memory().buffer).getUint32(fdOut, true);
    const refused = checkOpened(state, fd, walk.host, (oflags & O_TRUNC) !== 0);
    if (refused !== 0) {
      state.wasi.fd_close!(fd);
      if (made) undoCreate(walk.host, made);
      return refused;
    }
    if (readOnly) state.ro.add(fd);
    return 0;
  };
}

/** A file's identity, as Deno's lstat gives it. */
interface FileId {
  dev: bigint;
  ino: bigint;
}

/**
 * Creates the file at `host` with create-new semantics (never through a final link). Returns what it made,
 * null when it made nothing (it exists, or the open will answer why not), or EEXIST for `O_EXCL`.
 */
function createNew(host: string, exists: boolean, oflags: number): FileId | null | number {
  const exclusive = (oflags & O_EXCL) !== 0;
  if (exists) return exclusive ? ERRNO.EXIST : null;
  try {
    Deno.openSync(host, { createNew: true, write: true }).close();
  } catch (e) {
    return e instanceof Deno.errors.AlreadyExists && exclusive ? ERRNO.EXIST : null;
  }
  return idOf(host);
}

/** Removes a file the guard made for an open that then failed, if it is still that (empty) file. */
function undoCreate(host: string, made: FileId): void {
  try {
    const now = Deno.lstatSync(host);
    if (now.isFile && now.size === 0 && sameId(now, made)) Deno.removeSync(host);
  } catch {
    // Gone already, or no longer ours to remove.
  }
}

/** Checks a new fd against the host path the walk found; truncates it when asked. 0, or the errno to answer. */
function checkOpened(state: GuardState, fd: number, host: string, truncate: boolean): number {
  const stat = fileStat(state, fd);
  if (typeof stat === "number") return stat;
  const now = lstat(host);
  if (now === null || !looksLike(now, stat)) {
    return state.refuse("path_open of a path that changed", "fs.no-links");
  }
  // node:wasi reports every file's nlink as 1 (Deno 2.9), so the host path's count is asked too.
  const links = Math.max(Number(stat.nlink), now.nlink ?? 1);
  if (stat.filetype === FILETYPE_REGULAR && links > 1 && !state.allowHardlinks) {
    return state.refuse("path_open of a file with hard links", "fs.no-hardlinks");
  }
  if (truncate) {
    const rc = state.wasi.fd_filestat_set_size!(fd, 0n);
    if (rc !== 0) return rc;
  }
  if (stat.filetype === FILETYPE_DIRECTORY) state.dirs.set(fd, host);
  return 0;
}

/** What node:wasi tells of an open fd (its device and inode read 0, so they cannot be compared). */
interface FdStat {
  filetype: number;
  nlink: bigint;
  size: bigint;
  /** Modification time, ns. */
  mtim: bigint;
}

function lstat(host: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(host);
  } catch {
    return null;
  }
}

/**
 * Whether a host file (not a link) is, by every mark node:wasi gives of an fd, the file the fd names: its
 * type, size and modification time (to the millisecond).
 */
function looksLike(now: Deno.FileInfo, stat: FdStat): boolean {
  if (now.isSymlink || now.mtime === null) return false;
  const type = now.isFile ? FILETYPE_REGULAR : now.isDirectory ? FILETYPE_DIRECTORY : -1;
  const sameType = type === stat.filetype ||
    (type === -1 && stat.filetype !== FILETYPE_REGULAR && stat.filetype !== FILETYPE_DIRECTORY);
  return sameType && BigInt(now.size) === stat.size && BigInt(now.mtime.getTime()) === stat.mtim / 1_000_000n;
}

/** The real fd_filestat_get of an fd, written to scratch guest memory that is put back after. */
function fileStat(state: GuardState, fd: number): FdStat | number {
  const bytes = new Uint8Array(state.memory().buffer, SCRATCH, FILESTAT_SIZE);
  const saved = bytes.slice();
  try {
    const rc = state.wasi.fd_filestat_get!(fd, SCRATCH);
    if (rc !== 0) return rc;
    const view = new DataView(state.memory().buffer, SCRATCH, FILESTAT_SIZE);
    return {
      filetype: view.getUint8(16),
      nlink: view.getBigUint64(24, true),
      size: view.getBigUint64(32, true),
      mtim: view.getBigUint64(48, true),
    };
  } finally {
    new Uint8Array(state.memory().buffer, SCRATCH, FILESTAT_SIZE).set(saved);
  }
}

function idOf(host: string): FileId | null {
  try {
    const info = Deno.lstatSync(host);
    return { dev: BigInt(info.dev), ino: BigInt(info.ino ?? -1) };
  } catch {
    return null;
  }
}

function sameId(info: Deno.FileInfo, id: FileId): boolean {
  return info.ino !== null && BigInt(info.dev) === id.dev && BigInt(info.ino) === id.ino;
}

/** The guest's string at `ptr`, or the errno for one out of bounds (EFAULT) or not UTF-8 without NULs (EILSEQ). */
function guestString(memory: WebAssembly.Memory, ptr: number, len: number): string | number {
  const buffer = memory.buffer;
  if (ptr < 0 || len < 0 || ptr + len > buffer.byteLength) return ERRNO.FAULT;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(buffer, ptr, len));
    return text.includes("\0") ? ERRNO.ILSEQ : text;
  } catch {
    return ERRNO.ILSEQ;
  }
}
