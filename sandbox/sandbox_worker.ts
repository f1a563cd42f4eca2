/**
 * Worker mode of the sandbox process (`[runtime] sandbox = "worker"`, and
 * always in a compiled binary, whose permissions are fixed when it is built):
 * the process's main thread only relays protocol messages between its
 * private channel and one Worker, and the agent side (host gate, guest, plugins)
 * runs in that Worker, whose Deno permissions are exactly the Policy's.
 *
 * The Worker is made from the sandbox entry's own module URL, so the same
 * code works from the sources, from the one-file bundle and from a compiled
 * binary; the entry tells the two sides apart with {@linkcode inWorker}.
 *
 * @module
 */

import { toWorkerPermissions } from "../capabilities/worker_permissions.ts";
import {
  type ChildMessage,
  type ParentMessage,
  parseChildMessage,
  parseParentMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type StartMessage,
} from "../protocol/protocol.ts";
import { type Channel, keepWallTime, lineTooLongResult, type WallTimer } from "./channel.ts";
import { LineTooLongError } from "../protocol/line_cap.ts";

/** The argument of the sandbox entry that selects worker mode. */
export const WORKER_MODE_ARG = "--mode=worker";

/**
 * Whether this code runs in a Worker's global scope (the agent side) rather
 * than a process's main thread.
 *
 * @returns True inside a Worker.
 */
export function inWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return typeof scope === "function" && globalThis instanceof scope;
}

/** The message types the agent side may send through the relay (`ready` is the relay's own). */
const RELAYED: ReadonlySet<string> = new Set(["event", "request", "result"]);

/**
 * Checks what the Worker posted before it goes to stdout: one protocol line
 * (a string) holding a child message the agent side may send (an event, a
 * request or a result), by the same rules the supervisor applies to a line.
 * What is written is the message encoded again, never bytes the Worker chose.
 *
 * @param data What the Worker posted.
 * @returns The message.
 * @throws {ProtocolError} When it is not a line, or not a message the agent side may send.
 * @example
 * ```ts
 * import { checkWorkerMessage } from "./sandbox_worker.ts";
 * const m = checkWorkerMessage('{"v":1,"type":"event","event":{"type":"log","message":"hi"}}');
 * if (m.type !== "event") throw new Error();
 * let refused = false;
 * try { checkWorkerMessage('{"v":1,"type":"ready"}'); } catch { refused = true; }
 * if (!refused) throw new Error("ready comes from the relay only");
 * ```
 */
export function checkWorkerMessage(data: unknown): ChildMessage {
  if (typeof data !== "string") throw new ProtocolError("The Worker must post protocol lines (strings)");
  const message = parseChildMessage(data);
  if (!RELAYED.has(message.type)) {
    throw new ProtocolError(`The agent side may not send a "${message.type}" message`);
  }
  return message;
}

/**
 * Runs the main thread of a worker-mode sandbox: says `ready`, and on `start`
 * makes the agent-side Worker from `entry` with {@linkcode toWorkerPermissions}
 * of the start's Policy, passes it the start and every reply, and sends what
 * it posts (checked by {@linkcode checkWorkerMessage}) on the channel. It ends
 * after the result, on `stop`, when the channel closes, at the second
 * wall-time timer, and when the Worker fails or breaks the protocol (then with
 * an `ERR_SANDBOX` result); the Worker is terminated first.
 *
 * @param entry The sandbox entry's own module URL (`import.meta.url`).
 * @param channel The private channel to the supervisor.
 * @returns The exit code for the process: 0, 3 when the parent broke the protocol, 4 at the second timer.
 */
export function relayToWorker(entry: string | URL, channel: Channel): Promise<number> {
  let wall: WallTimer | null = null;
  const send = (message: ChildMessage) => {
    wall?.sent(message);
    channel.send(message);
  };
  return new Promise((resolve) => {
    const relay = new Relay(entry, send, resolve);
    const onStart = (seconds: number) => {
      wall = keepWallTime(channel, { seconds, end: (code) => relay.end(code) });
    };
    relay.read(channel.lines(), onStart, (m) => wall?.received(m)).catch((e) => {
      if (e instanceof LineTooLongError) {
        send(lineTooLongResult(e));
        return relay.end(0);
      }
      send({
        v: PROTOCOL_VERSION,
        type: "event",
        event: { type: "sandbox-error", message: e instanceof Error ? e.message : String(e) },
      });
      relay.end(3);
    });
  });
}

