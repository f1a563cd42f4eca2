/**
 * Diagnostics of the runtime, carried by LogTape as the runtime config's `[log]` says:
 * to a file, or to standard output (trace to info) and standard error (warning and up).
 *
 * @module
 */

import {
  configure,
  dispose,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type LogRecord,
  reset,
} from "@logtape/logtape";
import { getFileSink } from "@logtape/file";
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
  const formatter = log.format === "json"
    ? getJsonLinesFormatter()
    : getTextFormatter({ timestamp: "date-time-tz", category: "." });
  const encoder = new TextEncoder();
  const sink = log.file !== undefined
    ? getFileSink(log.file, { formatter, lazy: true })
    : (record: LogRecord) => {
      const toErr = options.stdoutReserved || record.level === "warning" || record.level === "error" ||
        record.level === "fatal";
      (toErr ? Deno.stderr : Deno.stdout).writeSync(encoder.encode(formatter(record)));
    };
  await reset();
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: ["ironclaw"], lowestLevel: log.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}

/**
 * A logger for one part of the runtime, such as `["ironclaw", "supervisor"]`.
 *
 * @param name The part's name under `ironclaw`.
 * @returns Its logger.
 */
export function logger(name: string): Log {
  const l = getLogger(["ironclaw", name]);
  return {
    debug: (m, p) => l.debug(m, p ?? {}),
    info: (m, p) => l.info(m, p ?? {}),
    warn: (m, p) => l.warn(m, p ?? {}),
    error: (m, p) => l.error(m, p ?? {}),
  };
}

/**
 * Flushes and closes the log sinks (a log file is written in batches). Call before the process exits.
 *
 * @returns Resolves when every record is written.
 */
export async function closeLogging(): Promise<void> {
  await dispose();
}
