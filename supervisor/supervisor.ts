/**
 * The supervisor side of a run: spawns the sandbox process with the Policy's
 * flags and a cleared environment, speaks the protocol with it, keeps the
 * wall-time, output and protocol limits, records every event, and survives
 * anything the child does.
 *
 * @module
 */

import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { join } from "node:path";
import type { Policy } from "../capabilities/policy.ts";
import { SANDBOX_SUBCOMMAND, sandboxCommand, type SandboxMode } from "./sandbox_command.ts";
import { type SandboxEntry, SEED_MARK } from "./assets.ts";
import { RunRecord } from "./records.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import {
  type AgentModule,
  type ChildMessage,
  encodeMessage,
  parseChildMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  readLines,
  type RequestMessage,
  type ResultMessage,
  type SandboxAssets,
  type SecretValue,
} from "../protocol/protocol.ts";
import { newRunId } from "./records.ts";
import { checkCompletionRequest } from "./model_request.ts";
import type { CompletionRequest, CompletionResult } from "../protocol/model_types.ts";

/** How a run ended. */
export type EndState = "ok" | "error" | "timeout" | "oom" | "interrupted";

/** The exit code of `ironclaw run` for each end state. */
export const EXIT_CODES: Readonly<Record<EndState, number>> = Object.freeze({
  ok: 0,
  error: 1,
  timeout: 124,
  oom: 125,
  interrupted: 130,
});

/** The outcome of a run. */
export interface RunOutcome {
  /** The run's id. */
  id: string;
  /** How it ended. */
  state: EndState;
  /** What the agent returned (ok), or null. */
  output: string | null;
  /** Why it did not end ok, or null. */
  error: { code: string; message: string; hint: string } | null;
  /** The exit code `ironclaw run` gives. */
  exitCode: number;
  /** The run's record folder. */
  recordDir: string;
  /** What the model budget was and how much of it the run used, or null for a run without a model. */
  modelUsage: ModelUsageReport | null;
}

/** A run's use of its model budget. */
export interface ModelUsageReport {
  /** Calls made. */
  calls: number;
  /** Prompt tokens. */
  inputTokens: number;
  /** Answer tokens. */
  outputTokens: number;
  /** The manifest's max_calls. */
  maxCalls: number;
  /** The manifest's max_tokens. */
  maxTokens: number;
}

/** Options of {@linkcode startRun}. */
export interface RunOptions {
  /** The task text given to the agent. */
  task: string;
  /** The runtime's state folder: the run's record goes under it. */
  stateDir: string;
  /** The prepared agent module, or null for agents without one. */
  module: AgentModule | null;
  /** Receives each event as it is recorded. */
  onEvent?: (event: RunEvent) => void;
  /** How long a stopping sandbox gets before it is killed, in ms; default 2000. */
  graceMs?: number;
  /** Test-only: turn the gate's checks off to prove the process flags hold alone. */
  unsafeDisableGateChecks?: boolean;
  /** The Deno executable; default this process's. */
  deno?: string;
  /** Overrides the sandbox argv (tests of hostile children use it). */
  command?: string[];
  /** The run's id, when the caller made it (to name per-run files); default a new one. */
  id?: string;
  /** The values of the secrets the Policy grants (read by the supervisor), for the gate to inject at egress. */
  secrets?: SecretValue[];
  /** Each used plugin's own folder for this agent (already granted in the Policy's runtime paths). */
  pluginData?: Record<string, string>;
  /** The model broker of the run (its provider and key stay in this process), for `model.complete`. */
  model?: ModelClient;
  /** Named pipes carrying a WASI guest's stdout and stderr; its stdout becomes the run's output. */
  pipes?: { stdout: string; stderr: string };
  /** The sandbox's entry, already built or fetched (see `ensureSandboxEntry`); default where it would be. */
  entry?: SandboxEntry;
  /** Local folders of interpreter files the sandbox loads (Pyodide's), sent in the start message. */
  assets?: SandboxAssets;
  /** How the sandbox's second wall is built: process flags (default) or a Worker's permissions too. */
  sandboxMode?: SandboxMode;
  /** Test-only, worker mode: the process gets `--allow-all`, to prove the Worker's permissions hold alone. */
  unsafeWidenProcessFlags?: boolean;
}

