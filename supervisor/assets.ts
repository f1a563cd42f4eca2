/**
 * The package's own files, found the same way wherever the package was loaded
 * from. Three cases:
 *
 * - **checkout**: the modules are `file:` URLs of a local checkout (or of a
 *   command installed from one). Files are read where they are; the sandbox
 *   entry is a bundle of `sandbox/sandbox.ts` built by `deno bundle` into the
 *   cache folder, rebuilt whenever a source file changes.
 * - **remote**: the modules came over `https:` (JSR) or `http:`. Each file is
 *   fetched once into the cache folder (under a name made from the package's
 *   URL, which JSR never changes for a version), the sandbox entry being the
 *   bundle the package ships in `dist/sandbox/` (`deno task bundle`).
 * - **compiled**: a `deno compile` binary. Files live in the binary's
 *   virtual file system (`deno task compile` includes them), and the sandbox
 *   process is the binary itself (see {@linkcode sandboxEntry}).
 *
 * In every case the sandbox process runs a self-contained bundle (or the
 * binary) whose only imports are `node:` built-ins and its own chunks: it
 * resolves no npm package and downloads nothing, so it never depends on what
 * the caller's Deno cache holds. Nothing here runs at module load: a module of this package
 * loads from any URL.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { IronclawError } from "../manifests/errors.ts";
import { PROC_SELF_CWD, WORKING_FOLDER_LINK } from "../protocol/protocol.ts";
import { removeStaleTemps, tempSibling } from "./cache_temp.ts";

/** Where the package was loaded from. */
export type PackageSource = "checkout" | "remote" | "compiled";

/** The package's root (the folder of `mod.ts`), as a URL. */
function packageRoot(): URL {
  return new URL("../", import.meta.url);
}

/**
 * Where this package was loaded from.
 *
 * @param root The package's root URL; default this package's.
 * @returns `compiled` inside a `deno compile` binary, `checkout` for `file:` URLs, else `remote`.
 * @example
 * ```ts
 * import { packageSource } from "./assets.ts";
 * if (packageSource(new URL("https://jsr.io/@ironclaw/cli/0.1.0/")) !== "remote") throw new Error();
 * ```
 */
export function packageSource(root: URL = packageRoot()): PackageSource {
  if (Deno.build.standalone) return "compiled";
  return root.protocol === "file:" ? "checkout" : "remote";
}

/** The plugin author API (`definePlugin`, `PluginGateError`), which plugin code may import. */
export const PLUGIN_API_FILE = "plugins/plugin.ts";

/** Files the sandbox may load besides its entry, relative to the package root (plugin code it imports). */
export const BUILTIN_PLUGIN_FILES: readonly string[] = [
  PLUGIN_API_FILE,
  "plugins/builtin/calculator/plugin.toml",
  "plugins/builtin/calculator/mod.ts",
  "plugins/builtin/http-json/plugin.toml",
  "plugins/builtin/http-json/mod.ts",
  "plugins/builtin/kv-memory/plugin.toml",
  "plugins/builtin/kv-memory/mod.ts",
];

/** The WIT world agents are built against, relative to the package root. */
export const WIT_FILE = "wit/agent.wit";

/**
 * The folder of the shipped sandbox bundle of a published package, relative to
 * its root: `sandbox.js`, the chunks it loads as it needs them, and
 * {@linkcode BUNDLE_FILES} listing them all.
 */
export const SANDBOX_BUNDLE = "dist/sandbox/";

/** The file of a bundle folder that lists its files (written last: its presence means the folder is whole). */
export const BUNDLE_FILES = "files.json";

/**
 * The sources the sandbox bundle is made of, relative to the package root:
 * every module of these folders but tests, and the files that pin npm
 * packages. A change to any of them makes a checkout rebuild its bundle.
 */
const BUNDLE_INPUTS = [
  "sandbox",
  "protocol",
  "capabilities",
  "manifests",
  "plugins",
  "deno.json",
  "deno.lock",
];

/** Bump when the bundle's making changes (as {@linkcode lazyRequire} did): a checkout then rebuilds it. */
const BUNDLE_FORMAT = 2;

/** Options shared by the functions of this module. */
export interface AssetOptions {
  /**
   * The cache folder for bundles and fetched files; default `$IRONCLAW_CACHE_DIR`,
   * else `$XDG_CACHE_HOME/ironclaw`, else `~/.cache/ironclaw`.
   */
  cacheDir?: string;
  /** The package root; default this package's (tests serve a checkout over HTTP). */
  root?: URL;
  /** Called with a line of text when a slow step starts, and with `null` when it ends. */
  onProgress?: (message: string | null) => void;
}

