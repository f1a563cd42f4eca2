/**
 * File grants: what a granted path may be, and whether a path falls inside a grant.
 *
 * @module
 */

import { posix } from "node:path";
import { type Checked, refuse } from "./result.ts";

/** Options of {@linkcode checkPathGrant}. */
export interface PathGrantOptions {
  /** Absolute folder that relative grants resolve against (the manifest's folder). */
  baseDir: string;
  /** The user's home folder, which may not be granted whole. */
  home?: string;
  /**
   * Resolves symbolic links: the real absolute path, or undefined when the path
   * does not exist. Supplied by the caller, so this module stays free of I/O.
   */
  realPath?: (path: string) => string | undefined;
}

/** Trees that belong to the kernel or the system, never to an agent: nothing inside them may be granted. */
const SYSTEM_TREES = ["/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run"];

/** Folders and files under a home folder that hold credentials. */
const HOME_SECRETS = [
  ".ssh",
  ".gnupg",
  ".aws",
  ".azure",
  ".kube",
  ".docker",
  ".config/gcloud",
  ".netrc",
  ".git-credentials",
  ".npmrc",
  ".pypirc",
  ".password-store",
  ".local/share/keyrings",
];

/**
 * Checks one granted path and returns its absolute, normalised, symlink-free form.
 *
 * Refused: empty paths, NUL bytes, `~` (never expanded), relative paths that climb
 * out of the base folder, `/`, any top-level folder (`/etc`, `/home`, `/tmp`...),
 * anything in the system's trees (`/proc`, `/sys`, `/dev`, `/etc`, `/boot`, `/run`),
 * the home folder and its ancestors, the credential folders in it (`~/.ssh`...),
 * and a path whose real location (symlinks resolved through its deepest existing
 * part) is any of those or leaves the base folder of a relative grant.
 *
 * @param raw The path as written in the manifest.
 * @param options The base folder, the home folder and a symlink resolver.
 * @returns The path to grant, or why not.
 * @example
 * ```ts
 * import { checkPathGrant } from "./paths.ts";
 * const ok = checkPathGrant("notes/../notes/", { baseDir: "/srv/agent" });
 * if (!ok.ok || ok.value !== "/srv/agent/notes") throw new Error("unexpected");
 * const no = checkPathGrant("../..", { baseDir: "/srv/agent" });
 * if (no.ok || no.code !== "ERR_PATH_ESCAPE") throw new Error("unexpected");
 * ```
 */
export function checkPathGrant(raw: string, options: PathGrantOptions): Checked<string> {
  if (raw.length === 0) {
    return refuse({
      code: "ERR_PATH_EMPTY",
      message: "The path is empty",
      hint: 'write a folder such as "notes"',
    });
  }
  if (raw.includes("\0")) {
    return refuse({
      code: "ERR_NUL_BYTE",
      message: "The path contains a NUL character",
      hint: "remove the \\u0000 escape",
    });
  }
  if (raw === "~" || raw.startsWith("~/")) {
    return refuse({
      code: "ERR_PATH_TILDE",
      message: `"${raw}" starts with "~", which is not expanded`,
      hint: "write the absolute path, or a path relative to the manifest's folder",
    });
  }
  const relative = !posix.isAbsolute(raw);
  if (relative) {
    const norm = posix.normalize(raw);
    if (norm === ".." || norm.startsWith("../")) {
      return refuse({
        code: "ERR_PATH_ESCAPE",
        message: `"${raw}" climbs out of the manifest's folder`,
        hint: "grant a folder inside the manifest's folder, or write the absolute path you mean",
      });
    }
  }
  const lexical = stripSlash(posix.resolve(options.baseDir, raw));
  const unsafe = unsafeReason(lexical, options.home);
  if (unsafe) return unsafe;
  const real = options.realPath ? realPathOfNearest(lexical, options.realPath) : lexical;
  if (real === lexical) return { ok: true, value: lexical };
  const realUnsafe = unsafeReason(real, options.home);
  if (realUnsafe) {
    return refuse({
      code: "ERR_PATH_SYMLINK",
      message: `"${raw}" is a symbolic link to "${real}", which may not be granted: ${realUnsafe.message}`,
      hint: realUnsafe.hint,
    });
  }
  const realBase = options.realPath ? realPathOfNearest(options.baseDir, options.realPath) : options.baseDir;
  if (relative && !isWithin(realBase, real)) {
    return refuse({
      code: "ERR_PATH_SYMLINK",
      message: `"${raw}" is a symbolic link that leads out of the manifest's folder, to "${real}"`,
      hint: "grant the real folder by its absolute path if you mean it, or replace the link",
    });
  }
  return { ok: true, value: real, warning: `"${raw}" is a symbolic link; "${real}" is granted` };
}

/**
 * The real path of `path`: its symlinks resolved through the deepest part that
 * exists, with the missing rest appended (a grant may name a file not yet made).
 */
function realPathOfNearest(path: string, realPath: (p: string) => string | undefined): string {
  const missing: string[] = [];
  let p = path;
  for (;;) {
    const real = realPath(p);
    if (real !== undefined) return missing.length ? posix.join(real, ...missing.reverse()) : real;
    if (p === "/") return path;
    missing.push(posix.basename(p));
    p = posix.dirname(p);
  }
}

function unsafeReason(path: string, home: string | undefined): Refusal | undefined {
  if (path === "/") {
    return refuse({
      code: "ERR_PATH_ROOT",
      message: `"/" grants the whole file system`,
      hint: "grant only the folders the agent needs",
    });
  }
  if (path.split("/").length === 2) {
    return refuse({
      code: "ERR_PATH_SYSTEM",
      message: `"${path}" is directly under "/", where the system keeps its own folders`,
      hint: "grant a folder one level deeper that holds only what the agent needs",
    });
  }
  const tree = SYSTEM_TREES.find((t) => isWithin(t, path));
  if (tree !== undefined) {
    return refuse({
      code: "ERR_PATH_SYSTEM",
      message: `"${path}" is inside "${tree}", which belongs to the system`,
      hint: "the system's files expose the whole machine: grant none of them",
    });
  }
  const h = home ? stripSlash(posix.normalize(home)) : undefined;
  if (h && h !== "/" && isWithin(path, h)) {
    return refuse({
      code: "ERR_PATH_HOME",
      message: `"${path}" contains the home folder`,
      hint: "grant only the folders inside your home that the agent needs",
    });
  }
  const secret = h && h !== "/"
    ? HOME_SECRETS.map((s) => posix.join(h, s)).find((s) => isWithin(s, path) || isWithin(path, s))
    : undefined;
  if (secret !== undefined) {
    return refuse({
      code: "ERR_PATH_SECRET",
      message: `"${path}" ${
        isWithin(secret, path) ? "is inside" : "contains"
      } "${secret}", which holds credentials`,
      hint: "grant a folder that holds only what the agent needs",
    });
  }
  return undefined;
}

type Refusal = Extract<Checked<never>, { ok: false }>;

function stripSlash(p: string): string {
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/**
 * True when `path` is `dir` or inside it. Both must be absolute and normalised.
 *
 * @param dir A granted folder or file.
 * @param path The path asked for.
 * @returns Whether the grant covers the path.
 * @example
 * ```ts
 * import { isWithin } from "./paths.ts";
 * if (!isWithin("/a/b", "/a/b/c") || isWithin("/a/b", "/a/bc")) throw new Error("unexpected");
 * ```
 */
export function isWithin(dir: string, path: string): boolean {
  if (dir === "/") return path.startsWith("/");
  return path === dir || path.startsWith(dir + "/");
}
