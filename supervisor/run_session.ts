/**
 * One run of a sandbox, from the supervisor's side: the record, the process,
 * the protocol conversation, the limits and the end. `startRun` makes one;
 * each part is its own module (spawn, requests, limits, outcome, guest pipes).
 *
 * @module
 */

import { join } from "node:path";
import type { Policy, RuntimePaths } from "../capabilities/policy.ts";
import type { ErrorCode, Failure, IronclawError } from "../manifests/errors.ts";
import {
  type ChildMessage,
  encodeMessage,
  type ParentMessage,
  parseChildMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  readLines,
  type ResultMessage,
  type RunEvent,
  type StartMessage,
} from "../protocol/protocol.ts";
import { lineCap, LineTooLongError } from "../protocol/line_cap.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import { narrowGrant, type SandboxGrant } from "../protocol/grant.ts";
import { readGuestPipes } from "./guest_pipes.ts";
import { ChannelListener, channelPath, withChannel } from "./channel.ts";
import { limitBreach, type RunLimit, RunLimits } from "./limits.ts";
import { crashEnd, EXIT_CODES, FirstEnd, type RunOutcome } from "./outcome.ts";
import { RequestBroker, type StateCaps } from "./requests.ts";
import type { McpHost } from "./mcp_host.ts";
import { Approver } from "./approver.ts";
import { WallClock } from "./wall_clock.ts";
import { sandboxCommand } from "./sandbox_command.ts";
import { SandboxProcess } from "./spawn.ts";
import { type ClaimedRun, type RunLease, type RunStore, RunWriter, SqliteRunStore } from "./store/mod.ts";
import { GATE_OPS } from "../protocol/gate_ops.ts";
import { newRunId } from "./records.ts";
import type { RunHandle, RunOptions } from "./supervisor.ts";
import type { WarmSandbox } from "./warm_sandbox.ts";

/** How much of the sandbox's stderr is kept, for the record and to tell an out-of-memory death. */
const STDERR_TAIL = 16 * 1024;

/** How long a sandbox may take to say it is ready, by default: generous, as a busy machine starts slowly. */
const START_TIMEOUT_MS = 60_000;

/** The start message of a run, encoded once when the run is created and sent at `ready`. */
function startMessageOf(options: RunOptions, run: { id: string; grant: SandboxGrant }): StartMessage {
  return {
    v: PROTOCOL_VERSION,
    type: "start",
    runId: run.id,
    task: options.task,
    policy: run.grant,
    module: options.module,
    gateChecks: !options.unsafeDisableGateChecks,
    pluginData: options.pluginData ?? {},
    secrets: options.secrets ?? [],
    ...(options.assets ? { assets: options.assets } : {}),
  };
}

/**
 * The argv of a run: the options' command (a plan's, or a test's, with its channel already), else computed from
 * the Policy with the run's channel and line cap.
 */
function commandOf(
  policy: Policy,
  options: RunOptions,
  run: { channel: string; maxLineBytes: number },
): string[] {
  return options.command ?? withChannel(
    sandboxCommand(policy, {
      ...(options.runtime ? { runtime: options.runtime } : {}),
      ...(options.deno !== undefined ? { deno: options.deno } : {}),
      ...(options.entry !== undefined ? { entry: options.entry } : {}),
      ...(options.sandboxMode !== undefined ? { mode: options.sandboxMode } : {}),
      ...(options.unsafeWidenProcessFlags ? { unsafeWidenProcessFlags: true } : {}),
      pinned: options.pinned ?? {},
    }),
    run.channel,
    { maxLineBytes: run.maxLineBytes },
  );
}

/** The runtime paths of a run: the options' (a plan's), else none, the module's format as the Policy knows it. */
function runtimeOf(policy: Policy, options: RunOptions): RuntimePaths {
  return options.runtime ?? { read: [], write: [], moduleFormat: policy.agent.moduleFormat };
}

