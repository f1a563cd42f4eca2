/**
 * The supervisor side of a run: spawns the sandbox process with the Policy's
 * flags and a cleared environment, speaks the protocol with it, keeps the
 * wall-time, output and protocol limits, records every event, and survives
 * anything the child does. The work is done by a {@linkcode RunSession}
 * (`run_session.ts`) and its parts: `spawn.ts`, `requests.ts`, `limits.ts`,
 * `outcome.ts` and `guest_pipes.ts`.
 *
 * @module
 */

import type { ApprovalPrompt } from "./approver.ts";
import type { PinnedAddresses } from "../capabilities/net.ts";
import type { Policy, RuntimePaths } from "../capabilities/policy.ts";
import type { AgentModule, RunEvent, SandboxAssets, SecretValue } from "../protocol/protocol.ts";
import type { SandboxEntry } from "./assets.ts";
import { IronclawError } from "../manifests/errors.ts";
import { MAX_TASK_BYTES } from "../protocol/line_cap.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import type { ModelClient } from "./requests.ts";
import { RunSession } from "./run_session.ts";
import type { SandboxMode } from "./sandbox_command.ts";
import type { ClaimedRun, RunStore } from "./store/mod.ts";
import type { RunOutcome } from "./outcome.ts";
import type { WarmSandbox } from "./warm_sandbox.ts";

export { type EndState, EXIT_CODES, type ModelUsageReport, type RunOutcome } from "./outcome.ts";
export type { ModelClient } from "./requests.ts";

/** Options of {@linkcode startRun}. */
export interface RunOptions {
  /** The task text given to the agent. */
  task: string;
  /** The runtime's state folder: the run's record goes under it. */
  stateDir: string;
  /** The prepared agent module, or null for agents without one. */
  module: AgentModule | null;
  /** Receives each event as it is recorded. */
  onEvent?: (event: RunEvent) => void;
  /** Told each time a batch of the run's events (or its end) is durable in the store. */
  onStored?: () => void;
  /** How long a stopping sandbox gets before it is killed, in ms; default 2000. */
  graceMs?: number;
  /** Test-only: turn the gate's checks off to prove the process flags hold alone. */
  unsafeDisableGateChecks?: boolean;
  /** The Deno executable; default this process's. */
  deno?: string;
  /**
   * The runtime's own paths of the run (a RunPlan's `paths`), granted next to the Policy: in the command made
   * when none is given, and in the grant the sandbox is sent (its Worker's permissions); default none.
   */
  runtime?: RuntimePaths;
  /** The sandbox argv: a RunPlan's command (`runPlanned`), or a test's hostile child; default from the Policy. */
  command?: string[];
  /** The store the run is recorded in (left open); default the SQLite store of `stateDir`, opened for the run. */
  store?: RunStore;
  /** A queued run a worker took from `store` (`claimRun`): the run is recorded under its id and lease. */
  claimed?: ClaimedRun;
  /** The run's id, when the caller made it (to name per-run files); default a new one. A taken id is refused. */
  id?: string;
  /**
   * Asks a person on the terminal for the approvals of this run (`[approvals]`), raced against decisions made
   * through the store (`ironclaw approvals`): the first decision wins. Without it, decisions come from the store.
   */
  approvalPrompt?: ApprovalPrompt;
  /** The values of the secrets the Policy grants (read by the supervisor), for the gate to inject at egress. */
  secrets?: SecretValue[];
  /** Each used plugin's own folder for this agent (already granted in the run's runtime paths). */
  pluginData?: Record<string, string>;
  /** The model broker of the run (its provider and key stay in this process), for `model.complete`. */
  model?: ModelClient;
  /** Named pipes carrying a WASI guest's stdout and stderr; its stdout becomes the run's output. */
  pipes?: { stdout: string; stderr: string };
  /** The sandbox's entry, already built or fetched (see `ensureSandboxEntry`); default where it would be. */
  entry?: SandboxEntry;
  /** Local folders of interpreter files the sandbox loads (Pyodide's), sent in the start message. */
  assets?: SandboxAssets;
  /** How the sandbox's second wall is built: process flags (default) or a Worker's permissions too. */
  sandboxMode?: SandboxMode;
  /** Test-only, worker mode: the process gets `--allow-all`, to prove the Worker's permissions hold alone. */
  unsafeWidenProcessFlags?: boolean;
  /**
   * The addresses the run's granted host names were resolved to when it started (a RunPlan's `pinned`): the
   * sandbox's flags list them in place of the names, and `dns.resolve` answers from them only. Default none:
   * no host name can be reached (addresses granted as such still can).
   */
  pinned?: PinnedAddresses;
  /**
   * How long the sandbox may take to say it is ready, in ms (spawn and start-up, which the wall time
   * `timeout_s` does not count); past it the run ends with `ERR_SANDBOX_START`. Default 60000.
   */
  startTimeoutMs?: number;
  /**
   * A pooled sandbox to run in (`SandboxPool.take`), spawned from this run's plan and prepared: the run
   * sends its start at once. `command` must be that plan's.
   */
  warm?: WarmSandbox;
}

/** A running sandbox. */
export interface RunHandle {
  /** The run's id. */
  readonly id: string;
  /** The sandbox process's id, or null when it could not start. */
  readonly pid: number | null;
  /** Asks the sandbox to stop, then kills it after the grace period. A second call kills at once. */
  stop(reason: string): void;
  /** Resolves when the run has ended and its record is closed. */
  readonly done: Promise<RunOutcome>;
  /**
   * With `[telemetry]` in the config (runs started by `runPlanned`): resolves once the run's export was tried
   * after its end (answered, failed or timed out); never rejects. Absent when nothing is exported.
   */
  readonly exported?: Promise<void>;
}

/**
 * Starts a run of an agent in a sandbox process.
 *
 * @param policy The agent's Policy.
 * @param options The task, the state folder, the module and the event sink.
 * @returns A handle to stop the run and await its outcome.
 * @throws {IronclawError} `ERR_RUN_EXISTS` when `options.id` is taken, `ERR_STORE` when the store cannot be
 *   written, `ERR_USAGE` when the task is longer than {@linkcode MAX_TASK_BYTES} (nothing is spawned or
 *   recorded).
 */
export async function startRun(policy: Policy, options: RunOptions): Promise<RunHandle> {
  checkTaskBytes(options.task);
  return await RunSession.start(policy, options);
}

/**
 * Refuses a task longer than a run takes.
 *
 * @param task The task.
 * @throws {IronclawError} `ERR_USAGE` when it is longer than {@linkcode MAX_TASK_BYTES} in UTF-8.
 */
export function checkTaskBytes(task: string): void {
  const taskBytes = utf8ByteLength(task);
  if (taskBytes > MAX_TASK_BYTES) {
    throw new IronclawError(
      "ERR_USAGE",
      `The task is ${taskBytes} bytes, more than a run takes (${MAX_TASK_BYTES} bytes)`,
      { hint: "give a shorter task, or put the input in a file the agent may read ([capabilities.fs] read)" },
    );
  }
}