/** What the supervisor needs of a model broker. */
export interface ModelClient {
  /** One completion, within the run's budgets. */
  complete(request: CompletionRequest, signal: AbortSignal): Promise<CompletionResult>;
  /** What the run has used of its budget. */
  usage(): ModelUsageReport;
}

/** A running sandbox. */
export interface RunHandle {
  /** The run's id. */
  readonly id: string;
  /** The sandbox process's id, or null when it could not start. */
  readonly pid: number | null;
  /** Asks the sandbox to stop, then kills it after the grace period. A second call kills at once. */
  stop(reason: string): void;
  /** Resolves when the run has ended and its record is closed. */
  readonly done: Promise<RunOutcome>;
}

/** Environment of the sandbox: nothing of the supervisor's but where Deno's cache is and the granted variables. */
function sandboxEnv(policy: Policy, denoDir: string): Record<string, string> {
  const env: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", DENO_DIR: denoDir };
  for (const { name } of policy.env) {
    if (name.endsWith("*")) {
      const prefix = name.slice(0, -1);
      for (const [k, v] of Object.entries(Deno.env.toObject())) if (k.startsWith(prefix)) env[k] = v;
    } else {
      const v = Deno.env.get(name);
      if (v !== undefined) env[name] = v;
    }
  }
  return env;
}

/**
 * Starts a sandbox's own Deno cache folder from a copy of the warmed seed (only compiled code, a few MB),
 * so the run does not compile the bundle again; a copy, so nothing a run writes there reaches another.
 */
function seedDenoDir(seed: string, dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const entry of Deno.readDirSync(seed)) {
      if (entry.isFile && entry.name !== SEED_MARK) {
        Deno.copyFileSync(join(seed, entry.name), join(dir, entry.name));
      }
    }
  } catch { /* only a speed-up: the sandbox starts from whatever is there */ }
}

const STDERR_TAIL = 16 * 1024;

