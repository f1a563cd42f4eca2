/**
 * Running a WASI preview1 core module inside the sandbox, with node:wasi.
 * Its preopens are exactly the granted folders (read-only ones wrapped so they
 * stay read-only), its stdout and stderr go to pipes the supervisor reads,
 * and the host gate is reached through the `ironclaw` import module
 * (`docs/abi.md`): `call`, `take` and `log`.
 *
 * @module
 */

import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { WASI } from "node:wasi";
import type { GateReply } from "../gate/mod.ts";
import type { AgentModule, RunEvent } from "../../protocol/protocol.ts";
import { capMemories, WASM_PAGE } from "../../protocol/memory_cap.ts";
import { guardWasi } from "./wasi_guard.ts";
import { preopensOf } from "./preopens.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import type { AgentRunner, GateCalls, GuestContext } from "../runner.ts";
import type { ErrorCode } from "../../manifests/errors.ts";

const LOG_LEVELS = ["debug", "info", "warn", "error"];

/** The prepared preview1 module: its path, memory cap and output pipes. */
export type Preview1Module = Extract<AgentModule, { kind: "preview1" }>;

/** What a preview1 run needs besides the {@linkcode GuestContext}. */
export interface Preview1Options {
  /** The module's path, memory cap and output pipes. */
  module: Preview1Module;
  /** The module's bytes, read by the main thread (a guest's Worker reads no more than its preopens); default read from its path. */
  wasm?: Uint8Array;
}

/**
 * Runs a preview1 module on the context's task (given as its first argument):
 * an {@linkcode AgentRunner} with {@linkcode Preview1Options}.
 *
 * @param context The run: its Policy (the preopens), task, host gate, and where events go.
 * @param options The prepared module.
 * @returns How the guest ended; its output is what it wrote to stdout, collected by the supervisor.
 */
export async function runPreview1(context: GuestContext, options: Preview1Options): Promise<GuestOutcome> {
  const { module } = options;
  let wasm: Uint8Array<ArrayBuffer>;
  try {
    wasm = capMemories(options.wasm ?? await Deno.readFile(module.path), module.maxPages).bytes;
  } catch (e) {
    return fail(
      "ERR_MODULE_INVALID",
      `The module cannot be loaded: ${(e as Error).message}`,
      "check that it is a WASI preview1 module",
    );
  }
  const { preopens, readOnlyFds } = preopensOf(context.policy);
  const stdoutFd = openSync(module.stdout, "w");
  const stderrFd = openSync(module.stderr, "w");
  const stdinFd = openSync("/dev/null", "r");
  // node:wasi announces itself as experimental on stderr once; that line is noise in every run's record.
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  try {
    const wasi = new WASI({
      version: "preview1",
      args: ["agent", context.task],
      env: {},
      preopens,
      stdin: stdinFd,
      stdout: stdoutFd,
      stderr: stderrFd,
      returnOnExit: true,
    });
    return await instantiateAndStart(context, { module, wasm, wasi, readOnlyFds });
  } finally {
    process.emitWarning = emitWarning;
    for (const fd of [stdoutFd, stderrFd, stdinFd]) closeSync(fd);
  }
}

// The one runner shape, checked.
runPreview1 satisfies AgentRunner<Preview1Options>;

/** A loaded module and its WASI, ready to instantiate. */
interface Prepared {
  module: Preview1Module;
  /** The module's bytes, its memories capped. */
  wasm: Uint8Array<ArrayBuffer>;
  wasi: WASI;
  /** The fds of read-only preopens. */
  readOnlyFds: number[];
}

