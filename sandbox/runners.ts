/**
 * The runner of each agent kind, with what only that kind needs bound: a
 * prepared module runs as a component or a preview1 module, no module as a
 * built-in loop. Each is imported only when used.
 *
 * A pooled sandbox gets its run's grant, module and assets ahead of its task
 * (a `prepare` message) and readies its runner then: the code of its kind
 * loaded, and the realm its agent will run in started (a component's or WASI
 * module's guest Worker with the module's bytes read, a CodeAct interpreter
 * loaded). The run's `start` uses it only when it names the same grant,
 * module and assets; the realm was made with the same permissions a run
 * makes it with, and sees nothing of the run (task, secrets, gate) before
 * `start`.
 *
 * @module
 */

import type { AgentModule, PrepareMessage, StartMessage } from "../protocol/protocol.ts";
import type { EnforcedGrant } from "../protocol/grant.ts";
import type { GuestOutcome } from "../protocol/outcome.ts";
import type { AgentRunner, RunContext } from "./runner.ts";

/** What a runner is made from: the part a `start` and a `prepare` have in common. */
export type RunnerSource = Pick<StartMessage, "module" | "assets" | "pluginData" | "gateChecks"> & {
  policy: EnforcedGrant;
};

/** A runner, and what was made ready ahead for it. */
export interface ReadyRunner {
  /** Runs the agent. */
  run: AgentRunner;
  /** What was started ahead (for the `prepared` message): empty when nothing but code was loaded. */
  warmed: string[];
  /** Settles when what was started ahead is ready. */
  ready: Promise<void>;
  /** Releases what was started ahead, when the run does not use it. */
  discard(): void;
}

/**
 * Whether a `start` is the run a `prepare` readied: the same grant, module, assets, plugin folders and checks.
 *
 * @param prepare What the sandbox was prepared with.
 * @param start The run's start.
 * @returns True when the prepared runner may run it.
 */
export function sameRun(prepare: PrepareMessage, start: StartMessage): boolean {
  const key = (m: RunnerSource) =>
    JSON.stringify([m.policy, m.module ?? null, m.assets ?? null, m.pluginData ?? {}, m.gateChecks]);
  return key(prepare) === key(start);
}

/**
 * The runner of an agent's kind; with `ahead`, its realm started now (see the module's comment).
 *
 * @param source The run's grant, module and assets.
 * @param options Whether to start the realm ahead.
 * @returns The runner.
 */
export async function runnerFor(
  source: RunnerSource,
  options: { ahead?: boolean } = {},
): Promise<ReadyRunner> {
  const { module, policy } = source;
  const plain = (run: AgentRunner): ReadyRunner => ({
    run,
    warmed: [],
    ready: Promise.resolve(),
    discard() {},
  });
  if (module) return await guestRunner(module, policy, options.ahead === true);
  if (policy.agent.kind === "react") return plain((await import("./loops/react.ts")).runReact);
  if (policy.agent.kind === "codeact") return await codeActRunner(source, options.ahead === true);
  return plain(unsupportedKind);
}

/** The runner of a component or WASI module, its guest Worker started ahead when asked. */
async function guestRunner(module: AgentModule, policy: EnforcedGrant, ahead: boolean): Promise<ReadyRunner> {
  const { prepareGuest, runComponentGuest, runPreview1Guest } = await import("./guests/guest_worker.ts");
  const prepared = ahead ? await prepareGuest(module, policy) : null;
  let used = false;
  const run: AgentRunner = (context) => {
    const warm = used || prepared === null ? {} : { prepared };
    used = true;
    return module.kind === "component"
      ? runComponentGuest(context, { module, ...warm })
      : runPreview1Guest(context, { module, ...warm });
  };
  return {
    run,
    warmed: prepared === null
      ? []
      : prepared.kind === "component"
      ? ["guest worker", "compiled module"]
      : ["guest worker"],
    ready: Promise.resolve(),
    discard: () => {
      if (!used) prepared?.worker.terminate();
    },
  };
}

/** The CodeAct loop with its interpreter, started ahead when asked. */
async function codeActRunner(source: RunnerSource, ahead: boolean): Promise<ReadyRunner> {
  const { runCodeAct, prepareCodeAct } = await import("./loops/codeact.ts");
  const { workerSessions } = await import("./codeact/session_worker.ts");
  const { policy, assets } = source;
  const python = policy.agent.language === "python";
  const makeSession = workerSessions({
    language: python ? "python" : "javascript",
    ...(python && assets?.pyodide ? { indexURL: assets.pyodide } : {}),
    ...(python && assets?.pyodideSnapshot ? { snapshot: assets.pyodideSnapshot } : {}),
  });
  if (!ahead) {
    return {
      run: (context) => runCodeAct(context, { makeSession }),
      warmed: [],
      ready: Promise.resolve(),
      discard() {},
    };
  }
  const prepared = prepareCodeAct(policy, { makeSession });
  return {
    run: (context) => runCodeAct(context, { makeSession: prepared.makeSession }),
    warmed: ["interpreter"],
    ready: prepared.ready,
    discard: () => prepared.discard(),
  };
}

/** The runner of a kind this version cannot run. */
function unsupportedKind({ policy }: RunContext): Promise<GuestOutcome> {
  return Promise.resolve({
    state: "error",
    output: null,
    error: {
      code: "ERR_UNSUPPORTED",
      message: `Agents of kind "${policy.agent.kind}" cannot run in this version yet`,
      hint: 'use kind = "wasm" with a component or WASI preview1 module',
    },
  });
}