/** util-linux's setsid, to give each sandbox its own process group (null where it is missing). */
const SETSID: string | null = ["/usr/bin/setsid", "/bin/setsid"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? null;
/** The most requests a sandbox may have unanswered at once. */
const MAX_OPEN_REQUESTS = 64;

/** Resolves a host name for the sandbox, which has no access to the name server itself. */
async function resolveHost(host: string): Promise<string[]> {
  const out: string[] = [];
  const errors: string[] = [];
  await Promise.all((["A", "AAAA"] as const).map(async (kind) => {
    try {
      out.push(...await Deno.resolveDns(host, kind, { signal: AbortSignal.timeout(5000) }));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }));
  if (out.length === 0) throw new Error(`"${host}" cannot be resolved: ${errors[0] ?? "no address"}`);
  return out;
}

/**
 * Starts a run of an agent in a sandbox process.
 *
 * @param policy The agent's Policy.
 * @param options The task, the state folder, the module and the event sink.
 * @returns A handle to stop the run and await its outcome.
 */
export function startRun(policy: Policy, options: RunOptions): RunHandle {
  const id = options.id ?? newRunId();
  const record = RunRecord.create(options.stateDir, {
    id,
    agent: policy.agent.name,
    manifest: policy.manifestFile,
    task: options.task,
    started: new Date().toISOString(),
  });
  const emit = (event: RunEvent) => {
    const stamped = record.append(event);
    try {
      options.onEvent?.(stamped);
    } catch { /* a listener's failure must not end the run */ }
  };
  // The sandbox gets a Deno cache folder of its own, empty, removed with the run: it runs a bundle that
  // resolves no package, so it needs nothing from the caller's cache, and what Deno keeps there without a
  // permission (CacheStorage, the transpiled plugin code) lives and dies with this run.
  const sandboxDenoDir = join(options.stateDir, "sandbox-cache", id);
  if (options.entry?.seed) seedDenoDir(options.entry.seed, sandboxDenoDir);
  const argv = options.command ?? sandboxCommand(policy, {
    ...(options.deno !== undefined ? { deno: options.deno } : {}),
    ...(options.entry !== undefined ? { entry: options.entry } : {}),
    ...(options.sandboxMode !== undefined ? { mode: options.sandboxMode } : {}),
    ...(options.unsafeWidenProcessFlags ? { unsafeWidenProcessFlags: true } : {}),
  });
  emit({
    type: "run",
    id,
    agent: policy.agent.name,
    kind: policy.agent.kind,
    manifest: policy.manifestFile,
    command: argv,
  });
  emit({ type: "state", state: "created" });

  const outputLimit = policy.limits.maxOutputKb * 1024;
  const eventBytesLimit = Math.max(16 * 1024 * 1024, outputLimit * 8);
  let outcome: Omit<RunOutcome, "id" | "exitCode" | "recordDir" | "modelUsage"> | null = null;
  const finish = (state: EndState, output: string | null, error: RunOutcome["error"]) => {
    outcome ??= { state, output, error };
  };

  let child: Deno.ChildProcess | null = null;
  let stopping = false;
  let killed = false;
  /** Kills the sandbox and, when it leads its own process group, everything it started. */
  const killGroup = () => {
    if (!child) return;
    try {
      if (SETSID) Deno.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  const kill = () => {
    if (killed || !child) return;
    killed = true;
    killGroup();
  };

  emit({ type: "state", state: "starting" });
  try {
    // Under setsid the sandbox leads a new process group, so the programs it runs end with it.
    const spawned = SETSID ? [SETSID, ...argv] : argv;
    child = new Deno.Command(spawned[0]!, {
      args: spawned.slice(1),
      clearEnv: true,
      env: {
        ...sandboxEnv(policy, sandboxDenoDir),
        // A compiled binary takes no --v8-flags on its command line: its heap cap comes from the environment.
        ...(argv[1] === SANDBOX_SUBCOMMAND
          ? { DENO_V8_FLAGS: `--max-old-space-size=${policy.limits.memoryMb}` }
          : {}),
      },
      cwd: policy.baseDir,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    finish("error", null, {
      code: "ERR_SANDBOX_START",
      message: `Cannot start the sandbox: ${(e as Error).message}`,
      hint: "check that Deno is installed",
    });
  }

  const writer = child?.stdin.getWriter();
  const send = (message: Parameters<typeof encodeMessage>[0]) => {
    writer?.write(encodeMessage(message)).catch(() => {});
  };

  const timer = setTimeout(() => {
    finish("timeout", null, {
      code: "ERR_TIMEOUT",
      message: `The run took longer than ${policy.limits.timeoutS} s`,
      hint: "raise [limits] timeout_s in the manifest",
    });
    emit({ type: "limit", limit: "timeout_s", value: policy.limits.timeoutS });
    kill();
  }, policy.limits.timeoutS * 1000);

  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const stop = (reason: string) => {
    if (!child) return;
    if (stopping) {
      emit({ type: "stop", reason: "second signal: killed at once" });
      finish("interrupted", null, {
        code: "ERR_INTERRUPTED",
        message: `The run was stopped: ${reason}`,
        hint: "",
      });
      kill();
      return;
    }
    stopping = true;
    emit({ type: "state", state: "stopping", reason });
    finish("interrupted", null, {
      code: "ERR_INTERRUPTED",
      message: `The run was stopped: ${reason}`,
      hint: "",
    });
    send({ v: PROTOCOL_VERSION, type: "stop", reason });
    graceTimer = setTimeout(() => {
      emit({ type: "stop", reason: `grace period of ${options.graceMs ?? 2000} ms over: killed` });
      kill();
    }, options.graceMs ?? 2000);
  };

  let stderrTail = "";
  const readStderr = async () => {
    if (!child) return;
    const dec = new TextDecoder();
    try {
      for await (const chunk of child.stderr) {
        stderrTail = (stderrTail + dec.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
      }
    } catch { /* closed */ }
  };

  let outputBytes = 0;
  let ready = false;
  const handle = (m: ChildMessage) => {
    switch (m.type) {
      case "ready":
        if (ready) throw new ProtocolError("A second ready message");
        ready = true;
        emit({ type: "state", state: "running" });
        send({
          v: PROTOCOL_VERSION,
          type: "start",
          runId: id,
          task: options.task,
          policy,
          module: options.module,
          gateChecks: !options.unsafeDisableGateChecks,
          pluginData: options.pluginData ?? {},
          secrets: options.secrets ?? [],
          ...(options.assets ? { assets: options.assets } : {}),
        });
        if (options.unsafeDisableGateChecks) {
          emit({ type: "warning", message: "TEST ONLY: the gate's checks are off" });
        }
        return;
      case "event": {
        if (!ready) throw new ProtocolError("An event before ready");
        const e = m.event;
        if (e.type === "stdout" || e.type === "stderr" || e.type === "log") {
          outputBytes += typeof e.data === "string"
            ? e.data.length
            : typeof e.message === "string"
            ? e.message.length
            : 0;
        }
        emit(e);
        if (outputBytes > outputLimit) {
          finish("error", null, outputError(policy));
          emit({ type: "limit", limit: "max_output_kb", value: policy.limits.maxOutputKb });
          kill();
        }
        return;
      }
      case "result":
        if (!ready) throw new ProtocolError("A result before ready");
        onResult(m);
        return;
      case "request":
        if (!ready) throw new ProtocolError("A request before ready");
        if (++openRequests > MAX_OPEN_REQUESTS) {
          throw new ProtocolError(`More than ${MAX_OPEN_REQUESTS} requests at once`);
        }
        answer(m).finally(() => openRequests--);
        return;
    }
  };
  let openRequests = 0;
  const answer = async (m: RequestMessage) => {
    try {
      if (m.op === "dns.resolve" && typeof m.args.host === "string") {
        const addresses = await resolveHost(m.args.host);
        send({ v: PROTOCOL_VERSION, type: "reply", id: m.id, ok: true, result: { addresses } });
      } else if (m.op === "model.complete") {
        send({ v: PROTOCOL_VERSION, type: "reply", id: m.id, ok: true, result: await complete(m.args) });
      } else {
        throw Object.assign(new Error(`Unknown request "${m.op}"`), { code: "ERR_INVALID_ARGS" });
      }
    } catch (e) {
      const err = e as { code?: string; message?: string; hint?: string };
      send({
        v: PROTOCOL_VERSION,
        type: "reply",
        id: m.id,
        ok: false,
        error: {
          code: e instanceof TypeError ? "ERR_INVALID_ARGS" : err.code ?? "ERR_NOT_FOUND",
          message: err.message ?? String(e),
          hint: err.hint ?? "",
        },
      });
    }
  };
  /** Brokers one model call for the sandbox, and records it (tokens, tool calls, a preview of the answer). */
  const modelAbort = new AbortController();
  const complete = async (args: unknown): Promise<CompletionResult> => {
    if (!options.model) {
      throw Object.assign(new Error("The agent has no model access"), {
        code: "ERR_CAPABILITY_DENIED",
        hint: "add a [model] table to the manifest",
      });
    }
    const request = checkCompletionRequest(args);
    const started = performance.now();
    try {
      const result = await options.model.complete(request, modelAbort.signal);
      emit({
        type: "model",
        model: result.model,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
        stopReason: result.stopReason,
        toolCalls: result.message.toolCalls.map((c) => c.name),
        content: result.message.content.length > 2000
          ? result.message.content.slice(0, 2000) + "..."
          : result.message.content,
        durationMs: Math.round(performance.now() - started),
      });
      return result;
    } catch (e) {
      emit({
        type: "model",
        error: (e as { code?: string }).code ?? "ERR_MODEL",
        message: (e as Error).message,
      });
      throw e;
    }
  };
  const onResult = (m: ResultMessage) => {
    if (m.output !== null && m.output.length + outputBytes > outputLimit) {
      finish("error", null, outputError(policy));
      emit({ type: "limit", limit: "max_output_kb", value: policy.limits.maxOutputKb });
    } else {
      finish(m.state, m.output, m.error);
    }
    writer?.close().catch(() => {});
  };

  const readStdout = async () => {
    if (!child) return;
    let bytes = 0;
    try {
      for await (const line of readLines(child.stdout)) {
        bytes += line.length + 1;
        if (bytes > eventBytesLimit) {
          throw new ProtocolError(`The sandbox wrote more than ${eventBytesLimit} bytes of messages`);
        }
        if (line.trim() === "") continue;
        handle(parseChildMessage(line));
      }
    } catch (e) {
      const message = e instanceof ProtocolError
        ? e.message
        : `Reading the sandbox failed: ${(e as Error).message}`;
      if (!killed) {
        finish("error", null, {
          code: "ERR_PROTOCOL",
          message: `The sandbox broke the protocol: ${message}`,
          hint: "this is a bug in the sandbox or a hostile child",
        });
        emit({ type: "protocol-error", message });
      }
      kill();
      await child.stdout.cancel().catch(() => {});
    }
  };

  let guestStdout = "";
  const readPipe = async (path: string, stream: "stdout" | "stderr") => {
    const file = await Deno.open(path, { read: true });
    const dec = new TextDecoder();
    try {
      for await (const chunk of file.readable) {
        const data = dec.decode(chunk, { stream: true });
        outputBytes += chunk.length;
        if (stream === "stdout" && guestStdout.length <= outputLimit) guestStdout += data;
        emit({ type: stream, data });
        if (outputBytes > outputLimit) {
          finish("error", null, outputError(policy));
          emit({ type: "limit", limit: "max_output_kb", value: policy.limits.maxOutputKb });
          kill();
          break;
        }
      }
    } catch { /* closed */ }
  };
  const pipeReaders = options.pipes && child
    ? [readPipe(options.pipes.stdout, "stdout"), readPipe(options.pipes.stderr, "stderr")]
    : [];
  /** A pipe the child never opened keeps its reader waiting: open and close its other end. */
  const releasePipes = () => {
    if (!options.pipes) return;
    for (const path of [options.pipes.stdout, options.pipes.stderr]) {
      try {
        // Non-blocking: fails at once (ENXIO) when no reader waits on this pipe.
        closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
      } catch { /* no reader waits */ }
    }
  };

  const done = (async (): Promise<RunOutcome> => {
    if (child) {
      const [status] = await Promise.all([child.status, readStdout(), readStderr()]);
      if (pipeReaders.length > 0) {
        const settled = Promise.all(pipeReaders);
        let wait: ReturnType<typeof setTimeout> | undefined;
        const late = await Promise.race([
          settled.then(() => false),
          new Promise((r) => wait = setTimeout(() => r(true), 100)),
        ]);
        clearTimeout(wait);
        if (late) releasePipes();
        await settled;
      }
      clearTimeout(timer);
      if (graceTimer !== undefined) clearTimeout(graceTimer);
      if (!outcome) {
        const oom = /out of memory|heap limit|Allocation failed/i.test(stderrTail) ||
          status.signal === "SIGABRT" ||
          status.signal === "SIGTRAP";
        if (oom) {
          finish("oom", null, {
            code: "ERR_MEMORY",
            message: `The sandbox ran out of memory (limit ${policy.limits.memoryMb} MiB)`,
            hint: "raise [limits] memory_mb in the manifest",
          });
        } else {
          finish("error", null, {
            code: "ERR_SANDBOX_CRASHED",
            message: `The sandbox ended without a result (exit code ${status.code}${
              status.signal ? `, signal ${status.signal}` : ""
            })`,
            hint: "see the run's record for the sandbox's last words",
          });
        }
      }
      if (stderrTail.trim()) emit({ type: "sandbox-stderr", data: stderrTail.slice(-4096) });
      killGroup(); // whatever the sandbox started and left behind ends with the run
      await Deno.remove(sandboxDenoDir, { recursive: true }).catch(() => {});
      modelAbort.abort();
      emit({ type: "state", state: "exited", code: status.code, signal: status.signal });
    } else {
      clearTimeout(timer);
    }
    const final = outcome!;
    if (options.pipes && final.state === "ok" && final.output === null) final.output = guestStdout;
    const exitCode = EXIT_CODES[final.state];
    const modelUsage = options.model ? options.model.usage() : null;
    if (modelUsage) emit({ type: "model-usage", ...modelUsage });
    emit({ type: "end", state: final.state, output: final.output, error: final.error, exitCode });
    record.close(final.state, exitCode);
    return { id, ...final, exitCode, recordDir: record.dir, modelUsage };
  })();

  return { id, pid: child?.pid ?? null, stop, done };
}

function outputError(policy: Policy): RunOutcome["error"] {
  return {
    code: "ERR_LIMIT",
    message: `The agent's output passed ${policy.limits.maxOutputKb} KiB`,
    hint: "raise [limits] max_output_kb in the manifest",
  };
}
