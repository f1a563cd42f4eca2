/**
 * Wall 1's realm: every guest (a component with its host glue, a WASI
 * module with node:wasi) runs in a Worker of its own, never in the realm that
 * holds the host gate, the secrets and the channel. The Worker is made from
 * the sandbox's own entry (named {@linkcode GUEST_WORKER_NAME}, which makes
 * the entry run `guest_side.ts`) with Deno permissions of its own: none at all
 * for a component, and for a WASI module only its preopened folders and
 * output pipes (node:wasi opens files itself).
 *
 * The guest reaches the gate only by messages: a call that must answer at
 * once (a WASI import, a component import that does not wait) blocks the
 * guest's thread on a `SharedArrayBuffer` with `Atomics.wait` until this side
 * has written the reply into it; a call that may wait is an ordinary message
 * and reply. What the guest sends is checked here; its logs and refusals are
 * rebuilt into events here, so a guest can record nothing else.
 *
 * @module
 */

import { join } from "node:path";
import type { GateReply } from "../gate/mod.ts";
import type { AgentModule } from "../../protocol/protocol.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import type { RunContext } from "../runner.ts";
import type { ErrorCode } from "../../manifests/errors.ts";
import type { WorkerPermissions } from "../../capabilities/worker_permissions.ts";

/** The name a guest Worker is made with; the sandbox entry runs the guest side under it. */
export const GUEST_WORKER_NAME = "ironclaw-guest";

/** The largest reply a synchronous call can carry, in bytes (a file read's cap is well below). */
export const MAX_SYNC_REPLY = 64 * 1024 * 1024;

/** The longest guest log message kept, in characters. */
const MAX_LOG = 64 * 1024;

/** Header of the shared buffer: [state (0 waiting, 1 answered), reply length]. */
const HEADER = 8;

/** What the guest side is told to run. */
export type GuestInit =
  & { sab: SharedArrayBuffer; task: string; policy: RunContext["policy"] }
  & (
    | { kind: "component"; cores: Record<string, Uint8Array>; glue: string; waits: boolean }
    | { kind: "preview1"; wasm: Uint8Array; maxPages: number; stdout: string; stderr: string }
  );

/**
 * What a component's guest Worker made ahead is told first (a pooled sandbox): it imports the glue and
 * compiles the core modules, so the run only instantiates them.
 */
export interface GuestPrepare {
  t: "prepare";
  cores: Record<string, Uint8Array>;
  glue: string;
}

/** What a guest Worker posts. */
export type GuestMessage =
  | { t: "call"; id: number; op: string; args: string; sync: boolean }
  | { t: "log"; level: string; message: string }
  | { t: "refused"; call: string; rule: string }
  | { t: "done"; outcome: GuestOutcome }
  | { t: "prepared" };

let entryUrl: string | null = null;

/**
 * Remembers the sandbox entry's URL, from which guest Workers are made (the
 * entry calls this first; it is the bundle's own file, or a compiled binary's).
 *
 * @param url The entry's `import.meta.url`.
 */
export function setGuestEntry(url: string): void {
  entryUrl = url;
}

/**
 * What a guest Worker must read to load its own code: nothing for the bundle (its chunks load under the
 * process's permissions) or a compiled binary (its code is inside it); the source tree when the entry is
 * the sources (a compiled binary's design, tested from source), whose modules a Worker reads itself.
 */
function codeReads(): string[] {
  if (Deno.build.standalone) return [];
  const url = guestEntry();
  return url.startsWith("file:") && url.endsWith(".ts")
    ? [decodeURIComponent(new URL("..", url).pathname)]
    : [];
}

/**
 * The permissions of a guest Worker with `read` and `write` added to none (and its own code's, see
 * {@linkcode codeReads}).
 *
 * @param grants Paths to read and to write.
 * @returns Every key spelled out.
 */
export function guestPermissions(grants: { read?: string[]; write?: string[] } = {}): GuestPermissions {
  const read = [...codeReads(), ...grants.read ?? []];
  const write = grants.write ?? [];
  return { ...NO_PERMISSIONS, read: read.length ? read : false, write: write.length ? write : false };
}

