/**
 * Preparing a WebAssembly component for the sandbox, in the trusted
 * supervisor: transpile it once with jco into ES modules, cap every memory its
 * core modules define, switch off the generated code's environment probe, and
 * keep the result in the state folder under the content hash. Each run then
 * instantiates it fresh in the sandbox, which needs only read access to it.
 *
 * jco is loaded only here, and only on a cache miss.
 *
 * @module
 */

import { join } from "node:path";
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
