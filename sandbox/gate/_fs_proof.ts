/**
 * The file I/O of the file ops, done so that what was checked is what is
 * used.
 *
 * Deno has no `openat`, `O_NOFOLLOW` or `O_BENEATH`: every call given an
 * absolute path walks it again, and another process may swap a file or a
 * folder on that path for a symbolic link between the gate's check and its
 * use. But Deno hands a relative path to the kernel as written, and the
 * kernel resolves it from the process's working folder, which is a folder
 * held open, not a path. So the gate **holds** the folder it works in:
 *
 * - it changes the working folder to the checked real folder, then asks where
 *   the working folder now is (`getcwd`, which reads the held folder's own
 *   place and walks nothing); only if that is the checked real path is the
 *   folder held, else the op is the denial `fs.race`;
 * - every name it then uses is one entry of that held folder (`openat`-like):
 *   a swap anywhere on the folder's path, before or after, cannot change which
 *   folder it reads, lists or writes in;
 * - **read**: the entry is opened, and `lstat` of the same entry (which does
 *   not follow a link put in its place) must give the identity (`dev`, `ino`)
 *   of what is held open, so a final name swapped for a link is refused;
 * - **list**: the held folder itself (`.`) is listed;
 * - **write**: the data goes into a fresh file with a random name made with
 *   `createNew` (which never follows a link) in the held folder, then renamed
 *   onto the target, both names in the held folder (a rename replaces a link
 *   and never follows it); missing folders are made one at a time, each in
 *   its held parent;
 * - **append**: an existing entry is opened without `create` and proved like a
 *   read before a byte is written.
 *
 * The working folder is put back after each op. A folder the process's flags
 * do not let it enter (the folder of a grant of one file) cannot be held: a
 * read or append of such a file opens its path and proves what it opened by
 * looking at the path twice more (identity, and that its real path is still
 * itself), which narrows that case without closing it.
 *
 * A regular file with more than one hard link may be a file outside the
 * grants under a second name, which no path check can see: reads and writes
 * refuse it unless the manifest says `[capabilities.fs] hardlinks = true`.
 * Any proof that fails is the denial `fs.race`, and nothing read is returned.
 *
 * @module
 */

import { posix } from "node:path";
import { denied, GateError, invalid } from "./errors.ts";
import { MAX_FILE_BYTES } from "./family.ts";

/** What the file ops learn of a file: Deno's `FileInfo` satisfies it. */
export interface FsInfo {
  /** A regular file. */
  readonly isFile: boolean;
  /** A folder. */
  readonly isDirectory: boolean;
  /** A symbolic link (from `lstat` only). */
  readonly isSymlink: boolean;
  /** Size in bytes. */
  readonly size: number;
  /** The device that holds it. */
  readonly dev: number;
  /** Its inode number; null where the platform has none. */
  readonly ino: number | null;
  /** How many names (hard links) it has; null where the platform has none. */
  readonly nlink: number | null;
  /** Its permission bits; null where the platform has none. */
  readonly mode: number | null;
}

/** An open file: Deno's `FsFile` satisfies it. */
export interface FsHandle {
  /** Like `FsFile.statSync`: the identity of what is open, whatever its path has become. */
  statSync(): FsInfo;
  /** Like `FsFile.readSync`. */
  readSync(buffer: Uint8Array): number | null;
  /** Like `FsFile.writeSync`. */
  writeSync(data: Uint8Array): number;
  /** Like `FsFile.close`. */
  close(): void;
}

/** The file calls the file ops make (Deno's, or a test's wrappers). */
export interface FsIo {
  /** Like `Deno.realPathSync`. */
  realPathSync(path: string): string;
  /** Like `Deno.lstatSync`: does not follow a link at the end of the path. */
  lstatSync(path: string): FsInfo;
  /** Like `Deno.openSync`. */
  openSync(path: string, options: Deno.OpenOptions): FsHandle;
  /** Like `Deno.readDirSync`. */
  readDirSync(
    path: string,
  ): Iterable<{ name: string; isFile: boolean; isDirectory: boolean; isSymlink: boolean }>;
  /** Like `Deno.mkdirSync`, one folder (not recursive). */
  mkdirSync(path: string): void;
  /** Like `Deno.renameSync`. */
  renameSync(from: string, to: string): void;
  /** Like `Deno.removeSync`, not recursive. */
  removeSync(path: string): void;
  /** Like `Deno.chdir`: the process's working folder, from which relative names are resolved by the kernel. */
  chdirSync(path: string): void;
  /** Like `Deno.cwd`: where the working folder is now (`getcwd`: its own place, no path walked). */
  cwd(): string;
}

