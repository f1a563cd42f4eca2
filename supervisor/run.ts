/**
 * `ironclaw run` as a library call: prepare the agent's module, then run it
 * in a sandbox process under its Policy.
 *
 * @module
 */

import { join } from "node:path";
import { type Policy, withRuntimePaths } from "../capabilities/policy.ts";
import { IronclawError } from "../manifests/errors.ts";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";
import type { AgentModule, SandboxAssets, SecretValue } from "../protocol/protocol.ts";
import { pyodideFolder } from "./interpreters.ts";
import { ensureSandboxEntry, packageFile, PLUGIN_API_FILE } from "./assets.ts";
import { newRunId } from "./records.ts";
import { refuseEscapingLinks } from "./link_scan.ts";
import { type RunHandle, type RunOptions, startRun } from "./supervisor.ts";
import { moduleFormat } from "./module_format.ts";
import { prepareComponent } from "./component_cache.ts";
import { createModelBroker } from "./models/mod.ts";

/** Options of {@linkcode runAgent}. */
export interface RunAgentOptions extends
  Pick<
    RunOptions,
    | "onEvent"
    | "graceMs"
    | "unsafeDisableGateChecks"
    | "deno"
    | "sandboxMode"
    | "unsafeWidenProcessFlags"
    | "entry"
  > {
  /** The task text. */
  task: string;
  /** Told when a slow step of preparing the run starts (a line of text) and ends (`null`). */
  onProgress?: (message: string | null) => void;
}

/**
 * Makes sure the interpreter of a CodeAct agent is in Deno's cache (the sandbox
 * runs with --cached-only) and grants the sandbox read access to the files it
 * loads (Pyodide's WebAssembly and standard library).
 */
async function prepareCodeAct(policy: Policy): Promise<{ policy: Policy; assets: SandboxAssets }> {
  if (policy.agent.language !== "python") return { policy, assets: {} };
  // The bundled sandbox cannot resolve the package itself, so it is told where the files are.
  const pyodide = await pyodideFolder();
  return {
    policy: withRuntimePaths(policy, { read: [pyodide], write: [], moduleFormat: null }),
    assets: { pyodide },
  };
}

/**
 * Reads the values of the secrets a Policy grants, from the supervisor's
 * environment or files. They travel to the gate in the start message, never
 * into the sandbox's environment, the guest or the record.
 */
async function readSecrets(policy: Policy): Promise<SecretValue[]> {
  const out: SecretValue[] = [];
  for (const s of policy.secrets) {
    let value: string | undefined;
    if (s.env !== null) value = Deno.env.get(s.env);
    else if (s.file !== null) value = (await Deno.readTextFile(s.file).catch(() => undefined))?.trim();
    if (!value) {
      throw new IronclawError("ERR_SECRET_MISSING", `The secret "${s.name}" has no value`, {
        hint: s.env !== null
          ? `set ${s.env} in the supervisor's environment`
          : `write the secret into "${s.file}"`,
      });
    }
    out.push({ name: s.name, value, hosts: [...s.hosts], header: s.header, format: s.format });
  }
  return out;
}

/** Pages of WebAssembly memory a Policy allows each memory. */
function maxPagesOf(policy: Policy): number {
  return policy.limits.memoryMb * 16;
}

/**
 * Prepares the agent and starts its run.
 *
 * @param policy The agent's Policy.
 * @param config The runtime config in force (its state folder keeps records and caches).
 * @param options The task and the event sink.
 * @returns The running sandbox.
 * @throws {IronclawError} When the module is missing or is not WebAssembly.
 * @throws {InvalidDocumentError} When a granted folder holds a symbolic link out of the grants.
 */
