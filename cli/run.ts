/** `ironclaw run <agent.toml> --task "..."`: run an agent in its sandbox. */

import { terminalPrompt } from "./_approval_prompt.ts";
import { openConfiguredStore } from "../supervisor/store/mod.ts";
import { dirname, resolve } from "node:path";
import type { Policy } from "../capabilities/policy.ts";
import { taskProblem } from "../capabilities/task_rule.ts";
import { printableLines } from "../manifests/errors.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { loadAgent, loadRuntimeConfig } from "../supervisor/load.ts";
import { configureLogging, logger } from "../supervisor/logging.ts";
import { planAgent } from "../supervisor/plan.ts";
import { runPlanned } from "../supervisor/run.ts";
import type { RunHandle } from "../supervisor/supervisor.ts";
import {
  COMMON_OPTIONS,
  configOption,
  errorJson,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";
import { type Progress, progressEnabled, startProgress } from "./_progress.ts";

/** Help of `ironclaw run`. */
export const RUN_HELP = `Run an agent in its sandbox

Examples:
  ironclaw run examples/hello/agent.toml --task "summarize my notes"
  ironclaw run agent.toml --task "..." --json | jq -c 'select(.type == "gate")'

Usage: ironclaw run <agent.toml> --task <text> [options]

The agent's WebAssembly runs in a child Deno process whose permission flags
come only from its manifest (see ironclaw check), with no ambient authority
inside the WebAssembly: every action passes the host gate, which checks,
counts and records it. Each run gets an id and an append-only event log in
the state folder (ironclaw runs list).

Options:
  --task <text>     The task given to the agent: required, unless the manifest's
                    [agent] task is "optional" or "none" (then --task is refused)
  --json            Stream the run's events as JSON lines; the last is
                    {"type":"end","state":...,"output":...}
  --config <file>   Runtime config; without it: ./ironclaw.toml, then ironclaw.toml
                    beside the manifest, then built-in defaults
  --grace <ms>      How long a stopping sandbox gets before it is killed (default 2000)
  -h, --help        Show this help

Records go to the config's [runtime] state_dir: by default $XDG_STATE_HOME/ironclaw,
else ~/.local/state/ironclaw.

Calls the manifest's [approvals] require wait for a person: on a terminal (and
without --json) the run asks on stderr (approve, deny, remember for the run);
anywhere, ironclaw approvals list|approve|deny decides them from another shell.
The first decision wins; the run's wall time pauses while it waits.

Ctrl-C (or SIGTERM, SIGHUP when the terminal closes, SIGQUIT) asks the agent to
stop, waits the grace period, then kills it; a second signal kills it at once. A
signal that comes while the run is being prepared stops it as soon as it starts.

Exit status: 0 ok, 1 agent error, 2 usage error or invalid manifest,
124 timeout, 125 memory limit, 130 interrupted.
`;

/**
 * Runs `ironclaw run`.
 *
 * @param args The arguments after `run`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function runCommand(args: string[], io: Io): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        ...COMMON_OPTIONS,
        task: { type: "string" },
        grace: { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    }, "run");
    json = values.json ?? false;
    if (values.help) {
      io.out(RUN_HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? "Missing the manifest to run"
          : `Expected one manifest, got ${positionals.length}`,
        'ironclaw run <agent.toml> --task "..."',
      );
    }
    const graceMs = values.grace === undefined ? 2000 : Number(values.grace);
    if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > 600_000) {
      throw new UsageError(`"${values.grace}" is not a grace period`, "give milliseconds, from 0 to 600000");
    }
    const manifest = positionals[0]!;
    const config = await loadRuntimeConfig({
      ...configOption(values),
      manifestDir: dirname(resolve(manifest)),
    });
    await configureLogging(config.log, { stdoutReserved: json });
    const log = logger("run");
    const agent = await loadAgent(manifest, config);
    const { policy } = agent;
    checkTask(policy, values.task);
    // The run store first: a state folder that cannot be written is ERR_STORE before anything is built there.
    const store = await openConfiguredStore(config);
    const pythonStart = pythonStartProgress(policy, io, json);
    // Building the sandbox runtime or transpiling a new component takes seconds, once.
    const preparing = preparingProgress(io, json);
    // The plan `ironclaw check` prints: the run spawns its command.
    // Signals are taken from here on, before anything is spawned: one that comes before the sandbox runs is
    // kept and passed on as soon as it does (the first asks it to stop, a second kills it).
    const signals = new RunSignals();
    let outcome;
    let exported: Promise<void> | undefined;
    try {
      const plan = await planAgent(agent, config, { onProgress: preparing.onProgress });
      const handle = await runPlanned(plan, {
        store,
        task: values.task ?? "",
        graceMs,
        ...(promptsForApprovals(policy, json) ? { approvalPrompt: terminalPrompt(io.err) } : {}),
        onEvent: (e) => {
          if (json) io.out(JSON.stringify(e) + "\n");
          pythonStart.onEvent(e);
        },
      });
      log.info("Run {id} of {agent} started", { id: handle.id, agent: policy.agent.name });
      signals.attach(handle);
      outcome = await handle.done;
      exported = handle.exported;
    } finally {
      signals.remove();
      pythonStart.stop();
      preparing.stop();
      await store.close();
    }
    log.info("Run {id} ended {state}", { id: outcome.id, state: outcome.state });
    if (!json) {
      const s = styles(io);
      if (outcome.state === "ok") {
        io.out(outcome.output ?? "");
        if (outcome.output && !outcome.output.endsWith("\n")) io.out("\n");
      } else if (outcome.error) {
        io.err(`${s.red(outcome.state)}: ${printableLines(outcome.error.message)} [${outcome.error.code}]\n`);
        if (outcome.error.hint) io.err(`  hint: ${printableLines(outcome.error.hint, "    ")}\n`);
      }
      const u = outcome.modelUsage;
      const model = u
        ? `; model: ${u.calls}/${u.maxCalls} calls, ${u.inputTokens + u.outputTokens}/${u.maxTokens} tokens`
        : "";
      io.err(s.dim(`run ${outcome.id}: ${outcome.state}${model} (ironclaw runs show ${outcome.id})\n`));
    }
    // The result is out; the process waits for the telemetry export (bounded by [telemetry] timeout_s).
    await exported;
    return outcome.exitCode;
  } catch (e) {
    if (json) {
      io.out(JSON.stringify({ type: "end", state: "error", output: null, error: errorJson(e) }) + "\n");
      return reportError({ ...io, err: () => {} }, e);
    }
    return reportError(io, e);
  }
}

/**
 * The progress line of the slow steps of preparing a run (building the sandbox runtime, transpiling a new
 * component), shown only on a terminal and never with `--json`.
 *
 * @param io Where to write.
 * @param json Whether stdout carries JSON.
 * @returns The callback for the steps, and a stop for the line.
 */
export function preparingProgress(
  io: Io,
  json: boolean,
): { onProgress(message: string | null): void; stop(): void } {
  let line: Progress | null = null;
  const stop = () => {
    line?.stop();
    line = null;
  };
  return {
    onProgress(message) {
      stop();
      if (message !== null) {
        line = startProgress(message, { enabled: progressEnabled({ json }), write: io.err });
      }
    },
    stop,
  };
}

/**
 * The progress line of a Python CodeAct start: Pyodide loads for seconds between the sandbox's `running` state
 * and the loop's first event. Shown only on a terminal and never with `--json`.
 */
function pythonStartProgress(
  policy: Policy,
  io: Io,
  json: boolean,
): { onEvent(event: RunEvent): void; stop(): void } {
  const enabled = policy.agent.kind === "codeact" && policy.agent.language === "python" &&
    progressEnabled({ json });
  let progress: Progress | null = null;
  let over = !enabled;
  const stop = () => {
    over = true;
    progress?.stop();
  };
  return {
    onEvent(event) {
      if (over) return;
      if (progress === null) {
        if (event.type === "state" && event.state === "running") {
          progress = startProgress("starting Python (Pyodide)", { enabled, write: io.err });
        }
      } else {
        stop();
      }
    },
    stop,
  };
}

/** A run without `--task` of an agent that needs one, or with one for an agent that takes none: a usage error. */
/**
 * Refuses a task the agent does not take, and a missing task it needs.
 *
 * @param policy The agent's Policy.
 * @param task The task given, if any.
 * @throws {UsageError} When the task does not fit `[agent] task`.
 */
export function checkTask(policy: Policy, task: string | undefined): void {
  const problem = taskProblem(policy, task);
  if (problem) throw new UsageError(problem.message, problem.hint);
}

/** The signals that stop a run: Ctrl-C, `kill`, a closed terminal, Ctrl-\\. */
const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/**
 * The CLI's signal handling for one run, installed before anything is
 * spawned: a signal that comes before the run has a handle is kept and passed
 * on once it has one, so no signal ends the CLI without ending its run.
 */
class RunSignals {
  #handle: RunHandle | null = null;
  readonly #early: Deno.Signal[] = [];
  readonly #listeners: [Deno.Signal, () => void][] = STOP_SIGNALS.map((
    signal,
  ) => [signal, () => this.#on(signal)]);

  constructor() {
    for (const [s, f] of this.#listeners) Deno.addSignalListener(s, f);
  }

  #on(signal: Deno.Signal): void {
    if (this.#handle) this.#handle.stop(signal);
    else this.#early.push(signal);
  }

  /** Passes signals to the run from now on, and those that came before. */
  attach(handle: RunHandle): void {
    this.#handle = handle;
    for (const signal of this.#early.splice(0)) handle.stop(signal);
  }

  /** Removes the listeners. */
  remove(): void {
    for (const [s, f] of this.#listeners) Deno.removeSignalListener(s, f);
  }
}

/**
 * Whether the run asks for approvals on the terminal: the manifest requires some, standard input and error are
 * terminals, and the output is not `--json`. Otherwise decisions come through the store only.
 */
function promptsForApprovals(policy: Policy, json: boolean): boolean {
  return policy.approvals.require.length > 0 && !json && Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
}