/** One relay of {@linkcode relayToWorker}: the agent-side Worker once started, and whether it has ended. */
class Relay {
  #worker: Worker | null = null;
  #ended = false;
  readonly #entry: string | URL;
  readonly #send: (message: ChildMessage) => void;
  readonly #resolve: (code: number) => void;

  constructor(entry: string | URL, send: (message: ChildMessage) => void, resolve: (code: number) => void) {
    this.#entry = entry;
    this.#send = send;
    this.#resolve = resolve;
  }

  /** Ends the relay once, with the process's exit code; the Worker is terminated first. */
  end(code: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#worker?.terminate();
    this.#resolve(code);
  }

  /** Ends the relay with an `ERR_SANDBOX` result. */
  fail(message: string): void {
    if (this.#ended) return;
    this.#send({
      v: PROTOCOL_VERSION,
      type: "result",
      state: "error",
      output: null,
      error: {
        code: "ERR_SANDBOX",
        message,
        hint: 'see the run\'s events; [runtime] sandbox = "process" runs the agent without a Worker',
      },
    });
    this.end(0);
  }

  /** Makes the Worker with the start's permissions, relays what it posts, and passes it the start. */
  start(message: StartMessage): void {
    let worker: Worker;
    try {
      worker = new Worker(this.#entry, {
        type: "module",
        name: "ironclaw-agent",
        deno: {
          permissions: toWorkerPermissions(message.policy, {
            runtime: message.policy.runtime,
            pinned: message.policy.pinned ?? {},
          }),
        },
      });
    } catch (e) {
      this.fail(`The sandbox cannot start its Worker: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<unknown>) => {
      if (this.#ended) return;
      let out: ChildMessage;
      try {
        out = checkWorkerMessage(e.data);
      } catch (err) {
        this.fail(`The sandbox's Worker broke the protocol: ${(err as Error).message}`);
        return;
      }
      this.#send(out);
      if (out.type === "result") this.end(0);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.fail(`The sandbox's Worker failed: ${e.message}`);
    };
    worker.onmessageerror = () => this.fail("The sandbox's Worker sent a message that cannot be read");
    worker.postMessage(message);
  }

  /** Says `ready`, then reads the parent's messages from the channel until the end; `onStart` gets the start's `timeout_s`. */
  async read(
    lines: AsyncGenerator<string>,
    onStart: (timeoutS: number) => void,
    onMessage: (message: ParentMessage) => void = () => {},
  ): Promise<void> {
    this.#send({ v: PROTOCOL_VERSION, type: "ready" });
    for await (const line of lines) {
      if (this.#ended) return;
      if (line.trim() === "") continue;
      const message = parseParentMessage(line);
      onMessage(message);
      if (message.type === "start") {
        if (this.#worker) throw new ProtocolError("A second start message");
        onStart(message.policy.limits.timeoutS);
        this.start(message);
      } else if (message.type === "prepare") {
        // Worker mode keeps only the started process ready: the agent side's Worker is made at the start,
        // with the start's permissions.
        if (this.#worker) throw new ProtocolError("A prepare message after the start");
        this.#send({ v: PROTOCOL_VERSION, type: "prepared", ms: 0, warmed: [] });
      } else if (message.type === "reply") {
        if (!this.#worker) throw new ProtocolError("A reply before the start message");
        this.#worker.postMessage(message);
      } else if (message.type === "stop") {
        this.#send({
          v: PROTOCOL_VERSION,
          type: "event",
          event: { type: "stopped", reason: message.reason },
        });
        this.end(0);
        return;
      }
    }
    // The supervisor closed the channel (or is gone): nobody is listening any more.
    this.end(0);
  }
}
