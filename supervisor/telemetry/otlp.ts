/**
 * The OTLP/HTTP JSON encoding of spans and sums: the protobuf JSON mapping of
 * `ExportTraceServiceRequest` and `ExportMetricsServiceRequest` (hex ids,
 * times as decimal strings of Unix nanoseconds, 64-bit integers as decimal
 * strings, enums as numbers). Pure: data in, data out.
 *
 * @module
 */

/** An attribute's value: strings, whole numbers and booleans only. */
export type AttributeValue = string | number | boolean;

/** Attributes by key; undefined values are left out. */
export type Attributes = Record<string, AttributeValue | undefined>;

/** One span, its times in Unix milliseconds (fractions kept). */
export interface SpanData {
  /** 16 lowercase hex digits. */
  spanId: string;
  /** The parent's span id, or null for a root span. */
  parentSpanId: string | null;
  /** The span's name. */
  name: string;
  /** `client` for a call out of the process (a model call), else `internal`. */
  kind: "internal" | "client";
  /** When it started, in Unix ms. */
  startMs: number;
  /** When it ended, in Unix ms. */
  endMs: number;
  /** Its attributes. */
  attributes: Attributes;
  /** An error's short description (an error code), or null when it did not fail. */
  error: string | null;
}

/** One monotonic counter's points, by their attributes. */
export interface SumData {
  /** The metric's name. */
  name: string;
  /** What it counts. */
  description: string;
  /** Its unit, in UCUM annotation form (`{run}`). */
  unit: string;
  /** The points: attributes and the count. */
  points: { attributes: Attributes; value: number }[];
}

/** What every export carries: the service and the instrumentation scope. */
export interface ResourceData {
  /** The `service.name` resource attribute. */
  serviceName: string;
  /** The `service.version` resource attribute and the scope's version. */
  version: string;
}

/** OTLP's `SpanKind` numbers. */
const SPAN_KIND = { internal: 1, client: 3 } as const;

/** OTLP's `StatusCode.STATUS_CODE_ERROR`. */
const STATUS_ERROR = 2;

/** OTLP's `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`. */
const CUMULATIVE = 2;

/**
 * Random lowercase hex digits, as ids are: `bytes` random bytes, never all zero (an invalid id).
 *
 * @example
 * ```ts
 * import { randomHexId } from "./otlp.ts";
 * if (!/^[0-9a-f]{32}$/.test(randomHexId(16)) || !/^[0-9a-f]{16}$/.test(randomHexId(8))) throw new Error();
 * ```
 *
 * @param bytes How many bytes: 16 for a trace id, 8 for a span id.
 * @returns The id.
 */