/** The real file calls. */
export const DENO_FS: FsIo = {
  realPathSync: (p) => Deno.realPathSync(p),
  lstatSync: (p) => Deno.lstatSync(p),
  openSync: (p, o) => Deno.openSync(p, o),
  readDirSync: (p) => Deno.readDirSync(p),
  mkdirSync: (p) => Deno.mkdirSync(p),
  renameSync: (from, to) => Deno.renameSync(from, to),
  removeSync: (p) => Deno.removeSync(p),
  chdirSync: (p) => Deno.chdir(p),
  cwd: () => Deno.cwd(),
};

/** A checked file op's target. */
export interface Target {
  /** The path as the guest wrote it, for messages. */
  readonly raw: string;
  /** The checked real path (its missing tail joined on), or the plain path when nothing is checked. */
  readonly real: string;
  /** False when the gate's checks are off: then nothing is proved. */
  readonly checks: boolean;
  /** Whether files with more than one hard link may be used (`policy.fs.hardlinks`). */
  readonly hardlinks: boolean;
}

/** One entry of a listing. */
export type Entry = { name: string; kind: "file" | "dir" | "symlink"; size: number };

/** The most entries one listing returns. */
export const MAX_LIST_ENTRIES = 10_000;

/** A folder's listing: the first {@linkcode MAX_LIST_ENTRIES} entries by name, and how many there are. */
export interface Listing {
  /** The entries, sorted by name (by UTF-16 code units, the same on every machine). */
  entries: Entry[];
  /** How many entries the folder has. */
  total: number;
  /** Whether `entries` holds fewer than `total`. */
  truncated: boolean;
}

/**
 * Reads a file: opens it in its held folder, proves what was opened, reads from the handle.
 *
 * @param fs The file calls.
 * @param t The target.
 * @returns The file's bytes.
 * @throws {GateError} When it is not a regular file, too big, hard-linked, or raced.
 */
export function readProven(fs: FsIo, t: Target): Uint8Array {
  return withOpened(fs, t, { options: { read: true }, doing: "read" }, (file, info) => {
    if (info.isDirectory) {
      throw new GateError("ERR_INVALID_ARGS", `"${t.raw}" is a folder`, "use fs.list for folders", "fs");
    }
    if (!info.isFile) throw invalid(`"${t.raw}" is not a regular file`, "read regular files only");
    if (info.size > MAX_FILE_BYTES) throw tooBig(t.raw, info.size);
    if (t.checks) refuseHardLinks(info, t);
    return readAll(file, t.raw);
  });
}

/**
 * Lists a folder: holds it as the working folder and lists `.`, the held folder itself.
 *
 * @param fs The file calls.
 * @param t The target.
 * @returns Its first entries by name (at most {@linkcode MAX_LIST_ENTRIES}), how many it has, whether cut.
 * @throws {GateError} When it is not a folder, or raced.
 */
export function listProven(fs: FsIo, t: Target): Listing {
  try {
    return held(inFolder(fs, t, t.real, "listed", () => listFolder(fs)), t, t.real);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotADirectory)) throw e;
    throw invalid(`"${t.raw}" is not a folder`, "use fs.read for files");
  }
}

/**
 * Writes a file: a fresh file renamed into place in the held folder, or, to append, the existing file proved
 * first.
 *
 * @param fs The file calls.
 * @param t The target.
 * @param options The bytes, and whether to append.
 * @throws {GateError} When the target is a folder, hard-linked, or raced.
 */
export function writeProven(fs: FsIo, t: Target, options: { bytes: Uint8Array; append: boolean }): void {
  const dir = ensureFolder(fs, t);
  const done = inFolder(fs, t, dir, "written", () => {
    const name = leaf(t.real);
    const existing = lstatOrNull(fs, name);
    if (existing?.isDirectory) {
      throw invalid(`"${t.raw}" is a folder`, 'write to a file inside it, such as "out/result.txt"');
    }
    if (existing?.isFile && t.checks) refuseHardLinks(existing, t);
    if (options.append && existing !== null) {
      return openedIn(fs, t, name, appending, (file, info) => appendTo(file, info, t, options.bytes));
    }
    replaceFile(fs, name, { bytes: options.bytes, mode: existing?.isFile ? existing.mode : null });
  });
  if (!(done instanceof Unheld)) return;
  // A folder the flags do not let the sandbox enter: an append to a granted file may still open it by path.
  if (!options.append) throw notHeld(done, t, dir);
  openedByPath(fs, t, appending, (file, info) => appendTo(file, info, t, options.bytes));
}

/** Opens for an append: without `create`, opening never makes a file, here or through a link. */
const appending = { options: { append: true }, doing: "written" } as const;

function appendTo(file: FsHandle, info: FsInfo, t: Target, bytes: Uint8Array): void {
  if (!info.isFile) throw invalid(`"${t.raw}" is not a regular file`, "append to regular files only");
  if (t.checks) refuseHardLinks(info, t);
  writeAll(file, bytes);
}