/**
 * The sandbox entry's URL, from which every guest Worker is made (with the name {@linkcode GUEST_WORKER_NAME}).
 *
 * @returns The URL.
 */
export function guestEntry(): string {
  if (entryUrl === null) throw new Error("unreachable: the sandbox entry did not call setGuestEntry");
  return entryUrl;
}

/**
 * The Deno permissions of a guest Worker: a Worker's permissions with every key spelled out (none inherited),
 * and never network, environment or programs.
 */
export type GuestPermissions = Omit<WorkerPermissions, "net" | "env" | "run"> & {
  net: false;
  env: false;
  run: false;
};

/** No permission at all. */
export const NO_PERMISSIONS: GuestPermissions = {
  read: false,
  write: false,
  net: false,
  env: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
};

/** Options of {@linkcode runGuest}. */
export interface RunGuestOptions {
  /** The guest Worker's permissions; default none. */
  permissions?: GuestPermissions;
  /** A guest Worker made ahead with those permissions ({@linkcode guestWorker}), used instead of a new one. */
  worker?: Worker;
}

/**
 * Makes a guest Worker from the sandbox entry: it loads its code at once and waits for what it is to run.
 *
 * @param permissions Its Deno permissions.
 * @returns The Worker.
 */
export function guestWorker(permissions: GuestPermissions): Worker {
  return new Worker(guestEntry(), { type: "module", name: GUEST_WORKER_NAME, deno: { permissions } });
}

/**
 * Runs one guest in a Worker of its own and answers its gate calls until it
 * is done: the outcome it reports, or an error when its Worker fails.
 *
 * @param context The run: its gate answers the guest's calls, its emit records the guest's logs.
 * @param init What the guest side runs (without the shared buffer, made here).
 * @param options The Worker's permissions.
 * @returns How the guest ended.
 */
export function runGuest(
  context: RunContext,
  init: DistributiveOmit<GuestInit, "sab">,
  options: RunGuestOptions = {},
): Promise<GuestOutcome> {
  const sab = new SharedArrayBuffer(HEADER + 4096, { maxByteLength: HEADER + MAX_SYNC_REPLY });
  const worker = options.worker ?? guestWorker(options.permissions ?? guestPermissions());
  return new Promise<GuestOutcome>((resolve) => {
    const end = (outcome: GuestOutcome) => {
      worker.terminate();
      resolve(outcome);
    };
    worker.onmessage = (e: MessageEvent<GuestMessage>) =>
      onGuestMessage(context, { worker, sab, end }, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      end(failed("ERR_AGENT_TRAP", `The guest's realm failed: ${e.message}`));
    };
    worker.onmessageerror = () => end(failed("ERR_SANDBOX", "The guest sent a message that cannot be read"));
    worker.postMessage({ ...init, sab } as GuestInit);
  });
}

/** `Omit` over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The Worker of one guest, its shared buffer, and how its run ends. */
interface GuestLink {
  worker: Worker;
  sab: SharedArrayBuffer;
  end: (outcome: GuestOutcome) => void;
}

/** Handles one message of a guest: a gate call, a log line, a refusal to record, or its end. */
function onGuestMessage(context: RunContext, link: GuestLink, m: GuestMessage): void {
  if (typeof m !== "object" || m === null) {
    return link.end(failed("ERR_SANDBOX", "The guest broke its protocol"));
  }
  if (m.t === "call") return call(context, link, m);
  if (m.t === "log") {
    const text = String(m.message);
    context.emit({
      type: "log",
      level: String(m.level).slice(0, 16),
      message: text.length > MAX_LOG ? text.slice(0, MAX_LOG) + "..." : text,
    });
    return;
  }
  if (m.t === "refused") {
    context.emit({
      type: "gate",
      op: `wasi.${String(m.call).slice(0, 64)}`,
      decision: "deny",
      rule: String(m.rule).slice(0, 64),
      code: m.rule === "approval" ? "ERR_APPROVAL_DENIED" : "ERR_CAPABILITY_DENIED",
    });
    return;
  }
  if (m.t === "done") return link.end(checkedOutcome(m.outcome));
  link.end(failed("ERR_SANDBOX", "The guest broke its protocol"));
}