/** The run's plugins, by name, with the caps of their state: their `max_value_bytes` and `max_keys` when set. */
function pluginCaps(policy: Policy): Map<string, StateCaps> {
  const positive = (v: unknown) => typeof v === "number" && v > 0 ? v : undefined;
  return new Map(policy.plugins.map((p) => {
    const maxValueBytes = positive(p.config.max_value_bytes);
    const maxKeys = positive(p.config.max_keys);
    return [p.name, {
      ...(maxValueBytes !== undefined ? { maxValueBytes } : {}),
      ...(maxKeys !== undefined ? { maxKeys } : {}),
    }];
  }));
}

/** Whether a gate op may change something outside the run. */
function isEffect(op: unknown): boolean {
  return typeof op === "string" && Object.hasOwn(GATE_OPS, op) &&
    GATE_OPS[op as keyof typeof GATE_OPS].effect;
}

/** One run of a sandbox: made by `startRun`, which returns its {@linkcode RunSession.handle}. */
export class RunSession {
  readonly #policy: Policy;
  /** What the sandbox is sent to enforce: the Policy narrowed, with the run's runtime paths. */
  readonly #grant: SandboxGrant;
  readonly #options: RunOptions;
  readonly #id: string;
  readonly #store: RunStore;
  readonly #record: RunWriter;
  /** Whether the run came from the queue: its side effects are recorded, as they rule out a retry. */
  readonly #queued: boolean;
  readonly #limits: RunLimits;
  readonly #end = new FirstEnd();
  readonly #denoDir: string;
  readonly #process: SandboxProcess | null;
  /** The run's channel until the sandbox connects; null when it could not be opened. */
  readonly #listener: ChannelListener | null;
  /** The sandbox's connection on the channel, once made. */
  #conn: Deno.UnixConn | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  readonly #requests: RequestBroker;
  /** The run's `[mcp]` plugin servers, stopped with it; null when it uses none. */
  readonly #mcp: McpHost | null;
  #stopping = false;
  #ready = false;
  #stderrTail = "";
  #timers: ReturnType<typeof setTimeout>[] = [];
  /** The start message, encoded once; sent at `ready`. */
  readonly #startLine: Uint8Array;
  /** The longest protocol line either side reads in this run, in bytes (the sandbox is told it). */
  readonly #lineCap: number;
  /** When the sandbox was spawned (`performance.now()`), to record how long it took to be ready. */
  #spawnedAt = 0;
  /** The wall time, from `ready` on: paused while a gate call waits for a person's approval. */
  readonly #wall = new WallClock();
  /** The pooled sandbox the run took, or null for a sandbox spawned for it. */
  readonly #warm: WarmSandbox | null;

  /**
   * Creates the run in the store (or takes the run a worker claimed), then spawns its sandbox.
   *
   * @param policy The run's Policy.
   * @param options The run's options.
   * @returns The run's handle.
   * @throws {IronclawError} `ERR_RUN_EXISTS` when the id is taken, `ERR_STORE` when the store cannot be written.
   */
  static async start(policy: Policy, options: RunOptions): Promise<RunHandle> {
    const store = options.store ?? SqliteRunStore.open(options.stateDir);
    const claimed = options.claimed;
    const id = claimed?.lease.id ?? options.id ?? newRunId();
    try {
      const lease = claimed?.lease ?? await RunWriter.createRun(store, {
        id,
        agent: policy.agent.name,
        manifest: policy.manifestFile,
        task: options.task,
        started: new Date().toISOString(),
      });
      // The MCP client (and the JSON Schema validator it checks inputs with) loads only for a run that needs it.
      const mcpHost = !options.warm && policy.plugins.some((p) => p.mcp?.command)
        ? (await import("./mcp_host.ts")).McpHost
        : null;
      return new RunSession(policy, options, { store, lease, claimed: claimed ?? null, mcpHost }).handle();
    } catch (e) {
      if (!options.store) await store.close();
      throw e;
    }
  }

