/**
 * The OTLP/HTTP exporter of a process: sends each finished run's trace and
 * the process's counters (runs by end state, gate denials by rule) as JSON,
 * fire-and-forget with a timeout. A failure is a warning, said once until an
 * export works again; it never changes a run's outcome or record.
 *
 * @module
 */

import type { TelemetryConfig } from "../../manifests/runtime_config.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { logger } from "../logging.ts";
import { metricsRequest, type ResourceData, traceRequest } from "./otlp.ts";
import type { FinishedRun } from "./run_trace.ts";

/** Told of an export that failed (the warning is logged besides). */
export type ExportFailure = (message: string) => void;

/** The exporters of the configs in use: one per config, so the counters add up over a process's runs. */
const EXPORTERS = new WeakMap<TelemetryConfig, OtlpExporter>();

/**
 * The exporter of a `[telemetry]` table: the same one for every run of the process that uses this config.
 *
 * @param config The config's `[telemetry]`.
 * @returns Its exporter.
 */
export function exporterFor(config: TelemetryConfig): OtlpExporter {
  let exporter = EXPORTERS.get(config);
  if (!exporter) EXPORTERS.set(config, exporter = new OtlpExporter(config));
  return exporter;
}

/** Counts by one attribute's value. */
class Counter {
  readonly #counts = new Map<string, number>();
  add(key: string): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }
  points(attribute: string): { attributes: Record<string, string>; value: number }[] {
    return [...this.#counts].map(([k, value]) => ({ attributes: { [attribute]: k }, value }));
  }
}

/** Sends runs to one OTLP/HTTP receiver; see the module's documentation. */
export class OtlpExporter {
  readonly #config: TelemetryConfig;
  readonly #resource: ResourceData;
  /** When counting began: the start of every cumulative point. */
  readonly #since = Date.now();
  readonly #runs = new Counter();
  readonly #denials = new Counter();
  /** Whether a failure was said since the last export that worked. */
  #warned = false;

  /**
   * @param config The `[telemetry]` table.
   */
  constructor(config: TelemetryConfig) {
    this.#config = config;
    this.#resource = { serviceName: config.service_name, version: denoJson.version };
  }

  /**
   * Counts a finished run and sends its trace and the counters. Never rejects.
   *
   * @param run The run.
   * @param options `secrets`: values removed from the bytes sent, whatever carries them; `onFailure`: told
   *   of a failure.
   * @returns Resolves when both requests are answered, failed or timed out.
   */
  async export(
    run: FinishedRun,
    options: { secrets: readonly string[]; onFailure?: ExportFailure },
  ): Promise<void> {
    this.#runs.add(run.state);
    for (const rule of run.denials) this.#denials.add(rule);
    const trace = traceRequest(run.traceId, run.spans, { resource: this.#resource });
    const sums = [{
      name: "ironclaw.runs",
      description: "Runs ended, by end state",
      unit: "{run}",
      points: this.#runs.points("state"),
    }, {
      name: "ironclaw.gate.denials",
      description: "Gate calls denied, by the rule that denied them",
      unit: "{call}",
      points: this.#denials.points("rule"),
    }];
    const metrics = metricsRequest(sums, {
      resource: this.#resource,
      startMs: this.#since,
      nowMs: Date.now(),
    });
    const results = await Promise.all([
      this.#post("/v1/traces", trace, options.secrets),
      this.#post("/v1/metrics", metrics, options.secrets),
    ]);
    const failure = results.find((r) => r !== null);
    if (failure === undefined) {
      this.#warned = false;
      return;
    }
    options.onFailure?.(failure!);
    if (this.#warned) return;
    this.#warned = true;
    logger("telemetry").warn("Telemetry export to {endpoint} failed: {failure}", {
      endpoint: this.#config.otlp_endpoint,
      failure,
    });
  }

  /** The headers of every request, or a failure when a header's variable is not set. */
  #headers(): Record<string, string> | string {
    const headers: Record<string, string> = { "content-type": "application/json" };
    for (const [name, h] of Object.entries(this.#config.headers)) {
      if (typeof h === "string") {
        headers[name] = h;
        continue;
      }
      const value = Deno.env.get(h.env);
      if (!value) return `the header "${name}" takes its value from ${h.env}, which is not set`;
      headers[name] = h.format.replaceAll("{value}", value);
    }
    return headers;
  }

  /** One POST; null when it was answered with a 2xx, else what went wrong. */
  async #post(path: string, body: unknown, secrets: readonly string[]): Promise<string | null> {
    const headers = this.#headers();
    if (typeof headers === "string") return headers;
    let text = JSON.stringify(body);
    // The spans' strings were redacted already; this catches a secret wherever else it might hide.
    for (const s of secrets) {
      if (s) text = text.replaceAll(s, "[redacted]").replaceAll(JSON.stringify(s).slice(1, -1), "[redacted]");
    }
    try {
      const response = await fetch(this.#config.otlp_endpoint + path, {
        method: "POST",
        headers,
        body: text,
        redirect: "manual",
        signal: AbortSignal.timeout(this.#config.timeout_s * 1000),
      });
      await response.body?.cancel().catch(() => {});
      return response.ok ? null : `${path} was answered ${response.status}`;
    } catch (e) {
      const error = e as Error;
      return error.name === "TimeoutError"
        ? `${path} was not answered within ${this.#config.timeout_s} s`
        : `${path}: ${error.message}`;
    }
  }
}