export async function runAgent(
  policy: Policy,
  config: RuntimeConfig,
  options: RunAgentOptions,
): Promise<RunHandle> {
  const stateDir = config.runtime.state_dir;
  refuseEscapingLinks(policy);
  const id = newRunId();
  let module: AgentModule | null = null;
  let pipes: { stdout: string; stderr: string } | undefined;
  let run = policy;
  if (policy.agent.module !== null) {
    const path = policy.agent.module;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new IronclawError(
        "ERR_NOT_FOUND",
        `The agent's module "${path}" cannot be read: ${(e as Error).message}`,
        {
          hint: "build it first (ironclaw build agent.js -o agent.wasm), or fix [agent] module",
        },
      );
    }
    const format = moduleFormat(bytes.subarray(0, 8));
    if (format === "component") {
      // Only ops that reach the network, a program, the model or a plugin wait; without them every call answers at once.
      const waits = policy.net.length > 0 || (policy.run.dangerous && policy.run.programs.length > 0) ||
        policy.model !== null || policy.plugins.length > 0;
      const prepared = await prepareComponent(bytes, stateDir, maxPagesOf(policy), {
        waits,
        ...(options.onProgress
          ? {
            onProgress: (phase) =>
              options.onProgress!(
                phase === "transpile-start" ? "Transpiling the component (once per build)" : null,
              ),
          }
          : {}),
      });
      module = { kind: "component", dir: prepared.dir, maxPages: maxPagesOf(policy), waits };
      run = withRuntimePaths(policy, { read: [prepared.dir], write: [], moduleFormat: "component" });
    } else if (format === "preview1") {
      const dir = join(stateDir, "pipes", id);
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      pipes = { stdout: join(dir, "stdout"), stderr: join(dir, "stderr") };
      const made = await new Deno.Command("mkfifo", { args: ["-m", "600", pipes.stdout, pipes.stderr] })
        .output();
      if (!made.success) {
        throw new IronclawError("ERR_IO", "Cannot make the pipes for the guest's output", {
          hint: "mkfifo must be installed",
        });
      }
      module = { kind: "preview1", path, maxPages: maxPagesOf(policy), ...pipes };
      run = withRuntimePaths(policy, {
        read: ["/dev/null"],
        write: [pipes.stdout, pipes.stderr],
        moduleFormat: "preview1",
      });
    } else {
      throw new IronclawError(
        "ERR_MODULE_INVALID",
        `"${path}" is not a WebAssembly component or core module`,
        {
          hint: "give [agent] module a .wasm file built for WASI preview1 or against wit/agent.wit",
        },
      );
    }
  }
  let assets: SandboxAssets = {};
  if (policy.agent.kind === "codeact") ({ policy: run, assets } = await prepareCodeAct(run));
  // Used plugins: their code is read by the sandbox, and each gets a folder of its own for this agent.
  const pluginData: Record<string, string> = {};
  for (const plugin of policy.plugins) {
    pluginData[plugin.name] = join(stateDir, "plugin-data", plugin.name, policy.agent.name);
    await Deno.mkdir(pluginData[plugin.name]!, { recursive: true, mode: 0o700 });
  }
  if (policy.plugins.length > 0) {
    const data = Object.values(pluginData);
    run = withRuntimePaths(run, {
      // Plugin code may import the plugin API of this package (one file without imports); the bundled
      // sandbox has no copy of it in its module graph, so it reads it like the plugins' own files.
      read: [...policy.plugins.map((p) => p.dir), ...data, await packageFile(PLUGIN_API_FILE)],
      write: data,
      moduleFormat: run.agent.moduleFormat,
    });
  }
  const model = policy.model === null ? undefined : await createModelBroker(policy.model);
  const secrets = await readSecrets(policy);
  const entry = options.entry ??
    await ensureSandboxEntry(options.onProgress ? { onProgress: options.onProgress } : {});
  const handle = startRun(run, {
    ...options,
    entry,
    assets,
    sandboxMode: options.sandboxMode ?? config.runtime.sandbox,
    id,
    stateDir,
    module,
    ...(pipes ? { pipes } : {}),
    ...(model ? { model } : {}),
    secrets,
    pluginData,
  });
  if (pipes) {
    const dir = join(stateDir, "pipes", id);
    handle.done.finally(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  }
  return handle;
}
