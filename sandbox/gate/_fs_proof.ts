/**
 * The file I/O of the file ops, done so that what was checked is what is
 * used: open first, then prove what was opened.
 *
 * Deno has no `openat`, `O_NOFOLLOW` or `O_BENEATH`: every call walks a path
 * again, and another process may swap a file or a folder on that path for a
 * symbolic link between the gate's check and its use. So the gate never
 * trusts a path twice. It opens the checked real path (symbolic links already
 * resolved, inside a grant), takes the identity (`dev`, `ino`) of what it
 * holds open, and only then proves that this is the file at the checked path:
 *
 * - **read and list**: after opening, `lstat` of the real path (which does not
 *   follow a link put in its place) must give the same identity, and its real
 *   path must still be itself (no part of it turned into a link), both looked
 *   at twice, alternating, since each look walks the path. Only then is
 *   the data read from the open handle, which cannot change what it points to.
 *   A listing is read by path, so it is proved both before and after.
 * - **write**: the data goes into a fresh file with a random name in the
 *   checked real folder, made with `createNew` (never through a link); the
 *   folder's and the new file's identities are proved, then the file is renamed
 *   onto the target. A rename replaces a link itself and never follows it, and
 *   both names lie in the same folder: if the folder was swapped, the fresh
 *   file is not there and nothing is replaced. Missing folders are made one at
 *   a time, each proved to be a real folder where it was asked for.
 * - **append**: an existing file is opened without `create` (opening never
 *   makes a file through a link) and proved like a read before a byte is
 *   written; a missing file is written as above.
 *
 * A regular file with more than one hard link may be a file outside the
 * grants under a second name, which no path check can see: reads and writes
 * refuse it unless the manifest says `[capabilities.fs] hardlinks = true`.
 * Any proof that fails is the denial `fs.race`, and nothing read is returned.
 *
 * **Held folders.** The proofs walk paths too. Where the supervisor made the
 * link `working-folder` to `/proc/self/cwd` beside the sandbox's code (Linux),
 * reads and listings walk none: the gate makes the checked real folder the
 * process's working folder, proves that the folder now held is the one at
 * that path (`getcwd` reads the held folder's own place and walks nothing),
 * and then names entries through the link, which the kernel resolves to the
 * held folder itself, wherever its path leads meanwhile (`openat`-like; Deno
 * resolves relative names against the working folder's path, so a relative
 * name would not do). A read opens the entry through the link and proves that
 * `lstat` of it there has the identity of what it holds open; a listing lists
 * the link. `getcwd` is asked again after, so a held folder moved meanwhile,
 * or a working folder changed by another thread, is refused too. The working
 * folder is put back after (or, where the flags refuse the old one, left in
 * the folder of the sandbox's code).
 *
 * What is left is narrowed, not closed: without the link (another OS, a
 * compiled binary's worker mode) and for a grant of one file (whose folder the
 * flags do not let the sandbox enter), a folder on the path swapped out and
 * back exactly between the proofs; and for writes, which cannot go through the
 * link (its write permission would reach any folder the sandbox may enter), an
 * empty fresh file left outside if a swapped folder never swaps back. Closing
 * those needs `openat` or `O_NOFOLLOW` on every part of the path, which Deno
 * lacks.
 *
 * @module
 */

import { posix } from "node:path";
import { denied, GateError, invalid } from "./errors.ts";
import { MAX_FILE_BYTES } from "./family.ts";
import { PROC_SELF_CWD, WORKING_FOLDER_LINK } from "../../protocol/protocol.ts";

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
  /** Like `Deno.chdir`. */
  chdirSync(path: string): void;
  /** Like `Deno.cwd`: where the working folder is now (`getcwd`: its own place, no path walked). */
  cwd(): string;
  /** The path of a link to `/proc/self/cwd` the process may read, or null where there is none. */
  workingFolderLink(): string | null;
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
  workingFolderLink: () => linkBesideCode ??= findLinkBesideCode(),
};

let linkBesideCode: string | null | undefined;