/** Instantiates the module with the guarded WASI imports and `ironclaw`, and runs its `_start`. */
async function instantiateAndStart(context: GuestContext, prepared: Prepared): Promise<GuestOutcome> {
  const { gate, emit } = context;
  const { module, wasm, wasi } = prepared;
  // A preview1 guest writes through WASI itself, past the gate, where no approval can be awaited: when writes
  // need a person's approval, every preopen is read-only (and the guest's `ironclaw` fs.write is asked about).
  const approval = context.policy.approvals.require.some((r) => r.op === "fs.write");
  const readOnlyFds = approval ? [...preopensOf(context.policy).folders.keys()] : prepared.readOnlyFds;
  const guest: { memory?: WebAssembly.Memory } = {};
  const mem = () => {
    if (!guest.memory) throw new WebAssembly.RuntimeError("ironclaw: the module exports no memory");
    return guest.memory;
  };
  const imports = {
    wasi_snapshot_preview1: guardWasi(
      wasi.wasiImport as Record<string, (...a: unknown[]) => unknown>,
      {
        readOnlyFds,
        ...(approval ? { readOnlyRule: "approval" } : {}),
        folders: preopensOf(context.policy).folders,
        allowHardlinks: (context.policy.fs as { hardlinks?: boolean }).hardlinks === true,
        memory: mem,
        onRefused: (call, rule) =>
          emit({
            type: "gate",
            op: `wasi.${call}`,
            decision: "deny",
            rule,
            code: rule === "approval" ? "ERR_APPROVAL_DENIED" : "ERR_CAPABILITY_DENIED",
          }),
      },
    ),
    ironclaw: ironclawImports(gate, mem, emit),
  };
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(await WebAssembly.compile(wasm), imports);
  } catch (e) {
    return fail(
      "ERR_MODULE_INVALID",
      `The module cannot be instantiated: ${(e as Error).message}`,
      "it may import only wasi_snapshot_preview1 and ironclaw",
    );
  }
  const exported = instance.exports.memory;
  if (exported instanceof WebAssembly.Memory) guest.memory = exported;
  let code: number;
  try {
    code = wasi.start(instance) as number;
  } catch (e) {
    return trapOutcome(e, guest.memory, module.maxPages);
  }
  if (code !== 0) return fail("ERR_AGENT", `The agent exited with code ${code}`, "");
  return { state: "ok", output: null, error: null };
}

/** How a module that trapped ended: out of memory when its memory is (nearly) at its cap, else a trap. */
function trapOutcome(e: unknown, memory: WebAssembly.Memory | undefined, maxPages: number): GuestOutcome {
  // A trap with the memory (nearly) at its cap is taken for running out of it: an allocator
  // fails as soon as the next block does not fit, which can be a few pages short of the cap.
  const cap = maxPages * WASM_PAGE;
  const full = memory !== undefined &&
    memory.buffer.byteLength >= cap - Math.max(2 * 1024 * 1024, cap / 8);
  if (full) {
    return {
      state: "oom",
      output: null,
      error: {
        code: "ERR_MEMORY",
        message: `The agent ran out of WebAssembly memory (${maxPages / 16} MiB)`,
        hint: "raise [limits] memory_mb in the manifest",
      },
    };
  }
  return fail("ERR_AGENT_TRAP", `The agent trapped: ${(e as Error).message}`, "");
}

function fail(code: ErrorCode, message: string, hint: string): GuestOutcome {
  return { state: "error", output: null, error: { code, message, hint } };
}

/** The `ironclaw` import module: `call`, `take`, `log` over the guest's memory. */
function ironclawImports(gate: GateCalls, memory: () => WebAssembly.Memory, emit: (e: RunEvent) => void) {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  let pending: Uint8Array | null = null;
  const view = (ptr: number, len: number): Uint8Array => {
    const buffer = memory().buffer;
    if (ptr < 0 || len < 0 || ptr + len > buffer.byteLength) {
      throw new WebAssembly.RuntimeError("ironclaw: a pointer is out of bounds");
    }
    return new Uint8Array(buffer, ptr, len);
  };
  const text = (ptr: number, len: number) => {
    try {
      return decoder.decode(view(ptr, len));
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) throw e;
      throw new WebAssembly.RuntimeError("ironclaw: a string is not valid UTF-8");
    }
  };
  const deliver = (payload: Uint8Array, out: number, cap: number) => {
    if (payload.length <= cap) {
      view(out, payload.length).set(payload);
      pending = null;
    } else {
      pending = payload;
    }
    return payload.length;
  };
  return {
    call(opPtr: number, opLen: number, argsPtr: number, argsLen: number, out: number, cap: number): number {
      const reply: GateReply = gate.callSync(text(opPtr, opLen), text(argsPtr, argsLen));
      if (reply.ok) return deliver(encoder.encode(reply.json), out, cap);
      return -deliver(encoder.encode(JSON.stringify(reply.error)), out, cap) - 1;
    },
    take(out: number, cap: number): number {
      if (pending === null || pending.length > cap) return -1;
      const n = pending.length;
      view(out, n).set(pending);
      pending = null;
      return n;
    },
    log(level: number, ptr: number, len: number): void {
      const message = text(ptr, Math.min(len, 64 * 1024));
      emit({ type: "log", level: LOG_LEVELS[level] ?? "info", message });
    },
  };
}