/**
 * The cache folder IronClaw keeps derived files in (never records).
 *
 * @returns `$IRONCLAW_CACHE_DIR`, else `$XDG_CACHE_HOME/ironclaw`, else `$HOME/.cache/ironclaw`,
 *   else a folder under the system's temporary folder.
 */
export function defaultCacheDir(): string {
  const explicit = Deno.env.get("IRONCLAW_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "ironclaw");
  const home = Deno.env.get("HOME");
  if (home) return join(home, ".cache", "ironclaw");
  return join(Deno.env.get("TMPDIR") ?? "/tmp", `ironclaw-cache-${Deno.uid() ?? "user"}`);
}

/**
 * A folder name for a remote package root: readable, and unique by a SHA-256 of the whole URL (another package
 * must not be able to pick a URL that shares the folder). `node:crypto` is loaded here only, for a remote
 * package: loading it costs some tens of ms of CPU.
 */
function remoteFolderName(root: URL): string {
  const readable = `${root.host}${root.pathname}`.replace(/[^A-Za-z0-9.@-]+/g, "_").slice(0, 80);
  const { createHash } = process.getBuiltinModule("node:crypto");
  const hash = createHash("sha256").update(root.href).digest("hex").slice(0, 12);
  return `${readable}-${hash}`;
}

/** Writes a file so that no reader ever sees it half written: a temporary name, then a rename. */
async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await removeStaleTemps(dirname(path));
  const tmp = tempSibling(path);
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * A package file as a local path: where it is in a checkout or a compiled
 * binary; fetched once into the cache folder for a remote package.
 *
 * @param path The file, relative to the package root (`wit/agent.wit`).
 * @param options The cache folder and the root.
 * @returns Its absolute local path.
 * @throws {IronclawError} `ERR_ASSET` when a remote file cannot be fetched or stored.
 */
export async function packageFile(
  path: string,
  options: AssetOptions & { remotePath?: string } = {},
): Promise<string> {
  const root = options.root ?? packageRoot();
  if (packageSource(root) !== "remote") return fileURLToPath(new URL(path, root));
  const local = join(options.cacheDir ?? defaultCacheDir(), "remote", remoteFolderName(root), path);
  if (await exists(local)) return local;
  const url = new URL(options.remotePath ?? path, root);
  let bytes: Uint8Array;
  try {
    const response = await fetch(url);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    throw new IronclawError(
      "ERR_ASSET",
      `Cannot fetch IronClaw's file "${url.href}": ${(e as Error).message}`,
      {
        hint: path.startsWith(SANDBOX_BUNDLE)
          ? "the package was published without its sandbox bundle: run `deno task bundle` before publishing"
          : "check the network, or install IronClaw from a checkout",
        cause: e,
      },
    );
  }
  try {
    await writeAtomic(local, bytes);
  } catch (e) {
    throw new IronclawError("ERR_ASSET", `Cannot store "${local}": ${(e as Error).message}`, {
      hint: "set IRONCLAW_CACHE_DIR to a writable folder",
      cause: e,
    });
  }
  return local;
}

/**
 * The folder of the plugins that ship with IronClaw, as a local path.
 *
 * @param options The cache folder and the root.
 * @returns The folder (`plugins/builtin`), fetched whole first for a remote package.
 * @throws {IronclawError} `ERR_ASSET` when a remote file cannot be fetched.
 */
export async function builtinPluginsDir(options: AssetOptions = {}): Promise<string> {
  let dir = "";
  for (const file of BUILTIN_PLUGIN_FILES) {
    const local = await packageFile(file, options);
    if (file === PLUGIN_API_FILE) dir = join(dirname(local), "builtin");
  }
  return dir;
}

/** How the sandbox process is started: its program and the arguments before any flag. */
export interface SandboxEntry {
  /** `module`: `deno run <flags> <path>`; `self`: the compiled binary runs itself as the sandbox. */
  kind: "module" | "self";
  /** The bundle's path (kind `module`), or the binary's (kind `self`). */
  path: string;
  /** The folder the sandbox process reads its own code from (granted read-only). */
  dir: string;
  /**
   * A Deno cache folder warmed by loading the entry once (Deno's compiled code
   * of the bundle and of the `node:` modules it uses): each run's sandbox starts
   * from a copy of it, which is about 2.5 times faster to start than from an
   * empty one. Absent until {@linkcode ensureSandboxEntry} made it.
   */
  seed?: string;
}

/**
 * Where the sandbox entry is (or will be once {@linkcode ensureSandboxEntry}
 * has run), without building or fetching anything: what `ironclaw check`
 * prints is the command a run will use.
 *
 * @param options The cache folder and the root.
 * @returns The entry.
 */
export function sandboxEntry(options: AssetOptions = {}): SandboxEntry {
  const root = options.root ?? packageRoot();
  const cache = options.cacheDir ?? defaultCacheDir();
  switch (packageSource(root)) {
    case "compiled":
      return { kind: "self", path: Deno.execPath(), dir: fileURLToPath(new URL("sandbox/", root)) };
    case "remote": {
      const dir = join(cache, "remote", remoteFolderName(root), SANDBOX_BUNDLE);
      return { kind: "module", path: join(dir, "sandbox.js"), dir };
    }
    case "checkout": {
      const dir = join(cache, "sandbox", sourceFingerprint(fileURLToPath(root)), "bundle");
      return { kind: "module", path: join(dir, "sandbox.js"), dir };
    }
  }
}

/**
 * A fingerprint of a checkout's bundle inputs: their names, sizes and change
 * times (a stat per file, about a millisecond; no file is read).
 */
function sourceFingerprint(rootDir: string): string {
  const lines = [`bundle format ${BUNDLE_FORMAT}\n`];
  const visit = (path: string) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch {
      return;
    }
    if (info.isDirectory) {
      const names = [...Deno.readDirSync(path)].map((e) => e.name).sort();
      for (const name of names) visit(join(path, name));
    } else if (info.isFile && !path.endsWith("_test.ts") && /\.(ts|json|lock|toml)$/.test(path)) {
      lines.push(`${relative(rootDir, path)}\0${info.size}\0${info.mtime?.getTime() ?? 0}\n`);
    }
  };
  for (const input of BUNDLE_INPUTS) visit(join(rootDir, input));
  return fingerprint(lines.join(""));
}

