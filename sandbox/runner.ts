/**
 * The one shape of an agent runner inside the sandbox. Every kind of agent (a
 * component, a WASI preview1 module, the ReAct loop, the CodeAct loop) is run
 * by a function that takes the run's {@linkcode RunContext} and, when its kind
 * needs more (the prepared module, the interpreter's factory), one options
 * object of its own; the sandbox's entry binds those options and calls every
 * runner the same way.
 *
 * @example A runner that answers with the task
 * ```ts
 * import type { AgentRunner } from "./runner.ts";
 *
 * const echo: AgentRunner = (context) => Promise.resolve({ state: "ok", output: context.task, error: null });
 * ```
 *
 * @module
 */

import type { EnforcedGrant } from "../protocol/grant.ts";
import type { HostGate } from "./gate/mod.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { GuestOutcome } from "../protocol/outcome.ts";

/** What every runner is given: the run's grant, its task, its host gate and where its events go. */
export interface RunContext {
  /** The run's grant as the supervisor narrowed it, frozen. */
  readonly policy: EnforcedGrant;
  /** The user's task. */
  readonly task: string;
  /** The run's host gate: the agent's only way out. */
  readonly gate: HostGate;
  /** Where the run's events go (steps, logs, denials). */
  readonly emit: (event: RunEvent) => void;
}

/** The gate as a guest's realm sees it: calls by op name and JSON text, answered now or later. */
export type GateCalls = Pick<HostGate, "call" | "callSync">;

/**
 * What a guest is given inside its own Worker: the run's grant and task, the
 * gate reached by messages, and an `emit` whose events the main thread
 * rebuilds (logs and WASI refusals only).
 */
export interface GuestContext {
  /** The run's grant as the supervisor narrowed it. */
  readonly policy: EnforcedGrant;
  /** The user's task. */
  readonly task: string;
  /** The gate, across the Worker boundary. */
  readonly gate: GateCalls;
  /** Where the guest's logs and refusals go. */
  readonly emit: (event: RunEvent) => void;
}

/**
 * Runs one kind of agent to its end. `Options` is what only that kind needs
 * (none by default), passed as one object after the context.
 */
export type AgentRunner<Options = void> = (context: RunContext, options: Options) => Promise<GuestOutcome>;
