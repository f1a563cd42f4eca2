/**
 * A CodeAct interpreter (QuickJS or Pyodide) in a guest Worker of its own:
 * the model's code runs in a realm with no Deno permissions (Pyodide's Worker
 * may read Pyodide's own folder, nothing else), so it cannot reach the gate's
 * `fetch`, the secrets, the channel, a plugin's grants or any storage; tools
 * are called by messages and answered here, in the gate's realm.
 *
 * The step deadline holds twice: the interpreter interrupts a step itself,
 * and should it not come back (a loop inside C, an interrupt switched off from
 * Python) this side gives up on it a moment later: the step rejects with
 * {@linkcode StuckStepError} and the run ends, which ends the Worker's thread
 * with the process (Deno 2.9.6's `Worker.terminate()` does not stop a thread
 * busy in a loop, so a session cannot go on beside it). A Worker that fails
 * otherwise is replaced: the next step starts a fresh interpreter, and says so.
 *
 * @module
 */

import { type CodeSession, type CodeSessionOptions, type CodeStepResult, StuckStepError } from "./session.ts";
import {
  GUEST_WORKER_NAME,
  guestEntry,
  type GuestPermissions,
  guestPermissions,
} from "../guests/guest_worker.ts";

/** How long past its deadline a step may take before its Worker is stopped, in milliseconds. */
const DEADLINE_GRACE_MS = 3000;

/** Which interpreter, and where Pyodide's files are. */
export interface SessionWorkerOptions {
  /** The language the model writes. */
  language: "javascript" | "python";
  /** Pyodide's folder (a path or file URL), for Python. */
  indexURL?: string;
  /** A memory snapshot of that Pyodide (a path), restored instead of a cold start; read-only to the Worker. */
  snapshot?: string;
}

/** What the interpreter's Worker is told. */
export interface SessionInit {
  kind: "session";
  language: "javascript" | "python";
  indexURL?: string;
  snapshot?: string;
  toolNames: string[];
  memoryBytes: number;
  stepDeadlineMs: number;
  maxOutputBytes: number;
}

/** What the interpreter's Worker posts. */
export type SessionMessage =
  | { t: "ready"; note?: string }
  | { t: "failed"; message: string }
  | { t: "tool"; id: number; name: string; args: unknown }
  | { t: "step-done"; id: number; result: CodeStepResult };

/**
 * A session factory for the CodeAct loop whose sessions run in guest Workers.
 *
 * @param options The language, and Pyodide's folder.
 * @returns Makes one session per run.
 */
export function workerSessions(
  options: SessionWorkerOptions,
): (session: CodeSessionOptions) => Promise<CodeSession> {
  return async (session) => {
    const s = new WorkerSession(options, session);
    await s.start();
    return s;
  };
}

/** The Worker's permissions: none, but for Python read access to Pyodide's own folder and its snapshot. */
function permissionsOf(options: SessionWorkerOptions): GuestPermissions {
  if (options.language !== "python" || !options.indexURL) return guestPermissions();
  const path = options.indexURL.startsWith("file:") ? new URL(options.indexURL).pathname : options.indexURL;
  return guestPermissions({ read: options.snapshot ? [path, options.snapshot] : [path] });
}

/** One interpreter in its Worker. */
class WorkerSession implements CodeSession {
  readonly #options: SessionWorkerOptions;
  readonly #session: CodeSessionOptions;
  #worker: Worker | null = null;
  #steps = new Map<number, (result: CodeStepResult | Error) => void>();
  #next = 1;
  #lost = false;
  #disposed = false;

  constructor(options: SessionWorkerOptions, session: CodeSessionOptions) {
    this.#options = options;
    this.#session = session;
  }

  /** Starts the Worker and waits until its interpreter is loaded. */
  start(): Promise<void> {
    const worker = new Worker(guestEntry(), {
      type: "module",
      name: GUEST_WORKER_NAME,
      deno: { permissions: permissionsOf(this.#options) },
    });
    this.#worker = worker;
    return new Promise((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<SessionMessage>) => {
        const m = e.data;
        if (m.t === "ready") {
          // The gate's realm records what it prints: a note on the interpreter's start becomes a sandbox-log.
          if (m.note) console.warn(m.note);
          resolve();
        } else if (m.t === "failed") reject(new Error(`The interpreter cannot start: ${m.message}`));
        else if (m.t === "tool") this.#tool(worker, m);
        else if (m.t === "step-done") this.#finish(m.id, m.result);
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        reject(new Error(`The interpreter's realm failed: ${e.message}`));
        this.#stop(`The interpreter's realm failed: ${e.message}`);
      };
      const { tools, memoryBytes, stepDeadlineMs, maxOutputBytes } = this.#session;
      const init: SessionInit = {
        kind: "session",
        language: this.#options.language,
        ...(this.#options.indexURL ? { indexURL: this.#options.indexURL } : {}),
        ...(this.#options.snapshot ? { snapshot: this.#options.snapshot } : {}),
        toolNames: Object.keys(tools),
        memoryBytes,
        stepDeadlineMs,
        maxOutputBytes,
      };
      worker.postMessage(init);
    });
  }

  /** Runs a tool the code called, in this realm, and posts its answer. */
  #tool(worker: Worker, m: Extract<SessionMessage, { t: "tool" }>): void {
    const tool = Object.hasOwn(this.#session.tools, m.name) ? this.#session.tools[m.name] : undefined;
    const answer = tool ? tool(m.args) : Promise.reject(new Error(`No tool "${m.name}"`));
    answer.then(
      (value) => worker.postMessage({ t: "tool-reply", id: m.id, ok: true, value }),
      (e) => worker.postMessage({ t: "tool-reply", id: m.id, ok: false, message: (e as Error).message }),
    );
  }

  #finish(id: number, result: CodeStepResult | Error): void {
    const done = this.#steps.get(id);
    this.#steps.delete(id);
    done?.(result);
  }

  /** Stops the Worker; steps still open end with `error`, or reject with it when it is an Error. */
  #stop(error: string | Error): void {
    this.#worker?.terminate();
    this.#worker = null;
    this.#lost = true;
    for (const [id] of this.#steps) {
      this.#finish(
        id,
        error instanceof Error
          ? error
          : { output: "", error, value: null, timedOut: false, outOfMemory: false },
      );
    }
  }

  async run(code: string): Promise<CodeStepResult> {
    if (this.#disposed) throw new Error("The session is disposed");
    let note = "";
    if (this.#worker === null) {
      await this.start();
      if (this.#lost) note = "[the interpreter was restarted: variables from earlier steps are gone]\n";
    }
    const worker = this.#worker!;
    const id = this.#next++;
    const result = await new Promise<CodeStepResult>((resolve, reject) => {
      const timer = setTimeout(
        () => this.#stop(new StuckStepError(this.#session.stepDeadlineMs)),
        this.#session.stepDeadlineMs + DEADLINE_GRACE_MS,
      );
      this.#steps.set(id, (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else resolve(r);
      });
      worker.postMessage({ t: "step", id, code });
    });
    return note ? { ...result, output: note + result.output } : result;
  }

  dispose(): void {
    this.#disposed = true;
    this.#worker?.terminate();
    this.#worker = null;
  }
}
