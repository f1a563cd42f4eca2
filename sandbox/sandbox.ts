/**
 * The sandbox process's entry: runs inside `deno run --no-prompt --cached-only
 * <policy flags>`, speaks the protocol on its private channel (`channel.ts`:
 * a Unix socket only the main thread may open), builds the host gate from the
 * grant it is sent (the Policy narrowed by the supervisor), and runs the agent.
 *
 * With `--mode=worker` (a compiled binary, or `[runtime] sandbox = "worker"`)
 * the process's main thread only relays the protocol, and this same module,
 * loaded again as a Worker with the grant's permissions, is the agent side
 * (see `sandbox_worker.ts`).
 *
 * The main thread's console is redirected into events before any agent or
 * plugin code loads; whatever reaches stdout or stderr is output, never protocol.
 * The main thread also keeps a second wall-time timer, and exits when the
 * supervisor's end of the channel closes.
 *
 * @module
 */

import { HostGate } from "./gate/mod.ts";
import type { ToolRunner } from "./plugin_host.ts";
import {
  type ChildMessage,
  type ParentMessage,
  parseParentMessage,
  type PrepareMessage,
  PROTOCOL_VERSION,
  PYODIDE_SNAPSHOT_ARG,
  type ResultMessage,
  type RunEvent,
  type StartMessage,
} from "../protocol/protocol.ts";
import { inWorker, relayToWorker, WORKER_MODE_ARG } from "./sandbox_worker.ts";
import {
  APPROVAL_REQUEST,
  type Channel,
  channelPathOf,
  keepWallTime,
  lineTooLongResult,
  openChannel,
  type WallTimer,
} from "./channel.ts";
import { GUEST_WORKER_NAME, setGuestEntry } from "./guests/guest_worker.ts";
import type { GuestOutcome } from "../protocol/outcome.ts";
import type { AgentRunner, RunContext } from "./runner.ts";
import { type ReadyRunner, runnerFor, sameRun } from "./runners.ts";
import type { EnforcedGrant } from "../protocol/grant.ts";
import { lineCap, lineCapOf, LineTooLongError } from "../protocol/line_cap.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";

/**
 * What this copy of the module is: the whole sandbox (process mode), the
 * relay on the main thread of worker mode, or the agent side in its Worker.
 */
const ROLE: "process" | "relay" | "agent" | "guest" = inWorker()
  ? ((globalThis as { name?: string }).name === GUEST_WORKER_NAME ? "guest" : "agent")
  : Deno.args.includes(WORKER_MODE_ARG)
  ? "relay"
  : "process";
setGuestEntry(import.meta.url);

/** The channel to the supervisor, once open (the main thread's only). */
let channel: Channel | null = null;
/** The sandbox's own wall-time timer, once the run started (the main thread's only). */
let wall: WallTimer | null = null;

/** Sends a message to the supervisor: on the channel, or from the Worker as one line for the relay to check. */
const send: (message: ChildMessage) => void = ROLE === "agent"
  ? (message) => (globalThis as unknown as Worker).postMessage(JSON.stringify(message))
  : (message) => {
    wall?.sent(message);
    channel?.send(message);
  };
/**
 * What is left of the run's output (log, stdout and stderr events) for this
 * side to send, in UTF-8 bytes (as the supervisor counts): once the run's cap is passed (the supervisor
 * then ends the run), further output is dropped here, so a guest that floods
 * cannot fill the sandbox's memory with messages waiting for the channel.
 */
let outputLeft = Infinity;

const emit = (event: RunEvent) => {
  if (event.type === "log" || event.type === "stdout" || event.type === "stderr") {
    if (outputLeft < 0) return;
    const text = typeof event.message === "string" ? event.message : event.data;
    outputLeft -= typeof text === "string" ? utf8ByteLength(text) : 0;
  }
  send({ v: PROTOCOL_VERSION, type: "event", event });
};

// Whatever the gate's realm prints from now on becomes an event (a guest's realm prints to stdout: output).
for (const level of ROLE === "guest" ? [] : ["log", "info", "debug", "warn", "error"] as const) {
  console[level] = (...args: unknown[]) =>
    emit({
      type: "sandbox-log",
      level,
      message: args.map((a) => (typeof a === "string" ? a : Deno.inspect(a))).join(" "),
    });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Requests to the supervisor awaiting their reply, by id. */
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextRequest = 1;
function request(op: string, args: Record<string, unknown>): Promise<unknown> {
  const id = nextRequest++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ v: PROTOCOL_VERSION, type: "request", id, op, args });
  });
}