/** Answers a gate call: into the shared buffer for a guest that waits on it, else by a message. */
function call(context: RunContext, link: GuestLink, m: Extract<GuestMessage, { t: "call" }>): void {
  const op = String(m.op);
  const args = String(m.args);
  if (m.sync) {
    // A call that waits for a person's approval: the guest's thread stays blocked while this side awaits it.
    if (!context.gate.needsApproval(op, args)) return writeSync(link.sab, context.gate.callSync(op, args));
    context.gate.call(op, args, { sync: true }).then((reply) => writeSync(link.sab, reply));
    return;
  }
  context.gate.call(op, args).then((reply) => link.worker.postMessage({ t: "reply", id: m.id, reply }));
}

/** Writes a reply into the shared buffer and wakes the guest. */
function writeSync(sab: SharedArrayBuffer, reply: GateReply): void {
  let bytes = new TextEncoder().encode(JSON.stringify(reply));
  if (bytes.length > MAX_SYNC_REPLY) {
    bytes = new TextEncoder().encode(JSON.stringify({
      ok: false,
      error: { code: "ERR_LIMIT", message: "The reply is too large", hint: "ask for less at a time" },
    }));
  }
  if (sab.byteLength < HEADER + bytes.length) sab.grow(HEADER + bytes.length);
  new Uint8Array(sab, HEADER, bytes.length).set(bytes);
  const header = new Int32Array(sab, 0, 2);
  header[1] = bytes.length;
  Atomics.store(header, 0, 1);
  Atomics.notify(header, 0);
}

/**
 * Waits for the reply of a synchronous call in the shared buffer (guest side).
 *
 * @param sab The guest's shared buffer.
 * @param post Posts the call, once the buffer is ready for the reply.
 * @returns The reply.
 */
export function waitForReply(sab: SharedArrayBuffer, post: () => void): GateReply {
  const header = new Int32Array(sab, 0, 2);
  Atomics.store(header, 0, 0);
  post();
  Atomics.wait(header, 0, 0);
  const bytes = new Uint8Array(sab, HEADER, header[1]!).slice();
  return JSON.parse(new TextDecoder().decode(bytes)) as GateReply;
}

/** How a guest ended, as far as it may say: ok, its own error, or out of memory. */
function checkedOutcome(o: unknown): GuestOutcome {
  const x = o as GuestOutcome;
  const states = ["ok", "error", "oom"];
  if (typeof x !== "object" || x === null || !states.includes(x.state)) {
    return failed("ERR_SANDBOX", "The guest reported an outcome that is not one");
  }
  const output = typeof x.output === "string" ? x.output : null;
  const error = x.error && typeof x.error === "object"
    ? {
      code: String(x.error.code) as ErrorCode,
      message: String(x.error.message),
      hint: String(x.error.hint ?? ""),
    }
    : null;
  return { state: x.state, output, error };
}

function failed(code: "ERR_SANDBOX" | "ERR_AGENT_TRAP", message: string): GuestOutcome {
  return { state: "error", output: null, error: { code, message, hint: "see the run's events" } };
}

/** The prepared component of a run, as the start message names it. */
type ComponentModule = Extract<AgentModule, { kind: "component" }>;
/** The WASI preview1 module of a run, as the start message names it. */
type Preview1Module = Extract<AgentModule, { kind: "preview1" }>;

/**
 * A guest made ready before its task is known (a pooled sandbox): its module's bytes read and its Worker
 * started with the permissions its run will have.
 */
export type PreparedGuest =
  | { kind: "component"; cores: Record<string, Uint8Array>; glue: string; worker: Worker }
  | { kind: "preview1"; wasm: Uint8Array; worker: Worker };

/**
 * Reads a guest's module and starts its Worker, ahead of the run (see {@linkcode PreparedGuest}).
 *
 * @param module The run's module.
 * @param policy The run's grant (a WASI module's Worker may open its preopened folders).
 * @returns The prepared guest; a preview1 module that cannot be read is left to the run, which says why.
 */
