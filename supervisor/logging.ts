/**
 * Diagnostics of the runtime, carried by LogTape as the runtime config's `[log]` says:
 * to a file, or to standard output (trace to info) and standard error (warning and up).
 *
 * LogTape is loaded with the first record that passes `[log] level`: a run at the
 * default level (warning) that has nothing to warn about never loads it. Records
 * made while it loads are written, in order, once it is ready.
 *
 * @module
 */

import type { LogRecord } from "@logtape/logtape";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";

/** Options of {@linkcode configureLogging}. */
export interface LoggingOptions {
  /** Send every record to standard error, keeping standard output for machine-readable results. */
  stdoutReserved?: boolean;
}

/** A minimal logger: the runtime's modules log through this, never the console. */
export interface Log {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

type Level = RuntimeConfig["log"]["level"];
type LogTape = typeof import("@logtape/logtape");

const RANK: Record<Level, number> = { trace: 0, debug: 1, info: 2, warning: 3, error: 4, fatal: 5 };

/** A record made before LogTape was ready. */
interface Pending {
  name: string;
  level: "debug" | "info" | "warning" | "error";
  message: string;
  properties: Record<string, unknown>;
}

/** The process's logging, as LogTape's own configuration is: one for the process. */
const state: {
  wanted: { log: RuntimeConfig["log"]; options: LoggingOptions } | null;
  ready: LogTape | null;
  loading: Promise<void> | null;
  pending: Pending[];
} = { wanted: null, ready: null, loading: null, pending: [] };

/**
 * Sets up logging from `[log]`. Call once at start-up; call again to reconfigure.
 *
 * @param log The `[log]` table of the runtime config.
 * @param options Whether standard output is reserved for results.
 * @returns Resolves when logging is ready.
 */
export async function configureLogging(
  log: RuntimeConfig["log"],
  options: LoggingOptions = {},
): Promise<void> {
  state.wanted = { log, options };
  if (state.loading) await state.loading;
  if (state.ready) await apply(state.ready);
}

/** Configures LogTape as `state.wanted` says. */
async function apply(lt: LogTape): Promise<void> {
  const wanted = state.wanted;
  if (wanted === null) return;
  const { log, options } = wanted;
  const formatter = log.format === "json"
    ? lt.getJsonLinesFormatter()
    : lt.getTextFormatter({ timestamp: "date-time-tz", category: "." });
  const encoder = new TextEncoder();
  const sink = log.file !== undefined
    ? (await import("@logtape/file")).getFileSink(log.file, { formatter, lazy: true })
    : (record: LogRecord) => {
      const toErr = options.stdoutReserved || record.level === "warning" || record.level === "error" ||
        record.level === "fatal";
      (toErr ? Deno.stderr : Deno.stdout).writeSync(encoder.encode(formatter(record)));
    };
  await lt.reset();
  await lt.configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: ["ironclaw"], lowestLevel: log.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/** Loads and configures LogTape, then writes the records made meanwhile. */
async function load(): Promise<void> {
  const lt = await import("@logtape/logtape");
  await apply(lt);
  state.ready = lt;
  for (const r of state.pending.splice(0)) write(lt, r);
}

function write(lt: LogTape, { name, level, message, properties }: Pending): void {
  lt.getLogger(["ironclaw", name])[level](message, properties);
}

function emit(record: Pending): void {
  const wanted = state.wanted;
  // Records before logging is configured go nowhere, as with an unconfigured LogTape.
  if (wanted === null || RANK[record.level] < RANK[wanted.log.level]) return;
  if (state.ready) return write(state.ready, record);
  state.pending.push(record);
  if (state.loading === null) {
    state.loading = load();
    // A failure to load is reported where logging is next awaited (configureLogging, closeLogging).
    state.loading.catch(() => {});
  }
}

/**
 * A logger for one part of the runtime, such as `["ironclaw", "supervisor"]`.
 *
 * @param name The part's name under `ironclaw`.
 * @returns Its logger.
 */
export function logger(name: string): Log {
  return {
    debug: (message, p) => emit({ name, level: "debug", message, properties: p ?? {} }),
    info: (message, p) => emit({ name, level: "info", message, properties: p ?? {} }),
    warn: (message, p) => emit({ name, level: "warning", message, properties: p ?? {} }),
    error: (message, p) => emit({ name, level: "error", message, properties: p ?? {} }),
  };
}

/**
 * Flushes and closes the log sinks (a log file is written in batches). Call before the process exits.
 *
 * @returns Resolves when every record is written.
 */
export async function closeLogging(): Promise<void> {
  if (state.loading) await state.loading;
  if (state.ready) await state.ready.dispose();
}