export function randomHexId(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  if (raw.every((b) => b === 0)) raw[0] = 1;
  return [...raw].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Unix milliseconds (with a fraction) as the decimal string of Unix nanoseconds OTLP's JSON wants; past
 * 2^53 nanoseconds a number would lose digits, so the string is built from whole ms and the fraction.
 *
 * @example
 * ```ts
 * import { unixNanos } from "./otlp.ts";
 * if (unixNanos(1764600000123.5) !== "1764600000123500000") throw new Error(unixNanos(1764600000123.5));
 * ```
 *
 * @param ms The time.
 * @returns The nanoseconds, as a decimal string.
 */
export function unixNanos(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.min(999_999, Math.round((ms - whole) * 1e6));
  return (BigInt(whole) * 1_000_000n + BigInt(nanos)).toString();
}

/** Attributes as OTLP `KeyValue`s: strings, integers (as decimal strings), doubles and booleans. */
function keyValues(attributes: Attributes): unknown[] {
  const out: unknown[] = [];
  for (const [key, v] of Object.entries(attributes)) {
    if (v === undefined) continue;
    const value = typeof v === "string"
      ? { stringValue: v }
      : typeof v === "boolean"
      ? { boolValue: v }
      : Number.isSafeInteger(v)
      ? { intValue: String(v) }
      : { doubleValue: v };
    out.push({ key, value });
  }
  return out;
}

function resourceOf(resource: ResourceData): unknown {
  return {
    attributes: keyValues({ "service.name": resource.serviceName, "service.version": resource.version }),
  };
}

function scopeOf(resource: ResourceData): unknown {
  return { name: "ironclaw", version: resource.version };
}

/**
 * The body of `POST /v1/traces` for the spans of one trace.
 *
 * @example
 * ```ts
 * import { traceRequest } from "./otlp.ts";
 * const body = traceRequest("0af7651916cd43dd8448eb211c80319c", [{
 *   spanId: "b7ad6b7169203331", parentSpanId: null, name: "ironclaw.run", kind: "internal",
 *   startMs: 1000, endMs: 1500, attributes: { "ironclaw.run.exit_code": 1 }, error: "ERR_LIMIT",
 * }], { resource: { serviceName: "ironclaw", version: "0.1.0" } });
 * const span = (body as any).resourceSpans[0].scopeSpans[0].spans[0];
 * if (span.endTimeUnixNano !== "1500000000" || span.status.code !== 2) throw new Error();
 * if (span.attributes[0].value.intValue !== "1") throw new Error();
 * ```
 *
 * @param traceId The trace's id, 32 hex digits.
 * @param spans Its spans.
 * @param options `resource`: the service and version.
 * @returns The request body, to be sent as JSON.
 */
export function traceRequest(
  traceId: string,
  spans: readonly SpanData[],
  options: { resource: ResourceData },
): unknown {
  return {
    resourceSpans: [{
      resource: resourceOf(options.resource),
      scopeSpans: [{
        scope: scopeOf(options.resource),
        spans: spans.map((s) => ({
          traceId,
          spanId: s.spanId,
          ...(s.parentSpanId !== null ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: SPAN_KIND[s.kind],
          startTimeUnixNano: unixNanos(s.startMs),
          endTimeUnixNano: unixNanos(Math.max(s.startMs, s.endMs)),
          attributes: keyValues(s.attributes),
          status: s.error === null ? {} : { code: STATUS_ERROR, message: s.error },
        })),
      }],
    }],
  };
}

/**
 * The body of `POST /v1/metrics` for cumulative monotonic sums (counters) of integers.
 *
 * @example
 * ```ts
 * import { metricsRequest } from "./otlp.ts";
 * const body = metricsRequest([{ name: "ironclaw.runs", description: "Runs ended", unit: "{run}",
 *   points: [{ attributes: { state: "ok" }, value: 2 }] }], {
 *   resource: { serviceName: "ironclaw", version: "0.1.0" }, startMs: 1000, nowMs: 2000,
 * });
 * const sum = (body as any).resourceMetrics[0].scopeMetrics[0].metrics[0].sum;
 * if (sum.dataPoints[0].asInt !== "2" || sum.aggregationTemporality !== 2 || !sum.isMonotonic) throw new Error();
 * ```
 *
 * @param sums The counters.
 * @param options `resource`; `startMs`: when counting began; `nowMs`: the points' time.
 * @returns The request body, to be sent as JSON.
 */
export function metricsRequest(
  sums: readonly SumData[],
  options: { resource: ResourceData; startMs: number; nowMs: number },
): unknown {
  const start = unixNanos(options.startMs);
  const time = unixNanos(options.nowMs);
  return {
    resourceMetrics: [{
      resource: resourceOf(options.resource),
      scopeMetrics: [{
        scope: scopeOf(options.resource),
        metrics: sums.map((m) => ({
          name: m.name,
          description: m.description,
          unit: m.unit,
          sum: {
            aggregationTemporality: CUMULATIVE,
            isMonotonic: true,
            dataPoints: m.points.map((p) => ({
              attributes: keyValues(p.attributes),
              startTimeUnixNano: start,
              timeUnixNano: time,
              asInt: String(p.value),
            })),
          },
        })),
      }],
    }],
  };
}
