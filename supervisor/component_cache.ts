/**
 * Preparing a WebAssembly component for the sandbox, in the trusted
 * supervisor: transpile it once with jco into ES modules, cap every memory its
 * core modules define, switch off the generated code's environment probe, and
 * keep the result in the state folder under the content hash. Each run then
 * instantiates it fresh in the sandbox, which needs only read access to it.
 *
 * A component file is not hashed again while it stays as it was: a small index
 * beside the entries maps its absolute path, size, times and inode to the hash
 * it had. A file changed within two seconds of being looked at could share all
 * of those with its former content (coarse file times), so such a file is
 * hashed and not indexed until it is older.
 *
 * jco is loaded only here, and only on a cache miss.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { IronclawError } from "../manifests/errors.ts";
import { capMemories } from "../protocol/memory_cap.ts";
import { removeStaleTemps, tempSibling } from "./cache_temp.ts";

/** Bump when the cached layout or the transpile options change. */
const CACHE_VERSION = 2;

/** The probe jco's output runs on every call; it would need env access in the sandbox. */
const DEBUG_PROBE = "globalThis?.process?.env?.JCO_DEBUG";

/** Options of {@linkcode prepareComponent}. */
export interface PrepareOptions {
  /** The cap on each memory, in 64 KiB pages (part of the cache key). */
  maxPages: number;
  /**
   * Whether the guest's `call` may wait (http.fetch, proc.run): the component is then run with JSPI, which
   * costs a suspension on every call. A Policy that grants no network and no program needs no waiting.
   * Default true.
   */
  waits?: boolean;
  /**
   * Told when a slow step starts and ends: `transpile-start` before jco runs (a cache miss, some seconds),
   * `transpile-end` once it is over, whether it succeeded or not. Never called on a cache hit. The CLI shows
   * a progress line in between; this module prints nothing.
   */
  onProgress?: (phase: "transpile-start" | "transpile-end") => void;
}

/** A component ready to instantiate. */
export interface PreparedComponent {
  /** The cache folder holding `agent.js` and the core modules. */
  dir: string;
  /** Whether this call transpiled it (false: it came from the cache). */
  transpiled: boolean;
  /** Milliseconds spent. */
  ms: number;
}