async function resolveHost(host: string): Promise<string[]> {
  const result = await request("dns.resolve", { host }) as { addresses: string[] };
  return result.addresses;
}

/** The result of a run whose sandbox itself failed. */
function sandboxFailure(message: string): ResultMessage {
  return {
    v: PROTOCOL_VERSION,
    type: "result",
    state: "error",
    output: null,
    error: { code: "ERR_SANDBOX", message, hint: "" },
  };
}

/** Builds the run's gate (and its plugins), then runs the agent with the runner of its kind. */
async function runAgent(start: StartMessage): Promise<GuestOutcome> {
  const policy = deepFreeze(start.policy);
  outputLeft = policy.limits.maxOutputKb * 1024;
  let runTool: ToolRunner | undefined;
  const gate = new HostGate(policy, {
    emit,
    checks: start.gateChecks,
    resolveHost,
    complete: (req) => request("model.complete", req),
    tools: (name, input) => runTool!(name, input),
    approve: (op, args) => request(APPROVAL_REQUEST, { op, args }),
    secrets: start.secrets ?? [],
  });
  const context: RunContext = { policy, task: start.task, gate, emit };
  if (policy.plugins.length > 0) {
    const { loadPlugins } = await import("./plugin_host.ts");
    const apiFile = start.assets?.pluginApi;
    runTool = await loadPlugins(context, {
      dataDirs: start.pluginData ?? {},
      state: (args) => request("plugin.state", args),
      mcp: (args) => request("mcp.call", args),
      ...(apiFile ? { apiFile } : {}),
    });
  }
  const run = await startRunner(start, policy);
  return await run(context);
}

/** What a `prepare` readied (a pooled sandbox), until the start takes or discards it. */
let prepared: { message: PrepareMessage; runner: Promise<ReadyRunner> } | null = null;

/** Readies the runner a `prepare` describes, then says `prepared`; a failure leaves the run to start cold. */
function prepare(message: PrepareMessage): void {
  if (prepared !== null || started) throw new Error("A prepare message after a prepare or a start");
  const at = performance.now();
  const runner = runnerFor({ ...message, policy: deepFreeze(message.policy) }, { ahead: true });
  prepared = { message, runner };
  runner.then(async (r) => {
    await r.ready;
    send({ v: PROTOCOL_VERSION, type: "prepared", ms: Math.round(performance.now() - at), warmed: r.warmed });
  }).catch((e) => {
    prepared = null;
    emit({ type: "sandbox-log", level: "warn", message: `Preparing ahead failed: ${(e as Error).message}` });
    send({ v: PROTOCOL_VERSION, type: "prepared", ms: Math.round(performance.now() - at), warmed: [] });
  });
}

/** The runner of a start: the prepared one when the start is the run it was prepared for, else a new one. */
async function startRunner(start: StartMessage, policy: EnforcedGrant): Promise<AgentRunner> {
  const ahead = prepared;
  prepared = null;
  const warm = ahead ? await ahead.runner.catch(() => null) : null;
  if (ahead && warm && sameRun(ahead.message, start)) return warm.run;
  warm?.discard();
  return (await runnerFor({ ...start, policy })).run;
}

let started = false;

/**
 * Handles a `start` or `reply` from the supervisor on the agent side; `done`
 * runs once the run's result has been sent.
 */
function onParentMessage(message: ParentMessage, done: () => void): void {
  if (message.type === "start") {
    if (started) throw new Error("A second start message");
    started = true;
    // Run without blocking the reader, so a stop message is seen while the agent works.
    runAgent(message).then(
      (outcome) => {
        send({ v: PROTOCOL_VERSION, type: "result", ...outcome });
        done();
      },
      (e) => {
        send(sandboxFailure(`The sandbox failed: ${e instanceof Error ? e.message : String(e)}`));
        done();
      },
    );
  } else if (message.type === "prepare") {
    prepare(message);
  } else if (message.type === "reply") {
    const waiting = pending.get(message.id);
    if (!waiting) throw new Error(`A reply to request ${message.id}, which is not open`);
    pending.delete(message.id);
    if (message.ok) waiting.resolve(message.result);
    else {
      waiting.reject(Object.assign(new Error(message.error?.message ?? "refused"), {
        code: message.error?.code,
        hint: message.error?.hint ?? "",
      }));
    }
  }
}

