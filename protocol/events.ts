/**
 * Every event type a run's record can hold, in one table: who may write it,
 * its fields and what it means. The protocol's check of the child's messages
 * ({@linkcode SUPERVISOR_EVENTS}) and the event table of `docs/protocol.md`
 * (`deno task docs`) are made from it.
 *
 * @module
 */

/** Who writes an event: the trusted supervisor only, or the sandbox (which the supervisor then records). */
export type EventSource = "supervisor" | "sandbox";

/** One event type's entry. */
export interface EventSpec {
  /** Who may write it. */
  readonly from: EventSource;
  /** Its fields besides `type` (and the record's `seq` and `ms`), as documentation. */
  readonly fields: string;
  /** What it means. */
  readonly doc: string;
}

/** The event types, in the order a run usually writes them. */
export const RUN_EVENTS = {
  run: {
    from: "supervisor",
    fields:
      "`id`, `agent`, `kind`, `manifest`, `command` (the sandbox's argv); a queued run adds `attempt` and " +
      "`queuedMs`; a run in a pooled sandbox (`[serve] pool`) adds `pooled` = true (its command names the pool " +
      "slot's channel)",
    doc: "the run is created (or a worker starts a queued run); first, after a queued run's `state` `queued`",
  },
  state: {
    from: "supervisor",
    fields:
      "`state` (`queued`, `created`, `starting`, `running`, `stopping`, `exited`), `reason`, `code`, `signal`",
    doc: "the sandbox's life",
  },
  timing: {
    from: "supervisor",
    fields:
      "`phase` (`start`, or `pool`), `waitedMs`; `ready` = false when the sandbox never said it was ready; " +
      "for `pool`: `startedMs`, `preparedMs`, `idleMs`, `warmed`",
    doc:
      "how long the sandbox took from spawn to `ready` (machine start-up and queueing, which `timeout_s` does " +
      "not count: the wall time starts at `ready`); a pooled run records instead how long its sandbox took to " +
      "start and to prepare before the run took it, how long it waited, and what it had started ahead",
  },
  gate: {
    from: "sandbox",
    fields:
      "`op`, `decision` (`allow`, `deny`, `error`), `rule`, `code`, `message` and `hint` (of a refusal or " +
      "failure), `args` (no file contents or bodies), `us`",
    doc: "one decision of the host gate",
  },
  step: { from: "sandbox", fields: "`step`, `loop` (`react`, `codeact`)", doc: "a loop starts a step" },
  code: {
    from: "sandbox",
    fields: "`step`, `language`, `code`, `durationMs`, `error`, `timedOut`, `outOfMemory`, `observation`",
    doc: "CodeAct ran one block of code",
  },
  tool: {
    from: "sandbox",
    fields: "`tool`, `ok`, `observation` (its first 500 characters); ReAct adds `step`, `durationMs`",
    doc: "a loop called a tool",
  },
  model: {
    from: "supervisor",
    fields:
      "`model`, `inputTokens`, `outputTokens`, `stopReason`, `toolCalls`, `content` (2,000 characters at most), " +
      "`durationMs`; or `error` and `message`",
    doc: "one model call, brokered by the supervisor",
  },
  dns: {
    from: "supervisor",
    fields: "`host`, `decision` (`allow`, `deny`), `addresses`; or `code` and `message`",
    doc:
      "the sandbox asked for a name (`dns.resolve`): answered from the addresses pinned at the start, or refused",
  },
  "approval-requested": {
    from: "supervisor",
    fields:
      "`approval` (its id), `op`, `args` (secret values and file contents redacted), `digest` (SHA-256 of the " +
      "exact op and arguments), `timeoutS`",
    doc:
      "a gate call that `[approvals] require` names, allowed by its grants, waits for a person's decision; the " +
      "run's wall time pauses meanwhile",
  },
  "approval-decided": {
    from: "supervisor",
    fields:
      "`approval`, `op`, `digest`, `decision` (`approved`, `denied`, `expired`), `by`, `remember` (`run` or " +
      "null), `remembered` (true: an identical call approved earlier with remember = run), `waitedMs`",
    doc:
      "the decision the call waited for; `expired` when none came within `timeout_s` (a denial). The wall time " +
      "is extended by `waitedMs`",
  },
  log: {
    from: "sandbox",
    fields: "`level`, `message`; `source` for a plugin's",
    doc: "a guest's or plugin's log",
  },
  stdout: {
    from: "sandbox",
    fields: "`data`, `source`",
    doc:
      "output on stdout: a WASI guest's (from its pipe), or, with `source` = `sandbox`, whatever some realm of " +
      "the sandbox process wrote to the process's own stdout (never read as protocol)",
  },
  stderr: { from: "sandbox", fields: "`data`", doc: "a WASI guest's standard error" },
  "sandbox-log": { from: "sandbox", fields: "`level`, `message`", doc: "the sandbox's own console" },
  "sandbox-error": { from: "sandbox", fields: "`message`", doc: "the sandbox's entry failed" },
  limit: {
    from: "supervisor",
    fields: "`limit` (`timeout_s`, `max_output_kb`, `line_bytes`), `value`",
    doc: "a limit ended the run (`line_bytes`: a protocol line past the run's line cap)",
  },
  stop: { from: "supervisor", fields: "`reason`", doc: "the supervisor killed the sandbox" },
  stopped: { from: "sandbox", fields: "`reason`", doc: "the sandbox stopped when asked" },
  warning: { from: "supervisor", fields: "`message`", doc: "something the operator should know" },
  "protocol-error": { from: "supervisor", fields: "`message`", doc: "the sandbox broke the protocol" },
  "sandbox-stderr": {
    from: "supervisor",
    fields: "`data` (its last 4 KiB)",
    doc: "the sandbox's standard error",
  },
  mcp: {
    from: "supervisor",
    fields:
      "`plugin`, `phase` (`start`, `exit`, `stop`), `pid`; `code` and `signal` at `exit`; `message` for a failure",
    doc: "an `[mcp]` plugin's server, which the supervisor runs for the run, started, exited or was stopped",
  },
  "mcp-stderr": {
    from: "supervisor",
    fields: "`plugin`, `data` (one line, at most 4 KiB; at most 64 KiB per server and run, then `truncated`)",
    doc: "a line of an `[mcp]` plugin's server's standard error",
  },
  "model-usage": {
    from: "supervisor",
    fields: "`calls`, `inputTokens`, `outputTokens`, `maxCalls`, `maxTokens`",
    doc: "what the run used of its model budget",
  },
  requeued: {
    from: "supervisor",
    fields: "`attempt` (the one that died), `reason`",
    doc:
      "a queued run's worker died before it made a side effect, and its `[limits] retries` allow another start: " +
      "it waits in the queue again (written by another process)",
  },
  end: {
    from: "supervisor",
    fields: "`state`, `output`, `error`, `exitCode`",
    doc:
      "the run's outcome; always last (state `lost`, written by another process, when its supervisor died)",
  },
} as const satisfies Record<string, EventSpec>;

