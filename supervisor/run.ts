/**
 * `ironclaw run` as a library call: plan the run (see `plan.ts`), make its
 * folders and pipes, read its secrets, start its model broker, then spawn the
 * plan's command.
 *
 * @module
 */

import type { Policy } from "../capabilities/policy.ts";
import { IronclawError } from "../manifests/errors.ts";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";
import type { RunEvent, SecretValue } from "../protocol/protocol.ts";
import { type RunHandle, type RunOptions, startRun } from "./supervisor.ts";
import { planAgent, type RunPlan } from "./plan.ts";
import { openConfiguredStore } from "./store/mod.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";

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
    | "approvalPrompt"
  > {
  /** The task text. */
  task: string;
  /** Told when a slow step of preparing the run starts (a line of text) and ends (`null`). */
  onProgress?: (message: string | null) => void;
}

/** Options of {@linkcode runPlanned}: the plan fixed the rest. */
export type RunPlannedOptions =
  & Pick<RunAgentOptions, "task" | "onEvent" | "graceMs" | "unsafeDisableGateChecks" | "approvalPrompt">
  & Pick<RunOptions, "store" | "claimed" | "warm" | "onStored" | "model">;

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
    out.push({
      name: s.name,
      value,
      hosts: [...s.hosts],
      header: s.header,
      format: s.format,
      ...(s.plugin === undefined ? {} : { plugin: s.plugin }),
    });
  }
  return out;
}

/** Makes a plan's per-run folders: the plugins' data folders and a WASI guest's pipes. */
async function makeRunPaths(plan: RunPlan): Promise<void> {
  for (const dir of Object.values(plan.paths.pluginData)) {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  }
  const pipes = plan.paths.pipes;
  if (pipes === null) return;
  await Deno.mkdir(pipes.dir, { recursive: true, mode: 0o700 });
  const made = await new Deno.Command("mkfifo", { args: ["-m", "600", pipes.stdout, pipes.stderr] }).output();
  if (!made.success) {
    throw new IronclawError("ERR_IO", "Cannot make the pipes for the guest's output", {
      hint: "mkfifo must be installed",
    });
  }
}

/**
 * Runs a plan: makes its folders and pipes, reads its secrets, starts its
 * model broker, and spawns exactly the plan's command; the sandbox is sent
 * the grant narrowed from the plan's Policy and runtime paths.
 *
 * @param plan The run's plan (not a check's).
 * @param options The task and the event sink.
 * @returns The running sandbox.
 * @throws {IronclawError} When a secret has no value, or the pipes cannot be made.
 */
export async function runPlanned(plan: RunPlan, options: RunPlannedOptions): Promise<RunHandle> {
  const { policy } = plan;
  await makeRunPaths(plan);
  // The model providers are loaded only for an agent that has a model.
  // A caller's model (an MCP client writing CodeAct steps) replaces the manifest's provider.
  const model = options.model ??
    (policy.model === null
      ? undefined
      : await (await import("./models/mod.ts")).createModelBroker(policy.model));
  const secrets = await readSecrets(policy);
  const pipes = plan.paths.pipes;
  // With [telemetry], the run's events are also seen by its trace, exported after the run's end is recorded.
  // Its code loads only then: a run without it loads nothing of it.
  const telemetry = plan.config.telemetry === null
    ? null
    : (await import("./telemetry/mod.ts")).runTelemetry(plan.config.telemetry, {
      provider: policy.model?.provider ?? null,
      secrets: secrets.map((s) => s.value),
      taskBytes: utf8ByteLength(options.task),
    });
  const onEvent = telemetry === null ? options.onEvent : (e: RunEvent) => {
    telemetry.observe(e);
    options.onEvent?.(e);
  };
  // Without a store of the caller's, the config's is opened for the run, and closed with it.
  const store = options.store ?? await openConfiguredStore(plan.config);
  let handle: RunHandle;
  try {
    handle = await startRun(policy, {
      ...options,
      ...(onEvent ? { onEvent } : {}),
      store,
      runtime: plan.paths,
      command: [...plan.command],
      entry: plan.entry,
      assets: plan.assets,
      // A pooled sandbox's plan is named by its pool slot: the run gets an id of its own.
      ...(options.warm ? {} : { id: plan.id }),
      stateDir: plan.config.runtime.state_dir,
      module: plan.module,
      ...(pipes ? { pipes: { stdout: pipes.stdout, stderr: pipes.stderr } } : {}),
      ...(model ? { model } : {}),
      secrets,
      pluginData: { ...plan.paths.pluginData },
      pinned: plan.pinned ?? {},
    });
  } catch (e) {
    if (!options.store) await store.close();
    throw e;
  }
  handle.done.finally(async () => {
    if (!options.store) await store.close();
    if (pipes) await Deno.remove(pipes.dir, { recursive: true }).catch(() => {});
  }).catch(() => {});
  return telemetry === null ? handle : { ...handle, exported: telemetry.exportAfter(handle.done) };
}

/**
 * Prepares the agent and starts its run: plans it ({@linkcode planAgent}),
 * then runs the plan ({@linkcode runPlanned}).
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
  const plan = await planAgent({ policy }, config, {
    ...(options.entry !== undefined ? { entry: options.entry } : {}),
    ...(options.deno !== undefined ? { deno: options.deno } : {}),
    ...(options.sandboxMode !== undefined ? { sandboxMode: options.sandboxMode } : {}),
    ...(options.unsafeWidenProcessFlags ? { unsafeWidenProcessFlags: true } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const { task, onEvent, graceMs, unsafeDisableGateChecks, approvalPrompt } = options;
  return await runPlanned(plan, {
    task,
    ...(approvalPrompt ? { approvalPrompt } : {}),
    ...(onEvent ? { onEvent } : {}),
    ...(graceMs !== undefined ? { graceMs } : {}),
    ...(unsafeDisableGateChecks !== undefined ? { unsafeDisableGateChecks } : {}),
  });
}
