/** `ironclaw worker`: take queued runs from the store and run them. */

import { findAgents } from "../supervisor/agents_dir.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { openConfiguredStore } from "../supervisor/store/mod.ts";
import { runWorker, type WorkerEvent } from "../supervisor/worker.ts";
import {
  COMMON_OPTIONS,
  configOption,
  intFlag,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw worker`. */
export const WORKER_HELP = `Take queued runs (ironclaw submit) from the store and run them

Examples:
  ironclaw worker --concurrency 4 --agents agents/
  ironclaw worker --config /etc/ironclaw/ironclaw.toml --json

Usage: ironclaw worker [--concurrency <n>] [--agents <dir>] [options]

Many workers, on one machine or on many sharing a PostgreSQL store
([store] url), take runs from one queue; no run is taken twice. Each run is
held by a lease renewed while it runs: a run whose worker dies is marked
"lost" by the next worker or command that looks (or queued again when its
[limits] retries allow and it made no side effect).

Options:
  --concurrency <n>  Runs at once (default: the number of cores)
  --agents <dir>     Run only the agents of this folder (NAME.toml, NAME/agent.toml),
                     by name; without it, each run's recorded manifest path is used,
                     which must exist on this machine
  --json             One JSON line per run taken, handed back and ended
  --config <file>    Runtime config; default ./ironclaw.toml, then built-in defaults
  -h, --help         Show this help

SIGTERM, SIGINT or SIGHUP: take no more runs, hand back those not yet
started, and let the running ones end; a second signal stops them (they end
"interrupted"). The worker exits 0 when its runs have ended.
`;

/** The signals that drain a worker, then stop it. */
const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function workerLine(e: WorkerEvent, io: Io): string {
  const s = styles(io);
  if (e.type === "claimed") {
    return `${e.id}  took ${e.agent} (attempt ${e.attempt}, queued ${e.queuedMs} ms)\n`;
  }
  if (e.type === "released") return `${e.id}  handed back\n`;
  if (e.type === "ended") {
    const state = e.state === "ok" ? s.green(e.state) : s.red(e.state);
    return `${e.id}  ${state} (exit ${e.exitCode})\n`;
  }
  return s.yellow(`problem: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ""}\n`);
}

/**
 * Runs `ironclaw worker`.
 *
 * @param args The arguments after `worker`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function workerCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: { ...COMMON_OPTIONS, concurrency: { type: "string" }, agents: { type: "string" } },
      allowPositionals: true,
      strict: true,
    }, "worker");
    if (values.help) {
      io.out(WORKER_HELP);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError("ironclaw worker takes no arguments", "ironclaw help worker");
    }
    const concurrency = intFlag(values.concurrency, { flag: "concurrency", range: [1, 1024] }) ??
      navigator.hardwareConcurrency;
    const config = await loadRuntimeConfig(configOption(values));
    const agents = values.agents === undefined ? undefined : await findAgents(values.agents);
    const store = await openConfiguredStore(config);
    const drain = new AbortController();
    const stop = new AbortController();
    const onSignal = () => {
      if (drain.signal.aborted) stop.abort();
      else {
        io.err(styles(io).dim("worker: taking no more runs; a second signal stops the running ones\n"));
        drain.abort();
      }
    };
    for (const s of SIGNALS) Deno.addSignalListener(s, onSignal);
    try {
      const where = agents ? `${agents.size} agents of ${values.agents}` : "any agent";
      io.err(styles(io).dim(`worker ${Deno.pid}: ${concurrency} at once, ${where}\n`));
      const summary = await runWorker({
        config,
        store,
        concurrency,
        ...(agents ? { agents } : {}),
        drain: drain.signal,
        stop: stop.signal,
        onEvent: (e) => io.out(values.json ? JSON.stringify(e) + "\n" : workerLine(e, io)),
      });
      io.err(styles(io).dim(`worker ${Deno.pid}: ran ${summary.ran}, handed back ${summary.released}\n`));
      return 0;
    } finally {
      for (const s of SIGNALS) Deno.removeSignalListener(s, onSignal);
      await store.close();
    }
  } catch (e) {
    return reportError(io, e);
  }
}
