/**
 * The RunPlan: everything a run is, computed once before anything starts.
 * The manifest (parsed once), the runtime config, the plugin index, the
 * Policy (resolved once), this run's runtime paths (the prepared component's
 * cache folder, Pyodide's folder, the plugins' data folders, a WASI guest's
 * pipes, the sandbox entry) and the exact sandbox command. `ironclaw check`
 * prints the plan's command and `ironclaw run` spawns it, so the two cannot
 * differ but for the network: a run resolves its granted host names once, when
 * it is planned, and its command lists their addresses where a check's names
 * the hosts as granted (see `resolver.ts`); the run's `run` event records it.
 *
 * Planning reads and computes; the only thing it may write is the
 * content-addressed component cache (a component is transpiled on a miss, since
 * its folder is named by what the transpile is made from). Making the run's
 * folders and pipes is the run's part (`runPlanned`).
 *
 * @module
 */

import { join } from "node:path";
import type { PinnedAddresses } from "../capabilities/net.ts";
import type { PluginGrants, Policy, ResolvePolicyOptions, RuntimePaths } from "../capabilities/policy.ts";
import type { Manifest } from "../manifests/agent_manifest.ts";
import { IronclawError } from "../manifests/errors.ts";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";
import type { AgentModule, SandboxAssets } from "../protocol/protocol.ts";
import { componentWaits } from "../protocol/gate_ops.ts";
import {
  ensureSandboxEntry,
  packageFile,
  PLUGIN_API_FILE,
  type SandboxEntry,
  sandboxEntry,
} from "./assets.ts";
import { prepareComponentFile } from "./component_cache.ts";
import { pyodideFolder } from "./interpreters.ts";
import { ensurePyodideSnapshot, pyodideSnapshotPath } from "./pyodide_snapshot.ts";
import { refuseEscapingLinks } from "./link_scan.ts";
import { loadAgent, type LoadedAgent } from "./load.ts";
import { moduleFormat } from "./module_format.ts";
import { newRunId } from "./records.ts";
import { channelPath, withChannel } from "./channel.ts";
import { lineCap } from "../protocol/line_cap.ts";
import { pinGrantedHosts } from "./resolver.ts";
import { sandboxCommand, type SandboxMode } from "./sandbox_command.ts";

/**
 * The run id in the plan `ironclaw check` prints: the only parts of a command
 * that differ from run to run are the run's channel socket and the per-run
 * folder of a WASI guest's pipes, and there the run's id stands in place of this.
 */
export const PLACEHOLDER_RUN_ID = "<run-id>";

/**
 * The runtime's own paths of one run: what the sandbox needs besides the
 * agent's grants (granted next to the Policy, never in it), and what they are.
 */
export interface RunPaths extends RuntimePaths {
  /** The prepared component's cache folder, or null. */
  component: string | null;
  /** Pyodide's folder, for Python CodeAct, or null. */
  pyodide: string | null;
  /** The per-run folder of a WASI guest's output pipes and the two pipes in it, or null. */
  pipes: { dir: string; stdout: string; stderr: string } | null;
  /** Each used plugin's own folder for this agent, by plugin name. */
  pluginData: Readonly<Record<string, string>>;
}

/** Everything a run is, computed once. */
export interface RunPlan {
  /** The run's id ({@linkcode PLACEHOLDER_RUN_ID} in the plan of `ironclaw check`). */
  readonly id: string;
  /** The runtime config in force. */
  readonly config: RuntimeConfig;
  /** The manifest, parsed once; null when the plan was made from an already resolved Policy. */
  readonly manifest: Manifest | null;
  /** The plugins the manifest may use; null when the plan was made from an already resolved Policy. */
  readonly plugins: Readonly<Record<string, PluginGrants>> | null;
  /** The Policy, resolved once: only what the manifest and its plugins grant. */
  readonly policy: Policy;
  /** This run's runtime paths, granted to the sandbox next to the Policy's grants. */
  readonly paths: RunPaths;
  /** The agent's module as the sandbox is told of it, or null for agents without one. */
  readonly module: AgentModule | null;
  /** Local folders of interpreter files the sandbox loads. */
  readonly assets: SandboxAssets;
  /** The sandbox's entry. */
  readonly entry: SandboxEntry;
  /** How the sandbox's second wall is built. */
  readonly mode: SandboxMode;
  /**
   * The addresses the run's granted host names resolved to (once, when it was planned), which its command
   * lists in place of the names; null in the plan of `ironclaw check`, which resolves nothing.
   */
  readonly pinned: PinnedAddresses | null;
  /** The exact argv of the sandbox process, program first. */
  readonly command: readonly string[];
}

/**
 * The Pyodide snapshot of a Python run: made on first use. A check makes nothing and shows where it is (or
 * will be), as a run that made it grants it.
 */
async function snapshotOf(
  stateDir: string,
  options: { pyodide: string; entry: SandboxEntry; check: boolean; onProgress?: (m: string | null) => void },
): Promise<string | null> {
  if (options.check) return pyodideSnapshotPath(stateDir);
  return await ensurePyodideSnapshot({ stateDir, ...options });
}