/**
 * Makes a fresh file in the held folder (never through a link) and renames it onto `name`, both names in
 * the held folder; on failure the fresh file is removed there.
 */
function replaceFile(fs: FsIo, name: string, o: { bytes: Uint8Array; mode: number | null }): void {
  const fresh = `.ironclaw-${crypto.randomUUID()}.tmp`;
  const mode = o.mode === null ? {} : { mode: o.mode & 0o777 };
  const file = fs.openSync(fresh, { write: true, createNew: true, ...mode });
  try {
    writeAll(file, o.bytes);
    fs.renameSync(fresh, name);
  } catch (e) {
    try {
      fs.removeSync(fresh);
    } catch { /* renamed already, or gone */ }
    throw e;
  } finally {
    file.close();
  }
}

/** Makes the target's missing folders one at a time, each in its held parent. Returns the target's folder. */
function ensureFolder(fs: FsIo, t: Target): string {
  const dir = posix.dirname(t.real);
  const missing: string[] = [];
  for (let p = dir; p !== "/" && !existsOrRefused(fs, p); p = posix.dirname(p)) missing.unshift(p);
  for (const p of missing) {
    const parent = posix.dirname(p);
    held(
      inFolder(fs, t, parent, "written", () => {
        try {
          fs.mkdirSync(leaf(p));
        } catch (e) {
          if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        }
      }),
      t,
      parent,
    );
  }
  return dir;
}

/** What {@linkcode inFolder} gives when the process's flags do not let it enter the folder: their refusal. */
class Unheld {
  constructor(readonly refusal: unknown) {}
}

/**
 * Runs `use` with `dir` held as the working folder: enters it, then proves that the folder now held is the
 * one at `dir` (its own place, read by `getcwd`, walks no path), and puts the working folder back after.
 * Gives an {@linkcode Unheld} when the process's flags refuse to enter `dir` (the folder of a grant of one file).
 * In `use`, the flags judge a relative name by the held folder's place at that moment: a refusal there while
 * the held folder is elsewhere means it was moved out of the grants meanwhile, which is a race.
 */
function inFolder<T>(fs: FsIo, t: Target, dir: string, doing: string, use: () => T): T | Unheld {
  const back = cwdOrNull(fs);
  try {
    fs.chdirSync(dir);
  } catch (e) {
    if (refusedByFlags(e)) return new Unheld(e);
    throw e;
  }
  try {
    if (t.checks && cwdOrNull(fs) !== dir) throw raced(t.raw, doing);
    return use();
  } catch (e) {
    throw t.checks && refusedByFlags(e) && cwdOrNull(fs) !== dir ? raced(t.raw, doing) : e;
  } finally {
    try {
      if (back !== null) fs.chdirSync(back);
    } catch { /* a working folder the flags do not let it enter again: no name is ever relative to it */ }
  }
}

/** The result of {@linkcode inFolder}, where the folder must be held. */
function held<T>(result: T | Unheld, t: Target, dir: string): T {
  if (result instanceof Unheld) throw notHeld(result, t, dir);
  return result;
}

/** The gate's denial of a folder it cannot hold; with its checks off, the flags' own refusal. */
function notHeld(u: Unheld, t: Target, dir: string): unknown {
  return t.checks ? refusedFolder(t, dir) : u.refusal;
}

/**
 * Opens the target and proves what was opened before `use` sees it: in its held folder (then `lstat` of the
 * same entry must have the identity of what is open), or, where the flags refuse that folder, by its path
 * (then looked at twice more: see {@linkcode prove}).
 */
function withOpened<T>(
  fs: FsIo,
  t: Target,
  how: { options: Deno.OpenOptions; doing: string },
  use: (file: FsHandle, info: FsInfo) => T,
): T {
  const done = inFolder(
    fs,
    t,
    posix.dirname(t.real),
    how.doing,
    () => openedIn(fs, t, leaf(t.real), how, use),
  );
  return done instanceof Unheld ? openedByPath(fs, t, how, use) : done;
}

/** Opens `name` in the held folder; `lstat` of it (no link followed) must be what was opened. */
function openedIn<T>(
  fs: FsIo,
  t: Target,
  name: string,
  how: { options: Deno.OpenOptions; doing: string },
  use: (file: FsHandle, info: FsInfo) => T,
): T {
  const file = fs.openSync(name, how.options);
  try {
    const info = file.statSync();
    if (t.checks && !sameAt(fs, name, info)) throw raced(t.raw, how.doing);
    return use(file, info);
  } finally {
    file.close();
  }
}

