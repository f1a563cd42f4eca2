/**
 * What telemetry keeps of a run while it runs: the run's facts and one span
 * per gate call, model call, tool call and CodeAct block, taken from the
 * events the run records (their `ms` stamps give the times). Only sizes,
 * names, codes and counts are kept: never the task, a message's or a file's
 * content, a tool's observation or an argument's value (except a file path
 * and a host, which policy is about). Every string kept is redacted of the
 * run's secret values, as approvals are.
 *
 * @module
 */

import type { RunEvent } from "../../protocol/protocol.ts";
import { redactApprovalArgs } from "../approver.ts";
import { type Attributes, randomHexId, type SpanData } from "./otlp.ts";

/** The facts of a run a {@linkcode RunTrace} is made with. */
export interface RunTraceOptions {
  /** The run's model provider's name, for the model spans' names, or null without a model. */
  provider: string | null;
  /** The run's secret values: removed from every string kept. */
  secrets: readonly string[];
  /** The task's size in bytes (the task itself is never kept). */
  taskBytes: number;
}

/** What a finished run gives the exporter. */
export interface FinishedRun {
  /** The trace's id, 32 hex digits. */
  traceId: string;
  /** The run span first, then its children. */
  spans: SpanData[];
  /** The end state. */
  state: string;
  /** The rule of each denied gate call. */
  denials: string[];
}

const str = (v: unknown): string | undefined => typeof v === "string" ? v : undefined;
const num = (v: unknown): number | undefined => typeof v === "number" && Number.isFinite(v) ? v : undefined;
const bool = (v: unknown): boolean | undefined => typeof v === "boolean" ? v : undefined;

/**
 * The most child spans one run exports: past it, the rest are counted in the run span's
 * `ironclaw.spans.dropped` (a run at the default ceiling of gate calls still fits: 10,000 gate spans are about 5 MB of JSON).
 */
export const MAX_CHILD_SPANS = 10_000;

/** The decision words spans carry. */
const DECISIONS: Record<string, string> = { allow: "allowed", deny: "denied", error: "error" };

/**
 * The policy-relevant argument of a gate call: a file path (`fs.*`) or a host (`http.*`), nothing else.
 * A refused call's arguments are recorded as JSON text (maybe cut): they are read only when they parse.
 */
function gateTarget(op: string, args: unknown): Attributes {
  let a = args;
  if (typeof a === "string") {
    try {
      a = JSON.parse(a);
    } catch {
      return {};
    }
  }
  if (typeof a !== "object" || a === null) return {};
  const record = a as Record<string, unknown>;
  if (op.startsWith("fs.")) return { "ironclaw.gate.path": str(record.path) };
  const url = str(record.url);
  if (op.startsWith("http.") && url !== undefined && URL.canParse(url)) {
    return { "ironclaw.gate.host": new URL(url).host };
  }
  return {};
}

/** Collects a run's spans from its events; see the module's documentation for what is kept. */
export class RunTrace {
  readonly #options: RunTraceOptions;
  readonly #traceId = randomHexId(16);
  readonly #runSpanId = randomHexId(8);
  /** Unix ms of the run's `ms` = 0, set at its first event. */
  #origin: number | null = null;
  #run: Attributes = {};
  #children: SpanData[] = [];
  #denials: string[] = [];
  #dropped = 0;
  #endMs = 0;
  #state: string | null = null;
  #error: string | null = null;

  /**
   * @param options The run's provider name, secret values and task size.
   */
  constructor(options: RunTraceOptions) {
    this.#options = options;
    this.#run = { "ironclaw.task.bytes": options.taskBytes };
  }

  /** The strings of `attributes` with every secret value replaced by `[redacted]`. */
  #clean(attributes: Attributes): Attributes {
    return redactApprovalArgs(attributes, this.#options.secrets) as Attributes;
  }