async function sha256Hex(parts: Uint8Array[]): Promise<string> {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A file's size, times and identity: unchanged means unchanged content, for a file older than {@linkcode RECENT_MS}. */
interface FileStamp {
  size: number;
  mtime: number;
  ctime: number | null;
  ino: number | null;
  dev: number;
}

/** An index entry: the stamp of the file when it was hashed, and the entry's hash. */
interface IndexEntry extends FileStamp {
  hash: string;
}

/** Files changed this recently (or in the future) are hashed: their times may not tell a change yet. */
const RECENT_MS = 2000;

/** The most files the index remembers; the oldest are forgotten first. */
const MAX_INDEXED = 256;

/** The index file among the cache entries. */
const INDEX_FILE = "index.json";

/** The stamp of a file, or null when its times cannot be trusted to tell a change (unknown, recent). */
function stampOf(info: Deno.FileInfo, now: number): FileStamp | null {
  const mtime = info.mtime?.getTime();
  if (mtime === undefined || mtime > now - RECENT_MS) return null;
  const ctime = info.ctime?.getTime() ?? null;
  if (ctime !== null && ctime > now - RECENT_MS) return null;
  return { size: info.size, mtime, ctime, ino: info.ino, dev: info.dev };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtime === b.mtime && a.ctime === b.ctime && a.ino === b.ino &&
    a.dev === b.dev;
}

async function readIndex(root: string): Promise<Record<string, IndexEntry>> {
  try {
    const parsed: unknown = JSON.parse(await Deno.readTextFile(join(root, INDEX_FILE)));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? parsed as Record<string, IndexEntry>
      : {};
  } catch {
    return {}; // no index yet, or a damaged one: hash
  }
}

/** Records an entry, written beside the index and renamed over it. Best effort: the index only saves hashing. */
async function recordInIndex(root: string, key: string, entry: IndexEntry): Promise<void> {
  const index = await readIndex(root);
  delete index[key];
  index[key] = entry;
  const keys = Object.keys(index);
  for (const old of keys.slice(0, Math.max(0, keys.length - MAX_INDEXED))) delete index[old];
  const path = join(root, INDEX_FILE);
  const tmp = tempSibling(path);
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(index));
    await Deno.rename(tmp, path);
  } catch {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Prepares the component in a file: like {@linkcode prepareComponent}, but a file that has not changed since
 * it was last prepared (same absolute path, size, times and inode, and not changed in the last two seconds)
 * is found in the cache without being read or hashed.
 *
 * @param path The component file (the index keys it by its absolute path).
 * @param stateDir The runtime's state folder.
 * @param options As for {@linkcode prepareComponent}.
 * @returns Where the prepared component is.
 * @throws {IronclawError} As {@linkcode prepareComponent}.
 * @throws {Deno.errors.NotFound} Or another error of the file system, when the file cannot be read.
 */
export async function prepareComponentFile(
  path: string,
  stateDir: string,
  options: PrepareOptions,
): Promise<PreparedComponent> {
  const started = performance.now();
  const root = join(stateDir, "cache", "components");
  const key = JSON.stringify([CACHE_VERSION, options.maxPages, options.waits ?? true, resolve(path)]);
  const before = stampOf(await Deno.stat(path), Date.now());
  if (before !== null) {
    const known = (await readIndex(root))[key];
    if (
      known && typeof known.hash === "string" && /^[0-9a-f]{40}$/.test(known.hash) && sameStamp(known, before)
    ) {
      const dir = join(root, known.hash);
      try {
        await Deno.stat(join(dir, "agent.js"));
        return { dir, transpiled: false, ms: performance.now() - started };
      } catch { /* the entry is gone: prepare it again */ }
    }
  }
  const prepared = await prepareComponent(await Deno.readFile(path), stateDir, options);
  // The stamp taken before the read: a change since then shows as a different stamp next time.
  if (before !== null) {
    const { size, mtime, ctime, ino, dev } = before;
    await recordInIndex(root, key, { size, mtime, ctime, ino, dev, hash: basename(prepared.dir) });
  }
  return { ...prepared, ms: performance.now() - started };
}

/**
 * Transpiles (or finds in the cache) a component for the sandbox.
 *
 * @param wasm The component's bytes.
 * @param stateDir The runtime's state folder; the cache is `<state>/cache/components/<hash>`.
 * @param options The cap on each memory and whether its calls may wait (both part of the cache key), and a
 *   callback for the slow transpile.
 * @returns Where the prepared component is.
 * @throws {IronclawError} `ERR_MODULE_INVALID` when jco cannot transpile it, `ERR_IO` when it cannot be stored
 *   (a full or read-only state folder).
 */
export async function prepareComponent(
  wasm: Uint8Array,
  stateDir: string,
  options: PrepareOptions,
): Promise<PreparedComponent> {
  const started = performance.now();
  const maxPages = options.maxPages;
  const waits = options.waits ?? true;
  const key = new TextEncoder().encode(JSON.stringify({ v: CACHE_VERSION, maxPages, waits }));
  const hash = (await sha256Hex([wasm, key])).slice(0, 40);
  const root = join(stateDir, "cache", "components");
  const dir = join(root, hash);
  try {
    await Deno.stat(join(dir, "agent.js"));
    return { dir, transpiled: false, ms: performance.now() - started };
  } catch { /* a miss */ }

  // An entry appears only by a rename, whole: a folder a killed process left is a temporary one, never
  // trusted, and removed here once its process is gone.
  await removeStaleTemps(root);
  options.onProgress?.("transpile-start");
  try {
    return await transpileInto(wasm, { dir, root, maxPages, waits, started });
  } finally {
    options.onProgress?.("transpile-end");
  }
}

/** A cache miss: transpiles, patches and caps the component, and renames it into `dir`. */
async function transpileInto(
  wasm: Uint8Array,
  { dir, root, maxPages, waits, started }: {
    dir: string;
    root: string;
    maxPages: number;
    waits: boolean;
    started: number;
  },
): Promise<PreparedComponent> {
  const { transpileBytes } = await import("@bytecodealliance/jco-transpile");
  let files: Record<string, Uint8Array>;
  try {
    ({ files } = await transpileBytes(wasm, {
      name: "agent",
      instantiation: "async",
      nodejsCompat: false,
      emitTypescriptDeclarations: false,
      ...(waits
        ? { asyncMode: "jspi", asyncImports: ["ironclaw:agent/host#call"], asyncExports: ["run"] }
        : {}),
    }));
  } catch (e) {
    throw new IronclawError(
      "ERR_MODULE_INVALID",
      `The component cannot be prepared: ${(e as Error).message ?? e}`,
      {
        hint: "build it against wit/agent.wit (ironclaw build agent.js -o agent.wasm)",
        cause: e,
      },
    );
  }
  const js = new TextDecoder().decode(files["agent.js"]);
  if (js.split(DEBUG_PROBE).length > 2) {
    throw new Error("jco's output changed: the debug probe occurs more than once");
  }
  files["agent.js"] = new TextEncoder().encode(js.replace(DEBUG_PROBE, "false"));
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith(".wasm")) {
      try {
        files[name] = capMemories(data, maxPages).bytes;
      } catch (e) {
        throw new IronclawError(
          "ERR_LIMIT",
          `The component does not fit in its memory limit: ${(e as Error).message}`,
          {
            hint: "raise [limits] memory_mb in the manifest",
          },
        );
      }
    }
  }
  await storeEntry(files, { dir, root });
  return { dir, transpiled: true, ms: performance.now() - started };
}

/**
 * Writes the files of a cache entry beside it, then renames them into place: a reader never sees half an
 * entry, and a failure (a full disk) leaves none, not even the temporary folder.
 */
async function storeEntry(
  files: Record<string, Uint8Array>,
  { dir, root }: { dir: string; root: string },
): Promise<void> {
  const tmp = tempSibling(dir);
  try {
    await Deno.mkdir(root, { recursive: true });
    await Deno.mkdir(tmp);
    for (const [name, data] of Object.entries(files)) await Deno.writeFile(join(tmp, name), data);
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    // Another process may have stored the same entry at the same time.
    if (await Deno.stat(join(dir, "agent.js")).then(() => true, () => false)) return;
    throw new IronclawError(
      "ERR_IO",
      `Cannot store the prepared component in "${root}": ${(e as Error).message}`,
      {
        hint: "check that the state folder is writable and its disk has room (or set [runtime] state_dir)",
        cause: e,
      },
    );
  }
}
