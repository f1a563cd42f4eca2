/**
 * OpenTelemetry export of runs over OTLP/HTTP with JSON, when the runtime
 * config has a `[telemetry]` table: a span per run with a child span per gate
 * call, model call, tool call and CodeAct block, and the counters
 * `ironclaw.runs` (by `state`) and `ironclaw.gate.denials` (by `rule`).
 *
 * @module
 */

import type { TelemetryConfig } from "../../manifests/runtime_config.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import { exporterFor, type ExportFailure } from "./exporter.ts";
import { RunTrace, type RunTraceOptions } from "./run_trace.ts";

export { exporterFor, type ExportFailure, OtlpExporter } from "./exporter.ts";
export { type FinishedRun, RunTrace, type RunTraceOptions } from "./run_trace.ts";
export { metricsRequest, traceRequest, unixNanos } from "./otlp.ts";

/** The telemetry of one run: what sees its events, and the export after its end. */
export interface RunTelemetry {
  /** Takes each recorded event; never throws. */
  observe(event: RunEvent): void;
  /**
   * Exports the run once `done` settles (its end recorded). Never rejects; resolves when the export was
   * answered, failed or timed out (`[telemetry] timeout_s`), or at once when the run ended without an end.
   */
  exportAfter(done: Promise<unknown>): Promise<void>;
}

/**
 * The telemetry of a run under a config's `[telemetry]`, or null when there is none: then nothing is sent.
 *
 * @param config The config's `[telemetry]`, or null.
 * @param options The run's model provider, secret values and task size; `onFailure`: told of a failed export.
 * @returns The run's telemetry, or null.
 */
export function runTelemetry(
  config: TelemetryConfig | null,
  options: RunTraceOptions & { onFailure?: ExportFailure },
): RunTelemetry | null {
  if (config === null) return null;
  const trace = new RunTrace(options);
  return {
    observe(event) {
      try {
        trace.observe(event);
      } catch { /* telemetry never disturbs a run */ }
    },
    async exportAfter(done) {
      try {
        await done;
      } catch {
        return;
      }
      const finished = trace.finish();
      if (finished === null) return;
      await exporterFor(config).export(finished, {
        secrets: options.secrets,
        ...(options.onFailure ? { onFailure: options.onFailure } : {}),
      });
    },
  };
}
