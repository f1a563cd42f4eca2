/** `ironclaw runs list|show|tail|prune`: the recorded runs, from the run store. */

import { printable } from "../manifests/errors.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { followRun } from "../supervisor/records.ts";
import {
  openConfiguredStore,
  type RunFilter,
  type RunStore,
  type RunSummary,
} from "../supervisor/store/mod.ts";
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
export const RUNS_HELP = `List, show, follow and prune recorded runs

Examples:
  ironclaw runs list
  ironclaw runs list --agent hello --state error --since 2d --limit 20
  ironclaw runs show 20261124T101500Z-3fa2c1
  ironclaw runs show 20261124T1015 --json
  ironclaw runs tail 20261124T101500Z-3fa2c1
  ironclaw runs prune --older-than 7d

Usage:
  ironclaw runs list [--agent <name>] [--state <state>] [--since <ISO time|30m|1h|2d>] [--limit <n>] [--json]
  ironclaw runs show <id or unique prefix> [--json]
  ironclaw runs tail <id or unique prefix> [--json]
  ironclaw runs prune --older-than <30m|1h|7d|ISO time> [--json]
  (each takes --config <file>)

  list   the runs, newest first
  show   one run's summary and every event
  tail   one run's events, printed as they arrive until its end event
  prune  deletes the ended runs that started before the given age, and prints them

Runs live in <state_dir>/ironclaw.db (SQLite), or in PostgreSQL when the config sets [store] url. A run
whose supervisor died (killed, crashed) is shown "lost", with exit code 137, once any command opens the
store. Records of older versions (<state_dir>/runs/<id>/) are imported once into SQLite, when the store is
first opened, and left on disk. A store on a read-only disk can still be listed, shown and tailed.
`;

const OPTIONS = {
  ...COMMON_OPTIONS,
  agent: { type: "string" },
  state: { type: "string" },
  since: { type: "string" },
  limit: { type: "string" },
  "older-than": { type: "string" },
} as const;

/** A time from `--since` or `--older-than`: an ISO time, or an age (`30m`, `1h`, `7d`) before now. */
function parseTime(text: string, option: string): Date {
  const age = /^(\d+)([smhd])$/.exec(text);
  if (age) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[age[2] as "s" | "m" | "h" | "d"];
    return new Date(Date.now() - Number(age[1]) * unit);
  }
  const date = new Date(text);
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(date.getTime())) {
    throw new UsageError(`Invalid ${option} "${text}"`, "give an ISO time or an age such as 30m, 1h or 7d");
  }
  return date;
}

function filterOf(values: { agent?: string; state?: string; since?: string; limit?: string }): RunFilter {
  const filter: RunFilter = {};
  if (values.agent !== undefined) filter.agent = values.agent;
  if (values.state !== undefined) filter.state = values.state;
  if (values.since !== undefined) filter.since = parseTime(values.since, "--since");
  if (values.limit !== undefined) {
    if (!/^\d+$/.test(values.limit)) {
      throw new UsageError(`Invalid --limit "${values.limit}"`, "give a number");
    }
    filter.limit = Number(values.limit);
  }
  return filter;
}

function summaryLine(r: RunSummary, io: Io): string {
  const s = styles(io);
  const state = r.state === "ok" ? s.green(r.state) : r.state === "running" ? r.state : s.red(r.state);
  return `${r.id}  ${state.padEnd(11)}  ${printable(r.agent).padEnd(20)}  ${
    printable(r.task).slice(0, 50)
  }\n`;
}

function eventLine(e: RunEvent): string {
  const { seq: _seq, ms, type, ...rest } = e as Record<string, unknown>;
  return `${String(ms ?? "-").padStart(9)} ms  ${String(type).padEnd(14)} ${
    printable(JSON.stringify(rest))
  }\n`;
}

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
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    }, "runs");
    if (values.help) {
      io.out(RUNS_HELP);
      return 0;
    }
    const [sub, ...rest] = positionals;
    const shapeOk = (sub === "list" && rest.length === 0) || (sub === "prune" && rest.length === 0) ||
      ((sub === "show" || sub === "tail") && rest.length === 1);
    if (!shapeOk) {
      throw new UsageError("Expected runs list, show <id>, tail <id> or prune", "ironclaw help runs");
    }
    const filter = filterOf(values);
    const olderThan = values["older-than"];
    if (sub === "prune" && olderThan === undefined) {
      throw new UsageError("runs prune needs --older-than", "ironclaw runs prune --older-than 7d");
    }
    const before = olderThan === undefined ? null : parseTime(olderThan, "--older-than");
    const config = await loadRuntimeConfig(configOption(values));
    // Only prune writes: a store on a read-only disk can still be listed, shown and tailed.
    const store = await openConfiguredStore(config, { readOnly: sub !== "prune" });
    try {
      return await subcommand(store, { sub: sub!, id: rest[0] ?? "", filter, before }, {
        ...io,
        json: values.json === true,
      });
    } finally {
      await store.close();
    }
  } catch (e) {
    return reportError(io, e);
  }
}

async function subcommand(
  store: RunStore,
  what: { sub: string; id: string; filter: RunFilter; before: Date | null },
  io: Io & { json: boolean },
): Promise<number> {
  if (what.sub === "list" || what.sub === "prune") {
    const runs = what.sub === "list" ? await store.listRuns(what.filter) : await store.prune(what.before!);
    if (io.json) io.out(JSON.stringify(runs) + "\n");
    else if (runs.length === 0) io.err(what.sub === "list" ? "no runs\n" : "no run to prune\n");
    else for (const r of runs) io.out((what.sub === "prune" ? "removed " : "") + summaryLine(r, io));
    return 0;
  }
  if (what.sub === "tail") {
    await followRun(store, {
      id: what.id,
      onEvent: (e) => io.out(io.json ? JSON.stringify(e) + "\n" : eventLine(e)),
    });
    return 0;
  }
  const { summary, events } = await store.showRun(what.id);
  if (io.json) {
    io.out(JSON.stringify({ summary, events }) + "\n");
    return 0;
  }
  io.out(`${styles(io).bold(summary.id)}  ${summary.state}  exit ${summary.exitCode ?? "-"}\n`);
  io.out(`agent    ${printable(summary.agent)} (${printable(summary.manifest)})\n`);
  io.out(`task     ${printable(summary.task)}\n`);
  io.out(`started  ${summary.started}\nended    ${summary.ended ?? "-"}\n\n`);
  for (const e of events) io.out(eventLine(e));
  return 0;
}