/** Exits the process once what was sent is written. */
function leave(code: number): void {
  if (channel) channel.exit(code);
  else Deno.exit(code);
}

async function main() {
  channel = await connect();
  send({ v: PROTOCOL_VERSION, type: "ready" });
  try {
    await readParent(channel);
  } catch (e) {
    if (!(e instanceof LineTooLongError)) throw e;
    send(lineTooLongResult(e));
  }
  // The supervisor closed the channel (or is gone): nobody is listening any more.
  leave(0);
}

/** Reads the supervisor's messages until it closes the channel or says stop. */
async function readParent(channel: Channel): Promise<void> {
  for await (const line of channel.lines()) {
    if (line.trim() === "") continue;
    const message = parseParentMessage(line);
    if (message.type === "stop") {
      emit({ type: "stopped", reason: message.reason });
      return leave(0);
    }
    if (message.type === "start") {
      wall = keepWallTime(channel, { seconds: message.policy.limits.timeoutS, end: leave });
    }
    wall?.received(message);
    onParentMessage(message, () => leave(0));
  }
}

/** Opens the channel named on the command line, or ends the process saying why on stderr. */
async function connect(): Promise<Channel> {
  const path = channelPathOf(Deno.args);
  try {
    if (path === null) throw new Error("no --channel=PATH argument");
    // A sandbox not told its run's cap takes the cap of the smallest limits (still every documented payload).
    const maxLineBytes = lineCapOf(Deno.args) ?? lineCap({ outputBytes: 0 });
    return await openChannel(path, { maxLineBytes });
  } catch (e) {
    Deno.stderr.writeSync(new TextEncoder().encode(
      `ironclaw sandbox: cannot open the channel to the supervisor: ${(e as Error).message}\n`,
    ));
    Deno.exit(3);
  }
}

/**
 * The agent side of worker mode: the relay posts the start and the replies;
 * the relay ends the run after the result, so nothing here exits. A Worker that
 * would end without a result (Deno.exit or close from code it loaded) says so
 * first, or the relay would wait for the wall-time limit.
 */
function agentSide() {
  const scope = globalThis as unknown as { close(): void; onmessage: ((e: MessageEvent) => void) | null };
  const exit = Deno.exit;
  const close = scope.close.bind(scope);
  Deno.exit = (code?: number): never => {
    send(sandboxFailure(`The sandbox's code called Deno.exit(${code ?? 0}) in its Worker`));
    return exit(code);
  };
  scope.close = () => {
    send(sandboxFailure("The sandbox's code closed its Worker"));
    close();
  };
  scope.onmessage = (e: MessageEvent<ParentMessage>) => onParentMessage(e.data, () => {});
}

/**
 * The snapshot maker (`--make-pyodide-snapshot=FILE --pyodide=DIR`): starts Pyodide from its folder, writes a
 * memory snapshot of it, and exits. No channel, no agent: the supervisor runs it once per Pyodide version.
 */
async function makeSnapshot(file: string): Promise<never> {
  const folder = Deno.args.find((a) => a.startsWith("--pyodide="))?.slice("--pyodide=".length);
  const { makePyodideSnapshot } = await import("./codeact/pyodide_session.ts");
  await Deno.writeFile(file, await makePyodideSnapshot(folder ? { indexURL: folder } : {}), { mode: 0o600 });
  Deno.exit(0);
}

const snapshotFile = Deno.args.find((a) => a.startsWith(PYODIDE_SNAPSHOT_ARG))?.slice(
  PYODIDE_SNAPSHOT_ARG.length,
);

if (ROLE === "process" && snapshotFile) await makeSnapshot(snapshotFile);
else if (ROLE === "guest") (await import("./guests/guest_side.ts")).guestMain();
else if (ROLE === "agent") agentSide();
else if (ROLE === "relay") {
  channel = await connect();
  const code = await relayToWorker(import.meta.url, channel);
  await channel.exit(code);
} else {
  main().catch((e) => {
    emit({ type: "sandbox-error", message: e instanceof Error ? e.message : String(e) });
    leave(3);
  });
}