/** Options of {@linkcode planRun} and {@linkcode planAgent}. */
export interface PlanOptions {
  /**
   * The plan of `ironclaw check`: the id is {@linkcode PLACEHOLDER_RUN_ID}, the sandbox entry is where it will
   * be (nothing is built), and a module that is missing or cannot be prepared leaves the plan without it (check
   * warns) instead of failing.
   */
  check?: boolean;
  /** The run's id; default a new one. */
  id?: string;
  /** The sandbox's entry; default {@linkcode ensureSandboxEntry}'s (a check's: {@linkcode sandboxEntry}'s). */
  entry?: SandboxEntry;
  /** The Deno executable; default this process's. */
  deno?: string;
  /** How the sandbox's second wall is built; default the runtime config's `[runtime] sandbox`. */
  sandboxMode?: SandboxMode;
  /** Test-only, worker mode: the process gets `--allow-all`, to prove the Worker's permissions hold alone. */
  unsafeWidenProcessFlags?: boolean;
  /** Overrides of this machine's facts when resolving the Policy (tests use them). */
  resolve?: ResolvePolicyOptions;
  /** Told when a slow step starts (a line of text) and ends (`null`). */
  onProgress?: (message: string | null) => void;
}

/** What a plan is made from: a Policy, and the manifest and plugin index it was resolved from when known. */
export type PlanSource = Pick<LoadedAgent, "policy"> & Partial<LoadedAgent>;

/**
 * Plans a run of a manifest: reads and resolves it once ({@linkcode loadAgent}),
 * then plans its runtime paths and command ({@linkcode planAgent}).
 *
 * @param manifestPath The manifest file.
 * @param config The runtime config in force.
 * @param options Check or run, the id, the entry, the sandbox mode.
 * @returns The plan.
 * @throws {InvalidDocumentError} When the manifest or a grant is refused, or a granted folder holds an escaping link.
 * @throws {IronclawError} When the module is missing or invalid (not for a check), or an asset cannot be found.
 */
export async function planRun(
  manifestPath: string,
  config: RuntimeConfig,
  options: PlanOptions = {},
): Promise<RunPlan> {
  return await planAgent(await loadAgent(manifestPath, config, options.resolve ?? {}), config, options);
}

/**
 * Plans a run of a resolved agent: refuses granted folders with links out of
 * the grants, prepares (or finds in the cache) its component, finds Pyodide and
 * the plugins' files, names its per-run folders, and computes the sandbox
 * command from the Policy with these paths.
 *
 * @param source The Policy, and the manifest and plugin index when known.
 * @param config The runtime config in force.
 * @param options Check or run, the id, the entry, the sandbox mode.
 * @returns The plan.
 * @throws {InvalidDocumentError} When a granted folder holds a symbolic link out of the grants.
 * @throws {IronclawError} When the module is missing or invalid (not for a check), or an asset cannot be found.
 */
export async function planAgent(
  source: PlanSource,
  config: RuntimeConfig,
  options: PlanOptions = {},
): Promise<RunPlan> {
  const { policy } = source;
  refuseEscapingLinks(policy);
  const check = options.check ?? false;
  const id = options.id ?? (check ? PLACEHOLDER_RUN_ID : newRunId());
  const progress = options.onProgress ? { onProgress: options.onProgress } : {};
  const module = await planModuleTolerant(policy, config.runtime.state_dir, id, check, options.onProgress);
  const pyodide = policy.agent.kind === "codeact" && policy.agent.language === "python"
    ? await pyodideFolder()
    : null;
  const plugins = await pluginPaths(policy, config.runtime.state_dir);
  const entry = options.entry ?? (check ? sandboxEntry() : await ensureSandboxEntry(progress));
  const snapshot = pyodide === null
    ? null
    : await snapshotOf(config.runtime.state_dir, { pyodide, entry, check, ...progress });
  const paths: RunPaths = {
    // The sandbox reads its own code (its entry's folder) and nothing else of the runtime but these.
    read: [
      entry.dir,
      ...module?.read ?? [],
      ...(pyodide === null ? [] : [pyodide]),
      ...(snapshot === null ? [] : [snapshot]),
      ...plugins.read,
    ],
    write: [...module?.write ?? [], ...plugins.data],
    moduleFormat: module?.module.kind ?? policy.agent.moduleFormat,
    component: module?.module.kind === "component" ? module.module.dir : null,
    pyodide,
    pipes: module?.pipes ?? null,
    pluginData: plugins.pluginData,
  };
  const mode = options.sandboxMode ?? config.runtime.sandbox;
  const pinned = check ? null : await pinGrantedHosts(policy.net, { nameServer: config.runtime.name_server });
  const command = withChannel(
    sandboxCommand(policy, {
      ...(pinned === null ? {} : { pinned }),
      runtime: paths,
      entry,
      mode,
      ...(options.deno !== undefined ? { deno: options.deno } : {}),
      ...(options.unsafeWidenProcessFlags ? { unsafeWidenProcessFlags: true } : {}),
    }),
    channelPath(config.runtime.state_dir, id),
    { maxLineBytes: lineCap({ outputBytes: policy.limits.maxOutputKb * 1024 }) },
  );
  return Object.freeze({
    id,
    config,
    manifest: source.manifest ?? null,
    plugins: source.plugins ?? null,
    policy,
    paths: Object.freeze(paths),
    module: module?.module ?? null,
    assets: {
      ...(pyodide === null ? {} : { pyodide }),
      ...(snapshot === null ? {} : { pyodideSnapshot: snapshot }),
      ...(plugins.api === null ? {} : { pluginApi: plugins.api }),
    },
    entry,
    mode,
    pinned,
    command: Object.freeze(command),
  });
}