/** An event type of {@linkcode RUN_EVENTS}. */
export type RunEventType = keyof typeof RUN_EVENTS;

/**
 * Whether a string names an event type of {@linkcode RUN_EVENTS}.
 *
 * @param type Any string.
 * @returns True for a known event type.
 * @example
 * ```ts
 * import { isRunEventType } from "./events.ts";
 * if (!isRunEventType("gate") || isRunEventType("nope")) throw new Error();
 * ```
 */
export function isRunEventType(type: string): type is RunEventType {
  return Object.hasOwn(RUN_EVENTS, type);
}

/**
 * Event types only the supervisor writes into a run's record: the sandbox is not
 * trusted, so it cannot forge an end state, a model call, a limit or a stop.
 */
export const SUPERVISOR_EVENTS: ReadonlySet<string> = new Set(
  Object.entries(RUN_EVENTS).filter(([, spec]) => spec.from === "supervisor").map(([type]) => type),
);

/**
 * The event table of `docs/protocol.md`, as Markdown.
 *
 * @returns The table.
 */
export function eventTableMarkdown(): string {
  const rows = Object.entries(RUN_EVENTS).map(([type, spec]) =>
    `| \`${type}\` | ${spec.from} | ${spec.fields} | ${spec.doc} |`
  );
  return ["| event | written by | fields | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}