export async function prepareGuest(
  module: AgentModule,
  policy: RunContext["policy"],
): Promise<PreparedGuest | null> {
  if (module.kind === "component") {
    const { cores, glue } = await readComponent(module);
    const worker = guestWorker(guestPermissions());
    worker.postMessage({ t: "prepare", cores, glue } satisfies GuestPrepare);
    if (!await preparedBy(worker)) return null;
    return { kind: "component", cores, glue, worker };
  }
  const wasm = await Deno.readFile(module.path).catch(() => null);
  if (wasm === null) return null;
  return { kind: "preview1", wasm, worker: guestWorker(preview1Permissions(module, policy)) };
}

/** Waits for a guest Worker to say it compiled what it was sent; false (and it is ended) when it failed. */
function preparedBy(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => {
      worker.onmessage = null;
      worker.onerror = null;
      if (!ok) worker.terminate();
      resolve(ok);
    };
    worker.onmessage = (e: MessageEvent<GuestMessage>) => settle(e.data?.t === "prepared");
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      settle(false);
    };
  });
}

/** A component's core modules and its host glue, from its prepared folder. */
async function readComponent(
  module: ComponentModule,
): Promise<{ cores: Record<string, Uint8Array>; glue: string }> {
  const cores: Record<string, Uint8Array> = {};
  for await (const entry of Deno.readDir(module.dir)) {
    if (entry.isFile && entry.name.endsWith(".wasm")) {
      cores[entry.name] = await Deno.readFile(join(module.dir, entry.name));
    }
  }
  return { cores, glue: await Deno.readTextFile(join(module.dir, "agent.js")) };
}

/** A WASI module's Worker permissions: its preopened folders and its two output pipes, nothing else. */
function preview1Permissions(module: Preview1Module, policy: RunContext["policy"]): GuestPermissions {
  const folders = [...new Set([...policy.fs.read, ...policy.fs.write].map((g) => g.path))];
  return guestPermissions({
    read: [...folders, "/dev/null"],
    write: [...folders, module.stdout, module.stderr],
  });
}

/**
 * Runs a prepared component in a guest Worker without permissions: its core
 * modules are read here (or were, by {@linkcode prepareGuest}) and handed over as bytes.
 *
 * @param context The run.
 * @param options The prepared component, and its guest when it was made ready ahead.
 * @returns How the guest ended.
 */
export async function runComponentGuest(
  context: RunContext,
  options: { module: ComponentModule; prepared?: PreparedGuest },
): Promise<GuestOutcome> {
  const ahead = options.prepared?.kind === "component" ? options.prepared : null;
  const { cores, glue } = ahead ?? await readComponent(options.module);
  const { task, policy } = context;
  const { waits } = options.module;
  return await runGuest(
    context,
    { kind: "component", task, policy, glue, cores, waits },
    ahead ? { worker: ahead.worker } : {},
  );
}

/**
 * Runs a WASI preview1 module in a guest Worker whose permissions are its
 * preopened folders and its two output pipes (node:wasi opens files itself),
 * nothing else: no network, no environment, no programs. Its bytes are read here
 * (or were, by {@linkcode prepareGuest}).
 *
 * @param context The run.
 * @param options The module, and its guest when it was made ready ahead.
 * @returns How the guest ended.
 */
export async function runPreview1Guest(
  context: RunContext,
  options: { module: Preview1Module; prepared?: PreparedGuest },
): Promise<GuestOutcome> {
  const { module } = options;
  const ahead = options.prepared?.kind === "preview1" ? options.prepared : null;
  let wasm: Uint8Array;
  try {
    wasm = ahead?.wasm ?? await Deno.readFile(module.path);
  } catch (e) {
    return {
      state: "error",
      output: null,
      error: {
        code: "ERR_MODULE_INVALID",
        message: `The module cannot be loaded: ${(e as Error).message}`,
        hint: "check that it is a WASI preview1 module",
      },
    };
  }
  const { task, policy } = context;
  return await runGuest(context, {
    kind: "preview1",
    task,
    policy,
    wasm,
    maxPages: module.maxPages,
    stdout: module.stdout,
    stderr: module.stderr,
  }, ahead ? { worker: ahead.worker } : { permissions: preview1Permissions(module, policy) });
}
