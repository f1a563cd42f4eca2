/**
 * The sandbox process's entry: runs inside `deno run --no-prompt --cached-only
 * <policy flags>`, speaks the protocol on stdin/stdout, builds the host gate
 * from the Policy it is sent, and runs the agent's WebAssembly.
 *
 * Nothing but protocol messages reaches stdout: the console is redirected into
 * events before any agent or plugin code loads.
 *
 * @module
 */

import { HostGate } from "./gate.ts";
import type { ToolRunner } from "./plugin_host.ts";
import {
  type ChildMessage,
  encodeMessage,
  parseParentMessage,
  PROTOCOL_VERSION,
  readLines,
  type RunEvent,
  type StartMessage,
} from "./protocol.ts";
import type { GuestOutcome } from "./wasm/outcome.ts";
import type { CodeSession, CodeSessionOptions } from "./codeact/session.ts";
import type { PyodideSessionOptions } from "./codeact/pyodide_session.ts";

const stdout = Deno.stdout;
function send(message: ChildMessage) {
  const bytes = encodeMessage(message);
  let n = 0;
  while (n < bytes.length) n += stdout.writeSync(bytes.subarray(n));
}
const emit = (event: RunEvent) => send({ v: PROTOCOL_VERSION, type: "event", event });

// Whatever prints from now on becomes an event, never a stray line in the protocol.
for (const level of ["log", "info", "debug", "warn", "error"] as const) {
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

/** Pyodide's sessions, loading its files from the folder the supervisor found (the bundle cannot look it up). */
function pyodideWithAssets(
  create: (options: PyodideSessionOptions) => Promise<CodeSession>,
  start: StartMessage,
): (options: CodeSessionOptions) => Promise<CodeSession> {
  const indexURL = start.assets?.pyodide;
  return (options) => create(indexURL ? { ...options, indexURL } : options);
}

async function runAgent(start: StartMessage): Promise<GuestOutcome> {
  const policy = deepFreeze(start.policy);
  let runTool: ToolRunner | undefined;
  const gate = new HostGate(policy, {
    emit,
    checks: start.gateChecks,
    resolveHost,
    complete: (req) => request("model.complete", req),
    tools: (name, input) => runTool!(name, input),
    secrets: start.secrets ?? [],
  });
  if (policy.plugins.length > 0) {
    const { loadPlugins } = await import("./plugin_host.ts");
    runTool = await loadPlugins(policy, gate, emit, start.pluginData ?? {});
  }
  const module = start.module;
  if (module === null && policy.agent.kind === "react") {
    const { runReact } = await import("./loops/react.ts");
    return await runReact(policy, start.task, gate, emit);
  }
  if (module === null && policy.agent.kind === "codeact") {
    const { runCodeAct } = await import("./loops/codeact.ts");
    const makeSession = policy.agent.language === "python"
      ? pyodideWithAssets((await import("./codeact/pyodide_session.ts")).createPyodideSession, start)
      : (await import("./codeact/quickjs_session.ts")).createQuickJsSession;
    return await runCodeAct(policy, start.task, gate, emit, makeSession);
  }
  if (module === null) {
    return {
      state: "error",
      output: null,
      error: {
        code: "ERR_UNSUPPORTED",
        message: `Agents of kind "${policy.agent.kind}" cannot run in this version yet`,
        hint: 'use kind = "wasm" with a component or WASI preview1 module',
      },
    };
  }
  if (module.kind === "component") {
    const { runComponent } = await import("./wasm/component_host.ts");
    return await runComponent(module, start.task, gate, emit);
  }
  const { runPreview1 } = await import("./wasm/preview1_host.ts");
  return await runPreview1(module, start.task, policy, gate, emit);
}

async function main() {
  send({ v: PROTOCOL_VERSION, type: "ready" });
  let started = false;
  for await (const line of readLines(Deno.stdin.readable)) {
    if (line.trim() === "") continue;
    const message = parseParentMessage(line);
    if (message.type === "start") {
      if (started) throw new Error("A second start message");
      started = true;
      // Run without blocking the reader, so a stop message is seen while the agent works.
      runAgent(message).then(
        (outcome) => {
          send({ v: PROTOCOL_VERSION, type: "result", ...outcome });
          Deno.exit(0);
        },
        (e) => {
          send({
            v: PROTOCOL_VERSION,
            type: "result",
            state: "error",
            output: null,
            error: {
              code: "ERR_SANDBOX",
              message: `The sandbox failed: ${e instanceof Error ? e.message : String(e)}`,
              hint: "",
            },
          });
          Deno.exit(0);
        },
      );
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
    } else if (message.type === "stop") {
      emit({ type: "stopped", reason: message.reason });
      Deno.exit(0);
    }
  }
  // The supervisor closed our stdin: nobody is listening any more.
  Deno.exit(0);
}

main().catch((e) => {
  emit({ type: "sandbox-error", message: e instanceof Error ? e.message : String(e) });
  Deno.exit(3);
});