  #child(
    span: Omit<SpanData, "spanId" | "parentSpanId" | "startMs" | "endMs">,
    at: number,
    ms: number,
  ): void {
    if (this.#children.length >= MAX_CHILD_SPANS) {
      this.#dropped++;
      return;
    }
    const endMs = this.#origin! + at;
    this.#children.push({
      ...span,
      spanId: randomHexId(8),
      parentSpanId: this.#runSpanId,
      startMs: endMs - Math.max(0, ms),
      endMs,
      attributes: this.#clean(span.attributes),
    });
  }

  /**
   * Takes one recorded event (stamped with `seq` and `ms`).
   *
   * @param event The event.
   */
  observe(event: RunEvent): void {
    const at = num(event.ms) ?? 0;
    this.#origin ??= Date.now() - at;
    this.#endMs = Math.max(this.#endMs, at);
    switch (event.type) {
      case "run":
        return this.#onRun(event);
      case "gate":
        return this.#onGate(event, at);
      case "model":
        return this.#onModel(event, at);
      case "tool":
        return this.#child(
          {
            name: `tool ${str(event.tool) ?? "?"}`,
            kind: "internal",
            attributes: {
              "ironclaw.tool.name": str(event.tool),
              "ironclaw.tool.ok": bool(event.ok),
              "ironclaw.step": num(event.step),
            },
            error: event.ok === false ? "tool failed" : null,
          },
          at,
          num(event.durationMs) ?? 0,
        );
      case "code":
        return this.#onCode(event, at);
      case "model-usage":
        this.#run["ironclaw.model.calls"] = num(event.calls);
        this.#run["gen_ai.usage.input_tokens"] = num(event.inputTokens);
        this.#run["gen_ai.usage.output_tokens"] = num(event.outputTokens);
        return;
      case "end":
        return this.#onEnd(event);
    }
  }

  #onRun(event: RunEvent): void {
    Object.assign(this.#run, {
      "ironclaw.run.id": str(event.id),
      "ironclaw.agent.name": str(event.agent),
      "ironclaw.agent.kind": str(event.kind),
      "ironclaw.run.attempt": num(event.attempt),
      "ironclaw.run.queued_ms": num(event.queuedMs),
      "ironclaw.run.pooled": bool(event.pooled),
    });
  }

  #onGate(event: RunEvent, at: number): void {
    const op = str(event.op) ?? "?";
    const decision = str(event.decision) ?? "?";
    const rule = str(event.rule);
    if (decision === "deny") this.#denials.push(rule ?? "(none)");
    this.#child(
      {
        name: `gate ${op}`,
        kind: "internal",
        attributes: {
          "ironclaw.gate.op": op,
          "ironclaw.gate.decision": DECISIONS[decision] ?? decision,
          "ironclaw.gate.rule": rule,
          "ironclaw.error.code": str(event.code),
          ...gateTarget(op, event.args),
        },
        error: decision === "allow" ? null : str(event.code) ?? decision,
      },
      at,
      (num(event.us) ?? 0) / 1000,
    );
  }

  #onModel(event: RunEvent, at: number): void {
    const provider = this.#options.provider ?? "?";
    const error = str(event.error) ?? null;
    this.#child(
      {
        name: `model ${provider}`,
        kind: "client",
        attributes: {
          "ironclaw.model.provider": provider,
          "gen_ai.response.model": str(event.model),
          "gen_ai.usage.input_tokens": num(event.inputTokens),
          "gen_ai.usage.output_tokens": num(event.outputTokens),
          "ironclaw.model.latency_ms": num(event.durationMs),
          "ironclaw.model.stop_reason": str(event.stopReason),
          "ironclaw.model.tool_calls": Array.isArray(event.toolCalls) ? event.toolCalls.length : undefined,
          "ironclaw.model.content_chars": typeof event.content === "string"
            ? event.content.length
            : undefined,
          "ironclaw.error.code": error ?? undefined,
        },
        error,
      },
      at,
      num(event.durationMs) ?? 0,
    );
  }

  #onCode(event: RunEvent, at: number): void {
    const failed = event.error !== undefined && event.error !== null && event.error !== false;
    this.#child(
      {
        name: `codeact ${str(event.language) ?? "?"}`,
        kind: "internal",
        attributes: {
          "ironclaw.step": num(event.step),
          "ironclaw.code.language": str(event.language),
          "ironclaw.code.chars": typeof event.code === "string" ? event.code.length : undefined,
          "ironclaw.code.timed_out": bool(event.timedOut),
          "ironclaw.code.out_of_memory": bool(event.outOfMemory),
        },
        error: failed ? "code failed" : null,
      },
      at,
      num(event.durationMs) ?? 0,
    );
  }

  #onEnd(event: RunEvent): void {
    const error = event.error as { code?: unknown } | null | undefined;
    this.#state = str(event.state) ?? "?";
    this.#error = str(error?.code) ?? (this.#state === "ok" ? null : this.#state);
    Object.assign(this.#run, {
      "ironclaw.run.state": this.#state,
      "ironclaw.run.exit_code": num(event.exitCode),
      "ironclaw.error.code": str(error?.code),
      "ironclaw.output.bytes": typeof event.output === "string"
        ? new TextEncoder().encode(event.output).length
        : undefined,
    });
  }

  /**
   * The run's spans and counts, once its `end` was observed.
   *
   * @returns The finished run, or null when no `end` came (nothing is exported then).
   */
  finish(): FinishedRun | null {
    if (this.#state === null || this.#origin === null) return null;
    const run: SpanData = {
      spanId: this.#runSpanId,
      parentSpanId: null,
      name: "ironclaw.run",
      kind: "internal",
      startMs: this.#origin,
      endMs: this.#origin + this.#endMs,
      attributes: this.#clean({
        ...this.#run,
        ...(this.#dropped > 0 ? { "ironclaw.spans.dropped": this.#dropped } : {}),
      }),
      error: this.#error,
    };
    return {
      traceId: this.#traceId,
      spans: [run, ...this.#children],
      state: this.#state,
      denials: this.#denials.map((r) => this.#clean({ r }).r as string),
    };
  }
}