/**
 * A 64-bit FNV-1a hash of a text's UTF-8 bytes, as 16 hex digits: the name of a checkout's bundle folder, not a
 * defence (whoever can write the sources it covers runs their code anyway). Synchronous and without
 * `node:crypto`, whose loading costs every run some tens of ms of CPU.
 */
function fingerprint(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/**
 * Makes sure the sandbox entry exists: builds the bundle of a checkout when
 * its sources changed (about 1-2 s, once), fetches the shipped bundle of a
 * remote package (once); nothing for a compiled binary.
 *
 * @param options The cache folder, the root, and a progress callback.
 * @returns The entry, ready to run.
 * @throws {IronclawError} `ERR_ASSET` when the bundle cannot be built or fetched, with what to do.
 */
export async function ensureSandboxEntry(options: AssetOptions = {}): Promise<SandboxEntry> {
  const root = options.root ?? packageRoot();
  const entry = sandboxEntry(options);
  if (entry.kind === "self") return entry;
  if (!await exists(join(entry.dir, BUNDLE_FILES))) {
    const remote = packageSource(root) === "remote";
    options.onProgress?.(
      remote
        ? "Fetching the sandbox runtime"
        : "Building the sandbox runtime (once per change of IronClaw's sources)",
    );
    try {
      if (remote) await fetchBundle(options);
      else {
        await bundleSandbox(fileURLToPath(root), entry.dir);
        await pruneBundles(dirname(dirname(entry.dir)), dirname(entry.dir));
      }
      ensureWorkingFolderLink(entry.dir);
    } finally {
      options.onProgress?.(null);
    }
  }
  const seed = await ensureSeed(entry);
  return seed ? { ...entry, seed } : entry;
}

/**
 * Makes the link {@linkcode WORKING_FOLDER_LINK} to `/proc/self/cwd` beside the sandbox's code, through which
 * its gate reads the folder it holds (see `sandbox/gate/_fs_proof.ts`). Only where `/proc` is; when it cannot
 * be made, the gate proves paths instead.
 */
function ensureWorkingFolderLink(dir: string): void {
  if (Deno.build.os !== "linux") return;
  const link = join(dir, WORKING_FOLDER_LINK);
  try {
    if (Deno.readLinkSync(link) === PROC_SELF_CWD) return;
    Deno.removeSync(link);
  } catch { /* not there yet */ }
  try {
    Deno.symlinkSync(PROC_SELF_CWD, link);
  } catch { /* made by another process meanwhile, or a folder that takes no links */ }
}

/**
 * Makes the warmed Deno cache folder of a bundle (see {@linkcode SandboxEntry}`.seed`)
 * by starting it once without a channel: its modules load and compile, it finds
 * no channel and exits, and no agent code runs. Only a speed-up: when it fails, runs start from an empty folder.
 */
async function ensureSeed(entry: SandboxEntry, deno: string = Deno.execPath()): Promise<string | undefined> {
  const seed = join(dirname(entry.dir), "deno-cache");
  const bundle = entry.path;
  if (await exists(join(seed, SEED_MARK))) return seed;
  await removeStaleTemps(dirname(seed));
  const tmp = tempSibling(seed);
  try {
    await new Deno.Command(deno, {
      args: ["run", "--no-prompt", "--cached-only", "--no-config", bundle],
      clearEnv: true,
      env: { DENO_DIR: tmp, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    await Deno.writeTextFile(join(tmp, SEED_MARK), "");
    await Deno.rename(tmp, seed);
    return seed;
  } catch {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    // Another process may have made it at the same time.
    return await exists(join(seed, SEED_MARK)) ? seed : undefined;
  }
}

/** Fetches the shipped bundle folder of a remote package: its list of files, then each, the list kept last. */
async function fetchBundle(options: AssetOptions): Promise<void> {
  const list = await packageFile(`${SANDBOX_BUNDLE}${BUNDLE_FILES}.pending`, {
    ...options,
    remotePath: `${SANDBOX_BUNDLE}${BUNDLE_FILES}`,
  });
  const files = JSON.parse(await Deno.readTextFile(list)) as unknown;
  if (!Array.isArray(files) || !files.every((f) => typeof f === "string" && /^[\w.-]+\.js$/.test(f))) {
    throw new IronclawError(
      "ERR_ASSET",
      `The package's "${SANDBOX_BUNDLE}${BUNDLE_FILES}" is not a list of files`,
      {
        hint: "republish the package after `deno task bundle`",
      },
    );
  }
  for (const file of files as string[]) await packageFile(`${SANDBOX_BUNDLE}${file}`, options);
  await Deno.rename(list, join(dirname(list), BUNDLE_FILES));
}

/** How many older bundles of a checkout are kept, and for at least how long (a run may be about to start one). */
const KEEP_BUNDLES = 3;
const KEEP_BUNDLES_MS = 60 * 60 * 1000;

/** Removes the bundles of a checkout's earlier sources, but the newest few and any made in the last hour. */
async function pruneBundles(parent: string, current: string): Promise<void> {
  const found: { path: string; mtime: number }[] = [];
  try {
    for await (const e of Deno.readDir(parent)) {
      const path = join(parent, e.name);
      if (!e.isDirectory || path === current) continue;
      found.push({ path, mtime: (await Deno.stat(path)).mtime?.getTime() ?? 0 });
    }
  } catch {
    return;
  }
  found.sort((a, b) => b.mtime - a.mtime);
  for (const old of found.slice(KEEP_BUNDLES)) {
    if (Date.now() - old.mtime < KEEP_BUNDLES_MS) continue;
    await Deno.remove(old.path, { recursive: true }).catch(() => {});
  }
}

/** The file that marks a seed folder as complete (it is made last). */
export const SEED_MARK = ".complete";

/**
 * Bundles `sandbox/sandbox.ts` of a checkout, with every npm package it uses,
 * into a folder of JavaScript files whose only imports are `node:` built-ins and
 * each other: `sandbox.js`, and chunks loaded only when a run needs them (the
 * QuickJS engine only for JavaScript CodeAct, say). {@linkcode BUNDLE_FILES}
 * lists them. The folder appears whole or not at all.
 *
 * @param rootDir The checkout.
 * @param outDir The bundle's folder (replaced).
 * @param deno The Deno executable; default this process's.
 * @throws {IronclawError} `ERR_ASSET` with Deno's message when bundling fails.
 */
export async function bundleSandbox(
  rootDir: string,
  outDir: string,
  deno: string = Deno.execPath(),
): Promise<void> {
  const tmp = tempSibling(outDir.replace(/\/+$/, ""));
  await removeStaleTemps(dirname(tmp));
  try {
    await runBundler(deno, [
      "--code-splitting",
      `--config=${join(rootDir, "deno.json")}`,
      `--outdir=${tmp}`,
      join(rootDir, "sandbox", "sandbox.ts"),
    ]);
    const files: string[] = [];
    for await (const e of Deno.readDir(tmp)) if (e.isFile && e.name.endsWith(".js")) files.push(e.name);
    files.sort();
    for (const f of files) await stripCachePaths(join(tmp, f));
    await Deno.writeTextFile(join(tmp, BUNDLE_FILES), JSON.stringify(files, null, 1) + "\n");
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(dirname(outDir), { recursive: true });
    await Deno.rename(tmp, outDir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    // Another process may have built the same folder at the same time.
    if (e instanceof IronclawError || !await exists(join(outDir, BUNDLE_FILES))) throw e;
  }
}

/** Options of {@linkcode bundleModule}. */
export interface BundleOptions {
  /** The `deno.json` whose imports and lockfile resolve the module's packages. */
  config: string;
  /** The Deno executable; default this process's. */
  deno?: string;
}

/**
 * Bundles a module with every npm package it uses into one JavaScript file
 * whose only imports are `node:` built-ins, so it runs with `--no-config
 * --cached-only` on any Deno cache, an empty one included.
 *
 * @param entry The module to bundle.
 * @param output The bundle's path (written atomically).
 * @param options The config that resolves its packages, and the Deno executable.
 * @throws {IronclawError} `ERR_ASSET` with Deno's message when bundling fails.
 */
export async function bundleModule(entry: string, output: string, options: BundleOptions): Promise<void> {
  await Deno.mkdir(dirname(output), { recursive: true });
  const tmp = `${output}.${crypto.randomUUID()}.tmp.js`;
  try {
    await runBundler(options.deno ?? Deno.execPath(), [`--config=${options.config}`, "-o", tmp, entry]);
    await stripCachePaths(tmp);
    await Deno.rename(tmp, output);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Runs `deno bundle` for Deno, as ES modules, with these arguments. */
async function runBundler(deno: string, args: string[]): Promise<void> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(deno, {
      args: ["bundle", "--quiet", "--platform=deno", "--format=esm", ...args],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new IronclawError("ERR_ASSET", `Cannot start "${deno} bundle": ${(e as Error).message}`, {
      hint: "the sandbox runtime is built with Deno's bundler: run IronClaw with Deno 2.9 or later",
      cause: e,
    });
  }
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr).trim().split("\n").slice(-8).join("\n");
    throw new IronclawError("ERR_ASSET", `Cannot build the sandbox runtime:\n${stderr}`, {
      hint: "run `deno task bundle` in the checkout to see the whole error",
    });
  }
}

/** esbuild labels modules by their path: keeps the machine's cache folder out of a bundle file. */
async function stripCachePaths(file: string): Promise<void> {
  const text = await Deno.readTextFile(file);
  await Deno.writeTextFile(
    file,
    lazyRequire(text.replace(/(?:\.\.\/)*[^"'\s]*?\/npm\/registry\.npmjs\.org\//g, "npm/")),
  );
}

/** The `require` the bundler gives the CommonJS code of npm packages, made when the module is loaded. */
const EAGER_REQUIRE = 'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);";

/** The same `require`, made at its first call: loading `node:module` starts much of Node compatibility. */
const LAZY_REQUIRE = "var __deno_internal_require;\n" +
  "var __require = (id) => (__deno_internal_require ??= " +
  'globalThis.process.getBuiltinModule("node:module").createRequire(import.meta.url))(id);';

/**
 * Makes the bundler's `require` helper lazy. The helper sits in a chunk that every entry imports for its side
 * effects, so as made it loads `node:module` (and with it much of Node compatibility, some 40 ms of CPU) in
 * every sandbox and every guest Worker, although only the CommonJS code of a few npm packages calls it. A
 * bundler that writes the helper otherwise leaves the text as it is.
 *
 * @param text A bundle file.
 * @returns The file with the helper made lazy.
 * @example
 * ```ts
 * import { lazyRequire } from "./assets.ts";
 * const eager = 'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
 *   "var __require = __deno_internal_createRequire(import.meta.url);";
 * if (lazyRequire(eager).includes('from "node:module"')) throw new Error("still eager");
 * ```
 */
export function lazyRequire(text: string): string {
  return text.replace(EAGER_REQUIRE, LAZY_REQUIRE);
}
