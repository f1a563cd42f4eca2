/**
 * Where a WASI path leads on the host, found the way the OS would find it:
 * component by component with `lstat`, following symbolic links (their
 * targets as written), never looking outside the folder behind the directory
 * fd. The WASI guard uses it to answer ENOTCAPABLE for every path that leaves
 * its folder, whether or not what it names exists, and to find paths that
 * pass through a link.
 *
 * The guest's `..` are resolved as text first (as uvwasi does); `..` inside a
 * link's target are resolved against where the link actually lies. A link
 * whose absolute target does not start with the folder's own path counts as
 * leaving it, even when it would come back.
 *
 * @module
 */

import { join } from "node:path";

/** The most links followed in one path (Linux's limit). */
const MAX_LINKS = 40;

/** Where a path leads. */
export type Walk =
  /** It leaves the folder (or cannot be told not to): ENOTCAPABLE. */
  | { readonly kind: "outside" }
  /** Too many links: ELOOP. */
  | { readonly kind: "loop" }
  | {
    readonly kind: "inside";
    /** The host path it names, every link on the way resolved (the final one only when followed). */
    readonly host: string;
    /** Whether it passes through a symbolic link (the final component counts, followed or not). */
    readonly viaLink: boolean;
    /** Whether every component was found (false: the OS will answer ENOENT or create the last one). */
    readonly exists: boolean;
  };

/** Options of {@linkcode walkPath}. */
export interface WalkOptions {
  /** Whether a link in the final component is followed (WASI's `LOOKUPFLAGS_SYMLINK_FOLLOW`). */
  follow: boolean;
}

/**
 * Resolves `path` (a WASI path, relative to `root`) on the host without leaving `root`.
 *
 * @param root The folder behind the directory fd: absolute, its own links already resolved.
 * @param path The guest's path.
 * @param options Whether the final link is followed.
 * @returns Where it leads, or that it leaves `root`.
 */
export function walkPath(root: string, path: string, options: WalkOptions): Walk {
  const names = lexical(path);
  if (names === null) return { kind: "outside" };
  // The components still to look at, the next one last; `at` holds the real folders passed, below `root`.
  const todo = names.reverse();
  const at: string[] = [];
  let viaLink = false;
  let exists = true;
  let links = 0;
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      if (at.length === 0) return { kind: "outside" };
      at.pop();
      continue;
    }
    at.push(name);
    if (!exists) continue;
    const kind = entryKind(join(root, ...at));
    if (kind === "unreadable") return { kind: "outside" };
    if (kind === "missing") exists = false;
    if (kind !== "link") continue;
    viaLink = true;
    if (todo.length === 0 && !options.follow) continue;
    if (++links > MAX_LINKS) return { kind: "loop" };
    const target = linkTarget(join(root, ...at));
    if (target === null) return { kind: "outside" };
    at.pop();
    if (target.startsWith("/")) {
      if (target !== root && !target.startsWith(root + "/")) return { kind: "outside" };
      at.length = 0;
      todo.push(...target.slice(root.length).split("/").reverse());
    } else {
      todo.push(...target.split("/").reverse());
    }
  }
  return { kind: "inside", host: join(root, ...at), viaLink, exists };
}

/** The guest's path split into names with its `..` resolved as text; null when it is absolute or climbs out. */
function lexical(path: string): string[] | null {
  if (path.startsWith("/")) return null;
  const names: string[] = [];
  for (const name of path.split("/")) {
    if (name === "" || name === ".") continue;
    if (name !== "..") names.push(name);
    else if (names.pop() === undefined) return null;
  }
  return names;
}

/** A link's target as written; null when it cannot be read (it changed since it was looked at). */
function linkTarget(path: string): string | null {
  try {
    return Deno.readLinkSync(path);
  } catch {
    return null;
  }
}

/** What is at a host path, not following a final link. */
function entryKind(path: string): "link" | "other" | "missing" | "unreadable" {
  try {
    return Deno.lstatSync(path).isSymlink ? "link" : "other";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return "missing";
    return "unreadable";
  }
}
