/** `ironclaw run <agent.toml> --task "..."`: run an agent in its sandbox. */

import { printable } from "../manifests/errors.ts";
import { loadPolicy, loadRuntimeConfig } from "../runtime/load.ts";
import { configureLogging, logger } from "../runtime/logging.ts";
import { runAgent } from "../runtime/run.ts";
import {
  COMMON_OPTIONS,
  configOption,
  errorJson,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./_output.ts";

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
  --task <text>     The task given to the agent (default: empty)
  --json            Stream the run's events as JSON lines; the last is
                    {"type":"end","state":...,"output":...}
  --config <file>   Runtime config (default: ./ironclaw.toml, else built-in defaults)
  --grace <ms>      How long a stopping sandbox gets before it is killed (default 2000)
  -h, --help        Show this help

Ctrl-C (or SIGTERM) asks the agent to stop, waits the grace period, then kills
it; a second Ctrl-C kills it at once.

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
    const config = await loadRuntimeConfig(configOption(values));
    await configureLogging(config.log, { stdoutReserved: json });
    const log = logger("run");
    const policy = await loadPolicy(positionals[0]!, config);
    const handle = await runAgent(policy, config, {
      task: values.task ?? "",
      graceMs,
      ...(json ? { onEvent: (e) => io.out(JSON.stringify(e) + "\n") } : {}),
    });
    log.info("Run {id} of {agent} started", { id: handle.id, agent: policy.agent.name });
    const onSignal = (signal: Deno.Signal) => () => handle.stop(signal);
    const signals: [Deno.Signal, () => void][] = [["SIGINT", onSignal("SIGINT")], [
      "SIGTERM",
      onSignal("SIGTERM"),
    ]];
    for (const [s, f] of signals) Deno.addSignalListener(s, f);
    let outcome;
    try {
      outcome = await handle.done;
    } finally {
      for (const [s, f] of signals) Deno.removeSignalListener(s, f);
    }
    log.info("Run {id} ended {state}", { id: outcome.id, state: outcome.state });
    if (!json) {
      const s = styles(io);
      if (outcome.state === "ok") {
        io.out(outcome.output ?? "");
        if (outcome.output && !outcome.output.endsWith("\n")) io.out("\n");
      } else if (outcome.error) {
        io.err(`${s.red(outcome.state)}: ${printable(outcome.error.message)} [${outcome.error.code}]\n`);
        if (outcome.error.hint) io.err(`  hint: ${printable(outcome.error.hint)}\n`);
      }
      const u = outcome.modelUsage;
      const model = u
        ? `; model: ${u.calls}/${u.maxCalls} calls, ${u.inputTokens + u.outputTokens}/${u.maxTokens} tokens`
        : "";
      io.err(s.dim(`run ${outcome.id}: ${outcome.state}${model} (ironclaw runs show ${outcome.id})\n`));
    }
    return outcome.exitCode;
  } catch (e) {
    if (json) {
      io.out(JSON.stringify({ type: "end", state: "error", output: null, error: errorJson(e) }) + "\n");
      return reportError({ ...io, err: () => {} }, e);
    }
    return reportError(io, e);
  }
}