/** The planned module of a run: what the sandbox is told, and the runtime paths it needs. */
interface ModulePlan {
  module: AgentModule;
  read: string[];
  write: string[];
  pipes: RunPaths["pipes"];
}

/** {@linkcode planModule}; for a check, a module that cannot be read or prepared leaves the plan without it. */
async function planModuleTolerant(
  policy: Policy,
  stateDir: string,
  id: string,
  check: boolean,
  onProgress: PlanOptions["onProgress"],
): Promise<ModulePlan | null> {
  try {
    return await planModule(policy, stateDir, id, onProgress);
  } catch (e) {
    if (check && e instanceof IronclawError) return null;
    throw e;
  }
}

/**
 * Plans the agent's module by its first bytes: a component is prepared (transpiled on a cache miss) and its
 * cache folder read; a WASI module gets two named pipes for its output in a per-run folder (made by the run).
 */
async function planModule(
  policy: Policy,
  stateDir: string,
  id: string,
  onProgress: PlanOptions["onProgress"],
): Promise<ModulePlan | null> {
  const path = policy.agent.module;
  if (path === null) return null;
  const maxPages = policy.limits.memoryMb * 16;
  const format = moduleFormat(await readModuleHead(path));
  if (format === "component") {
    // Only the ops that wait (GATE_OPS) need JSPI; without any of them granted every call answers at once.
    const waits = componentWaits(policy);
    // An unchanged file is found in the cache by its path, size and times, without reading or hashing it.
    const prepared = await prepareComponentFile(path, stateDir, {
      maxPages,
      waits,
      ...(onProgress
        ? {
          onProgress: (phase) =>
            onProgress(phase === "transpile-start" ? "Transpiling the component (once per build)" : null),
        }
        : {}),
    }).catch((e) => {
      throw e instanceof IronclawError ? e : unreadableModule(path, e);
    });
    return {
      module: { kind: "component", dir: prepared.dir, maxPages, waits },
      read: [prepared.dir],
      write: [],
      pipes: null,
    };
  }
  if (format === "preview1") {
    const dir = join(stateDir, "pipes", id);
    const pipes = { dir, stdout: join(dir, "stdout"), stderr: join(dir, "stderr") };
    return {
      module: { kind: "preview1", path, maxPages, stdout: pipes.stdout, stderr: pipes.stderr },
      read: ["/dev/null"],
      write: [pipes.stdout, pipes.stderr],
      pipes,
    };
  }
  throw new IronclawError("ERR_MODULE_INVALID", `"${path}" is not a WebAssembly component or core module`, {
    hint: "give [agent] module a .wasm file built for WASI preview1 or against wit/agent.wit",
  });
}

/** The module's first eight bytes (fewer when it is shorter), or an error that says to build it. */
async function readModuleHead(path: string): Promise<Uint8Array> {
  try {
    using file = await Deno.open(path, { read: true });
    const head = new Uint8Array(8);
    let n = 0;
    while (n < head.length) {
      const r = await file.read(head.subarray(n));
      if (r === null) break;
      n += r;
    }
    return head.subarray(0, n);
  } catch (e) {
    throw unreadableModule(path, e);
  }
}

function unreadableModule(path: string, e: unknown): IronclawError {
  return new IronclawError(
    "ERR_NOT_FOUND",
    `The agent's module "${path}" cannot be read: ${(e as Error).message}`,
    {
      hint: "build it first (ironclaw build agent.js -o agent.wasm), or fix [agent] module",
    },
  );
}

/**
 * The used plugins' paths: their code is read by the sandbox, and each gets a folder of its own for this agent.
 * Plugin code may import the plugin API of this package (one file without imports); the bundled sandbox has no
 * copy of it in its module graph, so it reads it like the plugins' own files. An `[mcp]` plugin's code runs in
 * the supervisor's child, not in the sandbox: it adds no path.
 */
async function pluginPaths(
  policy: Policy,
  stateDir: string,
): Promise<{ read: string[]; data: string[]; pluginData: Record<string, string>; api: string | null }> {
  const coded = policy.plugins.filter((p) => p.mcp === null);
  if (coded.length === 0) return { read: [], data: [], pluginData: {}, api: null };
  const pluginData = Object.fromEntries(
    coded.map((p) => [p.name, join(stateDir, "plugin-data", p.name, policy.agent.name)]),
  );
  const data = Object.values(pluginData);
  const api = await packageFile(PLUGIN_API_FILE);
  const read = [...coded.map((p) => p.dir), ...data, api];
  return { read, data, pluginData, api };
}
