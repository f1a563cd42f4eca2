/** `ironclaw runs list` and `ironclaw runs show <id>`: the recorded runs. */

import { printable } from "../manifests/errors.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { listRuns, showRun } from "../supervisor/records.ts";
import {
  COMMON_OPTIONS,
  configOption,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw runs`. */
export const RUNS_HELP = `List and show recorded runs

Examples:
  ironclaw runs list
  ironclaw runs show 20261124T101500Z-3fa2c1
  ironclaw runs show 20261124T1015 --json

Usage:
  ironclaw runs list [--json] [--config <file>]
  ironclaw runs show <id or unique prefix> [--json] [--config <file>]

Each run's record is in <state_dir>/runs/<id>/: run.json (its summary) and
events.jsonl (every event, appended as it happened).
`;

/**
 * Runs `ironclaw runs`.
 *
 * @param args The arguments after `runs`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function runsCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: COMMON_OPTIONS,
      allowPositionals: true,
      strict: true,
    }, "runs");
    if (values.help) {
      io.out(RUNS_HELP);
      return 0;
    }
    const config = await loadRuntimeConfig(configOption(values));
    const stateDir = config.runtime.state_dir;
    const s = styles(io);
    const [sub, ...rest] = positionals;
    if (sub === "list" && rest.length === 0) {
      const runs = await listRuns(stateDir);
      if (values.json) {
        io.out(JSON.stringify(runs) + "\n");
        return 0;
      }
      if (runs.length === 0) io.err(`no runs in ${stateDir}\n`);
      for (const r of runs) {
        const state = r.state === "ok" ? s.green(r.state) : r.state === "running" ? r.state : s.red(r.state);
        io.out(
          `${r.id}  ${state.padEnd(11)}  ${printable(r.agent).padEnd(20)}  ${
            printable(r.task).slice(0, 50)
          }\n`,
        );
      }
      return 0;
    }
    if (sub === "show" && rest.length === 1) {
      const { summary, events } = await showRun(stateDir, rest[0]!);
      if (values.json) {
        io.out(JSON.stringify({ summary, events }) + "\n");
        return 0;
      }
      io.out(`${s.bold(summary.id)}  ${summary.state}  exit ${summary.exitCode ?? "-"}\n`);
      io.out(`agent    ${printable(summary.agent)} (${printable(summary.manifest)})\n`);
      io.out(`task     ${printable(summary.task)}\n`);
      io.out(`started  ${summary.started}\nended    ${summary.ended ?? "-"}\n\n`);
      for (const e of events) {
        const { seq: _seq, ms, type, ...rest } = e as Record<string, unknown>;
        io.out(
          `${String(ms).padStart(9)} ms  ${String(type).padEnd(14)} ${printable(JSON.stringify(rest))}\n`,
        );
      }
      return 0;
    }
    throw new UsageError("Expected runs list, or runs show <id>", "ironclaw help runs");
  } catch (e) {
    return reportError(io, e);
  }
}