/** Opens the target by its path (its folder cannot be held), and proves what was opened: narrowed, not closed. */
function openedByPath<T>(
  fs: FsIo,
  t: Target,
  how: { options: Deno.OpenOptions; doing: string },
  use: (file: FsHandle, info: FsInfo) => T,
): T {
  const file = fs.openSync(t.real, how.options);
  try {
    const info = file.statSync();
    if (t.checks) prove(fs, t, info, how.doing);
    return use(file, info);
  } finally {
    file.close();
  }
}

/**
 * The identity of what is open must be what lies at the checked real path, which must still be real. Each
 * look walks the path again, so the two alternate twice: a folder swapped for a link would have to be swapped
 * out and back twice, each in step with the gate, to pass. Used only where the folder cannot be held.
 */
function prove(fs: FsIo, t: Target, opened: FsInfo, doing: string): void {
  for (let i = 0; i < PROOF_ROUNDS; i++) {
    if (!sameAt(fs, t.real, opened) || realOrNull(fs, t.real) !== t.real) throw raced(t.raw, doing);
  }
}

/** How many times {@linkcode prove} looks at a path. */
const PROOF_ROUNDS = 2;

/** The last name of a path, as an entry of its folder (`.` for the root). */
function leaf(path: string): string {
  return posix.basename(path) || ".";
}

function refusedByFlags(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
}

function cwdOrNull(fs: FsIo): string | null {
  try {
    return fs.cwd();
  } catch {
    return null;
  }
}

function refusedFolder(t: Target, dir: string): GateError {
  return denied(`"${t.raw}" is in "${dir}", a folder the sandbox may not enter`, {
    hint: "grant the folder in [capabilities.fs] of the manifest, not only a file in it",
    rule: "fs.folder",
  });
}

function refuseHardLinks(info: FsInfo, t: Target): void {
  if (t.hardlinks || !info.isFile || info.nlink === null || info.nlink <= 1) return;
  throw denied(
    `"${t.raw}" has ${info.nlink} hard links: it may be the same file as one outside the granted folders`,
    {
      hint: "copy the file into the grant instead of linking it, or set hardlinks = true under " +
        "[capabilities.fs] in the manifest (unsafe: a link can reach any file on the same disk)",
      rule: "fs.hardlink",
    },
  );
}

function raced(raw: string, doing: string): GateError {
  return denied(
    `"${raw}" changed while it was ${doing}: a file or folder on its path was replaced (by a link, perhaps), ` +
      "so the gate cannot prove it stayed inside the granted folders",
    {
      hint:
        "try again when nothing else is changing that path; grant the real folder instead of linking to it",
      rule: "fs.race",
    },
  );
}

function tooBig(raw: string, size: number): GateError {
  return new GateError(
    "ERR_LIMIT",
    `"${raw}" is ${size} bytes, more than ${MAX_FILE_BYTES}`,
    "read a smaller file",
    "size",
  );
}

function same(a: FsInfo, b: FsInfo): boolean {
  return a.ino !== null && a.dev === b.dev && a.ino === b.ino;
}

function sameAt(fs: FsIo, path: string, info: FsInfo): boolean {
  const now = lstatOrNull(fs, path);
  return now !== null && same(now, info);
}

/** Whether `path` exists, or the flags refuse to look (then it cannot be made either: the grant is a file). */
function existsOrRefused(fs: FsIo, path: string): boolean {
  try {
    return lstatOrNull(fs, path) !== null;
  } catch (e) {
    if (refusedByFlags(e)) return true;
    throw e;
  }
}

function lstatOrNull(fs: FsIo, path: string): FsInfo | null {
  try {
    return fs.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

function realOrNull(fs: FsIo, path: string): string | null {
  try {
    return fs.realPathSync(path);
  } catch {
    return null;
  }
}

function readAll(file: FsHandle, raw: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buffer = new Uint8Array(64 * 1024);
  for (let n = file.readSync(buffer); n !== null; n = file.readSync(buffer)) {
    total += n;
    if (total > MAX_FILE_BYTES) throw tooBig(raw, total);
    chunks.push(buffer.slice(0, n));
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function writeAll(file: FsHandle, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
}

/** Lists the held folder: every name (cheap), sorted, and the sizes of the first {@linkcode MAX_LIST_ENTRIES}. */
function listFolder(fs: FsIo): Listing {
  const all = [...fs.readDirSync(".")].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries = all.slice(0, MAX_LIST_ENTRIES).map((e): Entry => {
    let size = 0;
    try {
      size = e.isFile ? fs.lstatSync(e.name).size : 0;
    } catch (err) {
      if (refusedByFlags(err)) throw err;
      /* raced away */
    }
    return { name: e.name, kind: e.isSymlink ? "symlink" : e.isDirectory ? "dir" : "file", size };
  });
  return { entries, total: all.length, truncated: all.length > entries.length };
}