/** The link the supervisor made beside the sandbox's code (its bundle's chunks share one folder), if it is there. */
function findLinkBesideCode(): string | null {
  try {
    const url = new URL(`./${WORKING_FOLDER_LINK}`, import.meta.url);
    if (url.protocol !== "file:") return null;
    const path = decodeURIComponent(url.pathname);
    return Deno.readLinkSync(path) === PROC_SELF_CWD ? path : null;
  } catch {
    return null; // absent, or not readable: the proofs by path
  }
}

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
 * Reads a file: opens it through its held folder (or by the checked real path), proves what was opened, reads
 * from the handle.
 *
 * @param fs The file calls.
 * @param t The target.
 * @returns The file's bytes.
 * @throws {GateError} When it is not a regular file, too big, hard-linked, or raced.
 */
export function readProven(fs: FsIo, t: Target): Uint8Array {
  return withOpened(fs, t, (file, info) => {
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
 * Opens the target to read, and proves what was opened before `use` sees it: through the link to its held
 * folder (then `lstat` of the same entry there must be what is open), or by its path (then looked at twice
 * more, see {@linkcode prove}).
 */
function withOpened<T>(fs: FsIo, t: Target, use: (file: FsHandle, info: FsInfo) => T): T {
  const link = t.checks ? fs.workingFolderLink() : null;
  if (link !== null) {
    const done = inHeldFolder(fs, t, { dir: posix.dirname(t.real), link, doing: "read" }, (at) => {
      const path = posix.join(at, posix.basename(t.real));
      return opened(fs, path, (file, info) => {
        if (!sameAt(fs, path, info)) throw raced(t.raw, "read");
        return use(file, info);
      });
    });
    if (done !== UNHELD) return done;
  }
  return opened(fs, t.real, (file, info) => {
    if (t.checks) prove(fs, t, info, "read");
    return use(file, info);
  });
}

/** Opens `path` to read and gives `use` the handle and its identity; closes it after. */
function opened<T>(fs: FsIo, path: string, use: (file: FsHandle, info: FsInfo) => T): T {
  const file = fs.openSync(path, { read: true });
  try {
    return use(file, file.statSync());
  } finally {
    file.close();
  }
}

/** What {@linkcode inHeldFolder} gives when the process's flags do not let it enter the folder. */
const UNHELD: unique symbol = Symbol("unheld");

/**
 * Runs `use` with `o.dir` held as the working folder, given the link through which to name it: enters it,
 * proves the folder now held is the one at `o.dir` (`getcwd` walks no path), and puts the working folder
 * back after. Gives {@linkcode UNHELD} when the flags refuse to enter `o.dir` (the folder of a grant of one
 * file).
 */
function inHeldFolder<T>(
  fs: FsIo,
  t: Target,
  o: { dir: string; link: string; doing: string },
  use: (at: string) => T,
): T | typeof UNHELD {
  const back = cwdOrNull(fs);
  try {
    fs.chdirSync(o.dir);
  } catch (e) {
    if (refusedByFlags(e)) return UNHELD;
    throw e;
  }
  try {
    if (cwdOrNull(fs) !== o.dir) throw raced(t.raw, o.doing);
    const result = use(o.link);
    // Another thread of the process may change the working folder too (a Worker allowed to read somewhere):
    // what it moved away from the held folder meanwhile is refused.
    if (cwdOrNull(fs) !== o.dir) throw raced(t.raw, o.doing);
    return result;
  } finally {
    // Back where it was, or, where the flags refuse that (the manifest's folder), beside the sandbox's code.
    for (const to of [back, posix.dirname(o.link)]) {
      try {
        if (to !== null) {
          fs.chdirSync(to);
          break;
        }
      } catch { /* the next */ }
    }
  }
}

/** Whether the process's flags (or the operating system) refused the call. */
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

/**
 * Lists a folder: holds it and lists it through the link to the held folder; or, without the link, opens the
 * checked real path, lists it, and proves the folder held open is still the one at the checked path.
 *
 * @param fs The file calls.
 * @param t The target.
 * @returns Its first entries by name (at most {@linkcode MAX_LIST_ENTRIES}), how many it has, whether cut.
 * @throws {GateError} When it is not a folder, or raced.
 */
export function listProven(fs: FsIo, t: Target): Listing {
  const link = t.checks ? fs.workingFolderLink() : null;
  if (link !== null) {
    try {
      const done = inHeldFolder(fs, t, { dir: t.real, link, doing: "listed" }, (at) => listFolder(fs, at));
      if (done !== UNHELD) return done;
    } catch (e) {
      if (e instanceof Deno.errors.NotADirectory) throw notAFolder(t);
      throw e;
    }
  }
  const dir = fs.openSync(t.real, { read: true });
  try {
    const info = dir.statSync();
    if (!info.isDirectory) throw notAFolder(t);
    if (t.checks) prove(fs, t, info, "listed");
    const entries = listFolder(fs, t.real);
    if (t.checks) prove(fs, t, info, "listed");
    return entries;
  } finally {
    dir.close();
  }
}

function notAFolder(t: Target): GateError {
  return invalid(`"${t.raw}" is not a folder`, "use fs.read for files");
}

/**
 * Writes a file: a fresh file renamed into place, or, to append, the existing file proved first.
 *
 * @param fs The file calls.
 * @param t The target.
 * @param options The bytes, and whether to append.
 * @throws {GateError} When the target is a folder, hard-linked, or raced.
 */
export function writeProven(fs: FsIo, t: Target, options: { bytes: Uint8Array; append: boolean }): void {
  const dir = ensureFolder(fs, t);
  const existing = lstatOrNull(fs, t.real);
  if (existing?.isDirectory) {
    throw invalid(`"${t.raw}" is a folder`, 'write to a file inside it, such as "out/result.txt"');
  }
  if (existing?.isFile && t.checks) refuseHardLinks(existing, t);
  if (options.append && existing !== null) return appendProven(fs, t, options.bytes);
  replaceFile(fs, t, { dir, bytes: options.bytes, mode: existing?.isFile ? existing.mode : null });
}

function appendProven(fs: FsIo, t: Target, bytes: Uint8Array): void {
  // Without `create`, opening never makes a file, here or through a link.
  const file = fs.openSync(t.real, { append: true });
  try {
    const info = file.statSync();
    if (!info.isFile) throw invalid(`"${t.raw}" is not a regular file`, "append to regular files only");
    if (t.checks) {
      refuseHardLinks(info, t);
      prove(fs, t, info, "written");
    }
    writeAll(file, bytes);
  } finally {
    file.close();
  }
}

/** Makes a fresh file beside the target (never through a link), proves where it is, and renames it into place. */
function replaceFile(fs: FsIo, t: Target, o: { dir: string; bytes: Uint8Array; mode: number | null }): void {
  const folder = t.checks ? fs.lstatSync(o.dir) : null;
  // Checked again just before: a folder swapped already is refused before anything is made in it.
  if (folder !== null && realOrNull(fs, o.dir) !== o.dir) throw raced(t.raw, "written");
  const fresh = posix.join(o.dir, `.ironclaw-${crypto.randomUUID()}.tmp`);
  const mode = o.mode === null ? {} : { mode: o.mode & 0o777 };
  const file = fs.openSync(fresh, { write: true, createNew: true, ...mode });
  // Where the new file really is, looked up at once: if the folder was swapped for a link, the file was made
  // where the link led, and that real path stays right even when the link is swapped back.
  const freshReal = realOrNull(fs, fresh);
  let made: FsInfo | null = null;
  try {
    made = file.statSync();
    const inPlace = folder === null ||
      (folder.isDirectory && sameAt(fs, o.dir, folder) && realOrNull(fs, o.dir) === o.dir &&
        sameAt(fs, fresh, made));
    if (!inPlace) throw raced(t.raw, "written");
    writeAll(file, o.bytes);
    // Both names lie in the proved folder: a rename replaces a link at the target and never follows it.
    fs.renameSync(fresh, t.real);
    if (t.checks && !sameAt(fs, t.real, made)) refuseUnlessSuperseded(file, t);
  } catch (e) {
    if (made !== null && !(e instanceof Superseded)) {
      discard(fs, freshReal === null ? [fresh] : [freshReal, fresh], made);
    }
    throw e instanceof Superseded ? e.cause : e;
  } finally {
    try {
      file.close();
    } catch { /* closed already */ }
  }
}

/** A refusal after the rename: the file must not be removed then (another name may hold it). */
class Superseded extends Error {}

/**
 * After the rename, the target is not this write's file. Either another write to the same file renamed its own
 * over it since (this write happened, and was superseded: its file, still open here, has no name left), or
 * the rename went elsewhere (its file still has a name): refused.
 */
function refuseUnlessSuperseded(file: FsHandle, t: Target): void {
  const links = file.statSync().nlink;
  if (links === 0) return;
  throw new Superseded("raced", { cause: raced(t.raw, "written") });
}

/** Makes the target's missing folders one at a time, each proved to be a real folder where it was asked for. */
function ensureFolder(fs: FsIo, t: Target): string {
  const dir = posix.dirname(t.real);
  const missing: string[] = [];
  for (let p = dir; p !== "/" && !existsOrRefused(fs, p); p = posix.dirname(p)) missing.unshift(p);
  for (const p of missing) {
    try {
      fs.mkdirSync(p);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    if (t.checks && realOrNull(fs, p) !== p) throw raced(t.raw, "written");
  }
  return dir;
}

/**
 * The identity of what is open must be what lies at the checked real path, which must still be real. Each
 * look walks the path again, so the two alternate twice: a folder swapped for a link would have to be swapped
 * out and back twice, each in step with the gate, to pass.
 */
function prove(fs: FsIo, t: Target, opened: FsInfo, doing: string): void {
  for (let i = 0; i < PROOF_ROUNDS; i++) {
    if (!sameAt(fs, t.real, opened) || realOrNull(fs, t.real) !== t.real) throw raced(t.raw, doing);
  }
}

/** How many times {@linkcode prove} looks at a path. */
const PROOF_ROUNDS = 2;

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

/** Whether `path` exists, or the flags refuse to look (then it cannot be made either: a grant of one file). */
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

/** How long a refused write keeps trying to remove the fresh file it made, in ms. */
const DISCARD_MS = 1000;

function realOrNull(fs: FsIo, path: string): string | null {
  try {
    return fs.realPathSync(path);
  } catch {
    return null;
  }
}

/** Removes the fresh file made for a write that was refused, wherever its name now leads, if it is still ours. */
function discard(fs: FsIo, paths: string[], made: FsInfo): void {
  // A swapped folder may lead elsewhere now and back later: look again and again, for up to a second, at the
  // file's real path first (the process's flags may refuse it: they judge the path as written) and at the path
  // through the link. The name is random, so only the file this write made can match it. Deno has no
  // unlinkat, so a swapper that keeps the link pointing back for longer leaves the empty file where it led.
  const until = Date.now() + DISCARD_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < until) {
    for (const path of paths) {
      try {
        if (sameAt(fs, path, made)) return fs.removeSync(path);
      } catch { /* raced again, or refused by the flags */ }
    }
    Atomics.wait(pause, 0, 0, 1);
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

/** Reads every name (cheap), sorts them, and looks at the sizes of the first {@linkcode MAX_LIST_ENTRIES} only. */
function listFolder(fs: FsIo, path: string): Listing {
  const all = [...fs.readDirSync(path)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries = all.slice(0, MAX_LIST_ENTRIES).map((e): Entry => {
    let size = 0;
    try {
      size = e.isFile ? fs.lstatSync(posix.join(path, e.name)).size : 0;
    } catch { /* raced away */ }
    return { name: e.name, kind: e.isSymlink ? "symlink" : e.isDirectory ? "dir" : "file", size };
  });
  return { entries, total: all.length, truncated: all.length > entries.length };
}