  private constructor(
    policy: Policy,
    options: RunOptions,
    run: { store: RunStore; lease: RunLease; claimed: ClaimedRun | null; mcpHost: typeof McpHost | null },
  ) {
    const id = run.lease.id;
    this.#policy = policy;
    this.#grant = narrowGrant(policy, runtimeOf(policy, options), { pinned: options.pinned ?? {} });
    this.#options = options;
    this.#id = id;
    this.#limits = new RunLimits(policy);
    this.#store = run.store;
    this.#record = new RunWriter(run.store, run.lease, {
      onError: (e) => this.#storeFailed(e),
      firstSeq: run.claimed?.firstSeq ?? 0,
      ...(options.onStored ? { onWritten: options.onStored } : {}),
    });
    this.#queued = run.claimed !== null;
    // The sandbox gets a Deno cache folder of its own, removed with the run: it runs a bundle that resolves no
    // package, so it needs nothing from the caller's cache, and what Deno keeps there without a permission
    // (CacheStorage, the transpiled plugin code) lives and dies with this run.
    const warm = options.warm ?? null;
    this.#warm = warm;
    this.#denoDir = warm?.denoDir ?? join(options.stateDir, "sandbox-cache", id);
    this.#startLine = encodeMessage(startMessageOf(options, { id, grant: this.#grant }));
    // The same cap as the plan's command gives the sandbox: the task (at most MAX_TASK_BYTES) never raises it.
    this.#lineCap = warm?.lineCap ??
      lineCap({ outputBytes: this.#limits.output, taskBytes: utf8ByteLength(options.task) });
    const channel = channelPath(options.stateDir, id);
    const argv = commandOf(policy, options, { channel, maxLineBytes: this.#lineCap });
    const { agent } = policy;
    this.#emit({
      type: "run",
      id,
      agent: agent.name,
      kind: agent.kind,
      manifest: policy.manifestFile,
      command: argv,
      ...(warm ? { pooled: true } : {}),
      ...(run.claimed ? { attempt: run.claimed.attempt, queuedMs: run.claimed.queuedMs } : {}),
    });
    // A WASI guest writes its preopens itself, past the gate's events: a run that may do so counts as having
    // made a side effect from the start.
    if (this.#queued && agent.moduleFormat === "preview1" && policy.fs.write.length > 0) {
      this.#record.markEffect();
    }
    this.#emit({ type: "state", state: "created" });
    this.#emit({ type: "state", state: "starting" });
    // A pooled sandbox was spawned, connected and prepared by the pool: its channel is open already.
    this.#listener = warm ? null : this.#listen(channel);
    this.#mcp = this.#mcpServers(policy, { warm, host: run.mcpHost });
    this.#spawnedAt = performance.now();
    this.#process = warm?.process ?? (this.#listener ? this.#spawn(argv) : null);
    this.#requests = new RequestBroker(
      (requestId, reply) => this.#send({ v: PROTOCOL_VERSION, type: "reply", id: requestId, ...reply }),
      (event) => this.#emit(event),
      {
        ...(options.model ? { model: options.model } : {}),
        net: policy.net,
        pinned: options.pinned ?? {},
        deadline: () => this.#wall.deadline,
        pluginState: { store: this.#store, agent: agent.name, plugins: pluginCaps(policy) },
        ...(this.#mcp ? { mcp: this.#mcp } : {}),
        approvals: (signal) =>
          new Approver({
            store: this.#store,
            lease: run.lease,
            timeoutS: policy.approvals.timeoutS,
            secrets: (options.secrets ?? []).map((s) => s.value),
            emit: (event) => this.#emit(event),
            wall: this.#wall,
            signal,
            ...(options.approvalPrompt ? { prompt: options.approvalPrompt } : {}),
          }),
      },
    );
  }

  /**
   * The run's `[mcp]` plugin servers: started now, as children of this process (never of the sandbox), or a
   * pooled sandbox's, started beside it; null when it uses none.
   */
  #mcpServers(
    policy: Policy,
    made: { warm: WarmSandbox | null; host: typeof McpHost | null },
  ): McpHost | null {
    if (made.warm) return made.warm.mcp;
    return made.host ? new made.host(policy, { emit: (event) => this.#emit(event) }) : null;
  }

  /**
   * Starts the start-up timer and the readers, and hands out the run's handle. The wall time (`timeout_s`)
   * starts when the sandbox says it is ready, not before: spawning and start-up, which a busy machine makes
   * slow, have their own cap ({@linkcode RunOptions.startTimeoutMs}).
   *
   * @returns The handle: stop the run, await its outcome.
   */
  handle(): RunHandle {
    if (this.#warm) this.#takeWarm(this.#warm);
    else {
      const startMs = this.#options.startTimeoutMs ?? START_TIMEOUT_MS;
      this.#timers.push(setTimeout(() => this.#startTimedOut(startMs), startMs));
    }
    return { id: this.#id, pid: this.#process?.pid ?? null, stop: (r) => this.#stop(r), done: this.#done() };
  }

  /**
   * Takes a pooled sandbox: it said `ready` and `prepared` to the pool, so the run starts at once; what it said
   * while preparing is recorded first, and the time its preparing took is recorded apart.
   */
  #takeWarm(warm: WarmSandbox): void {
    this.#conn = warm.conn;
    this.#writer = warm.conn.writable.getWriter();
    this.#ready = true;
    for (const event of warm.early.splice(0)) this.#emit(event);
    warm.record((event) => this.#emit(event));
    this.#emit({
      type: "timing",
      phase: "pool",
      waitedMs: 0,
      startedMs: warm.startedMs,
      preparedMs: warm.preparedMs,
      idleMs: Math.round(performance.now() - warm.readyAt),
      warmed: warm.warmed,
    });
    this.#onReady();
  }

  /** The store cannot be written: the run ends with its error, and the sandbox is stopped at once. */
  #storeFailed(error: IronclawError): void {
    this.#end.decide({
      state: "error",
      output: null,
      error: { code: error.code, message: error.message, hint: error.hint },
    });
    this.#process?.kill();
  }

  #emit(event: RunEvent): void {
    if (this.#queued && event.type === "gate" && event.decision === "allow" && isEffect(event.op)) {
      this.#record.markEffect();
    }
    const stamped = this.#record.append(event);
    try {
      this.#options.onEvent?.(stamped);
    } catch { /* a listener's failure must not end the run */ }
  }

  #send(message: ParentMessage): void {
    this.#writer?.write(encodeMessage(message)).catch(() => {});
  }

  #fail(code: ErrorCode, message: string, hint: string): void {
    this.#end.decide({ state: "error", output: null, error: { code, message, hint } });
  }

  #listen(path: string): ChannelListener | null {
    try {
      return ChannelListener.open(path);
    } catch (e) {
      const error = e as IronclawError;
      this.#fail("ERR_SANDBOX_START", `Cannot start the sandbox: ${error.message}`, error.hint ?? "");
      return null;
    }
  }

  #spawn(argv: string[]): SandboxProcess | null {
    try {
      return SandboxProcess.spawn(argv, this.#policy, {
        denoDir: this.#denoDir,
        ...(this.#options.entry?.seed ? { seed: this.#options.entry.seed } : {}),
      });
    } catch (e) {
      this.#fail(
        "ERR_SANDBOX_START",
        `Cannot start the sandbox: ${(e as Error).message}`,
        "check that Deno is installed",
      );
      return null;
    }
  }

  /** A limit was passed: the run ends by it, the record says which, and the sandbox is killed unless told not. */
  #breach(limit: RunLimit, kill = true): void {
    const { end, event } = limitBreach(this.#policy, limit);
    this.#end.decide(end);
    this.#emit(event);
    if (kill) this.#process?.kill();
  }

  /** The sandbox did not say it was ready in time: a start error, and it is killed. */
  #startTimedOut(startMs: number): void {
    if (this.#ready || !this.#process) return;
    this.#fail(
      "ERR_SANDBOX_START",
      `The sandbox did not start within ${startMs} ms`,
      "the machine may be overloaded: run fewer agents at once, then try again",
    );
    this.#emit({ type: "timing", phase: "start", waitedMs: startMs, ready: false });
    this.#process.kill();
  }

  #stop(reason: string): void {
    if (!this.#process) return;
    const interrupted: Failure = {
      code: "ERR_INTERRUPTED",
      message: `The run was stopped: ${reason}`,
      hint: "",
    };
    if (this.#stopping) {
      this.#emit({ type: "stop", reason: "second signal: killed at once" });
      this.#end.decide({ state: "interrupted", output: null, error: interrupted });
      this.#process.kill();
      return;
    }
    this.#stopping = true;
    this.#emit({ type: "state", state: "stopping", reason });
    this.#end.decide({ state: "interrupted", output: null, error: interrupted });
    this.#send({ v: PROTOCOL_VERSION, type: "stop", reason });
    const graceMs = this.#options.graceMs ?? 2000;
    this.#timers.push(setTimeout(() => {
      this.#emit({ type: "stop", reason: `grace period of ${graceMs} ms over: killed` });
      this.#process?.kill();
    }, graceMs));
  }

  #onMessage(m: ChildMessage): void {
    if (m.type === "prepared") throw new ProtocolError("A prepared message, and no prepare was sent");
    if (m.type === "ready") {
      if (this.#ready) throw new ProtocolError("A second ready message");
      this.#ready = true;
      this.#onReady();
      return;
    }
    if (!this.#ready) {
      throw new ProtocolError(`${m.type === "event" ? "An event" : `A ${m.type}`} before ready`);
    }
    if (m.type === "event") this.#onEvent(m.event);
    else if (m.type === "result") this.#onResult(m);
    else this.#requests.accept(m);
  }

  /** The sandbox is ready: the wall time starts now, and the time it took to get here is recorded apart. */
  #onReady(): void {
    const o = this.#options;
    if (!this.#warm) {
      this.#emit({
        type: "timing",
        phase: "start",
        waitedMs: Math.round(performance.now() - this.#spawnedAt),
      });
    }
    this.#wall.start(this.#limits.wallMs, () => this.#breach("timeout_s"));
    this.#emit({ type: "state", state: "running" });
    this.#writer?.write(this.#startLine).catch(() => {});
    if (o.unsafeDisableGateChecks) {
      this.#emit({ type: "warning", message: "TEST ONLY: the gate's checks are off" });
    }
  }

  #onEvent(e: RunEvent): void {
    const counted = e.type === "stdout" || e.type === "stderr" || e.type === "log";
    const size = typeof e.data === "string"
      ? utf8ByteLength(e.data)
      : typeof e.message === "string"
      ? utf8ByteLength(e.message)
      : 0;
    const over = this.#limits.addOutput(counted ? size : 0);
    this.#emit(e);
    if (over) this.#breach("max_output_kb");
  }

  #onResult(m: ResultMessage): void {
    if (m.output !== null && !this.#limits.resultFits(utf8ByteLength(m.output))) {
      this.#breach("max_output_kb", false);
    } else this.#end.decide({ state: m.state, output: m.output, error: m.error });
    this.#conn?.closeWrite().catch(() => {/* closed */});
  }

  /** Takes the sandbox's connection on the channel and reads the protocol from it; no connection is a crash. */
  async #readChannel(process: SandboxProcess): Promise<void> {
    const conn = this.#warm?.conn ?? await this.#listener!.accept(process.child.status);
    if (conn === null) return;
    this.#conn = conn;
    this.#writer ??= conn.writable.getWriter();
    let bytes = 0;
    try {
      for await (const line of this.#warm?.lines ?? readLines(conn.readable, this.#lineCap)) {
        bytes += utf8ByteLength(line) + 1;
        if (bytes > this.#limits.messageBytes) {
          throw new ProtocolError(
            `The sandbox wrote more than ${this.#limits.messageBytes} bytes of messages`,
          );
        }
        if (line.trim() === "") continue;
        this.#onMessage(parseChildMessage(line));
      }
    } catch (e) {
      if (e instanceof LineTooLongError) return await this.#lineTooLong(e, { process, conn });
      // A reset channel is the sandbox going away (it exited with a message unread): its exit decides the end.
      if (!(e instanceof ProtocolError)) return;
      const message = e.message;
      if (!process.killed) {
        this.#fail(
          "ERR_PROTOCOL",
          `The sandbox broke the protocol: ${message}`,
          "this is a bug in the sandbox or a hostile child",
        );
        this.#emit({ type: "protocol-error", message });
      }
      process.kill();
      await conn.readable.cancel().catch(() => {});
    }
  }

  /** The sandbox sent a line past the run's line cap: a limit, named with what to raise; the sandbox is killed. */
  async #lineTooLong(
    e: LineTooLongError,
    run: { process: SandboxProcess; conn: Deno.UnixConn },
  ): Promise<void> {
    if (!run.process.killed) {
      this.#end.decide({
        state: "error",
        output: null,
        error: { code: e.code, message: e.message, hint: e.hint },
      });
      this.#emit({ type: "limit", limit: "line_bytes", value: e.cap });
    }
    run.process.kill();
    await run.conn.readable.cancel().catch(() => {});
  }

  /** The sandbox's stdout: never protocol, only output some realm of it wrote, recorded and counted as such. */
  async #readStdout(process: SandboxProcess): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of process.child.stdout) {
        const over = this.#limits.addOutput(chunk.length);
        this.#emit({ type: "stdout", data: dec.decode(chunk, { stream: true }), source: "sandbox" });
        if (over) {
          this.#breach("max_output_kb");
          break;
        }
      }
    } catch { /* closed */ }
    await process.child.stdout.cancel().catch(() => {});
  }

  async #readStderr(process: SandboxProcess): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of process.child.stderr) {
        this.#stderrTail = (this.#stderrTail + dec.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
      }
    } catch { /* closed */ }
  }

  /** Waits for the sandbox to exit and its output to be read, then ends the run. */
  async #done(): Promise<RunOutcome> {
    const process = this.#process;
    let guestStdout: (() => string) | null = null;
    if (process) {
      const pipes = this.#options.pipes && readGuestPipes(this.#options.pipes, {
        keep: this.#limits.output,
        onChunk: (stream, data, bytes) => {
          const over = this.#limits.addOutput(bytes);
          this.#emit({ type: stream, data });
          if (over) this.#breach("max_output_kb");
          return !over;
        },
      });
      const [status] = await Promise.all([
        process.child.status,
        this.#readChannel(process),
        this.#readStdout(process),
        this.#readStderr(process),
      ]);
      if (pipes) {
        await pipes.settled();
        guestStdout = pipes.stdout;
      }
      this.#clearTimers();
      await this.#exited(process, status);
    } else {
      this.#clearTimers();
      await this.#mcp?.close();
    }
    try {
      return await this.#close(guestStdout);
    } finally {
      if (!this.#options.store) await this.#store.close();
    }
  }

  #clearTimers(): void {
    this.#wall.stop();
    for (const t of this.#timers) clearTimeout(t);
  }

  /** The sandbox exited: a crash unless an end was decided; its last words and its group go; the cache folder too. */
  async #exited(process: SandboxProcess, status: Deno.CommandStatus): Promise<void> {
    if (!this.#end.value) {
      this.#end.decide(
        crashEnd(status, { stderrTail: this.#stderrTail, memoryMb: this.#policy.limits.memoryMb }),
      );
    }
    if (this.#stderrTail.trim()) this.#emit({ type: "sandbox-stderr", data: this.#stderrTail.slice(-4096) });
    process.killGroup(); // whatever the sandbox started and left behind ends with the run
    this.#listener?.close();
    await Deno.remove(this.#denoDir, { recursive: true }).catch(() => {});
    this.#requests.close();
    await this.#mcp?.close();
    this.#emit({ type: "state", state: "exited", code: status.code, signal: status.signal });
  }

  /** Records the end and closes the record: the end is durable before the outcome is returned. */
  async #close(guestStdout: (() => string) | null): Promise<RunOutcome> {
    let final = { ...this.#end.value! };
    if (guestStdout && final.state === "ok" && final.output === null) final.output = guestStdout();
    const exitCode = EXIT_CODES[final.state];
    const modelUsage = this.#options.model ? this.#options.model.usage() : null;
    if (modelUsage) this.#emit({ type: "model-usage", ...modelUsage });
    this.#emit({ type: "end", state: final.state, output: final.output, error: final.error, exitCode });
    const failure = await this.#record.close(final.state, exitCode);
    if (failure) {
      // The end could not be written: the outcome says so (the record is marked lost once its lease expires).
      const error = { code: failure.code, message: failure.message, hint: failure.hint };
      final = { state: "error", output: null, error };
      return { id: this.#id, ...final, exitCode: EXIT_CODES.error, modelUsage };
    }
    return { id: this.#id, ...final, exitCode, modelUsage };
  }
}
