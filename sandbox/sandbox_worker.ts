/**
 * Worker mode of the sandbox process (`[runtime] sandbox = "worker"`, and
 * always in a compiled binary, whose permissions are fixed when it is built):
 * the process's main thread only relays protocol messages between its
 * stdin/stdout and one Worker, and the agent side (host gate, guest, plugins)
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
  parseChildMessage,
  parseParentMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  readLines,
  type StartMessage,
} from "../protocol/protocol.ts";

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
 * of the start's Policy, passes it the start and every reply, and writes what
 * it posts (checked by {@linkcode checkWorkerMessage}) with `send`. It ends
 * after the result, on `stop`, when stdin closes, and when the Worker fails or
 * breaks the protocol (then with an `ERR_SANDBOX` result); the Worker is
 * terminated first.
 *
 * @param entry The sandbox entry's own module URL (`import.meta.url`).
 * @param send Writes one child message to stdout.
 * @returns The exit code for the process: 0, or 3 when the parent broke the protocol.
 */
export function relayToWorker(entry: string | URL, send: (message: ChildMessage) => void): Promise<number> {
  return new Promise((resolve) => {
    let worker: Worker | null = null;
    let ended = false;
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      worker?.terminate();
      resolve(code);
    };
    const fail = (message: string) => {
      if (ended) return;
      send({
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
      end(0);
    };
    const start = (message: StartMessage) => {
      try {
        worker = new Worker(entry, {
          type: "module",
          name: "ironclaw-agent",
          deno: { permissions: toWorkerPermissions(message.policy) },
        });
      } catch (e) {
        fail(`The sandbox cannot start its Worker: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      worker.onmessage = (e: MessageEvent<unknown>) => {
        if (ended) return;
        let out: ChildMessage;
        try {
          out = checkWorkerMessage(e.data);
        } catch (err) {
          fail(`The sandbox's Worker broke the protocol: ${(err as Error).message}`);
          return;
        }
        send(out);
        if (out.type === "result") end(0);
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        fail(`The sandbox's Worker failed: ${e.message}`);
      };
      worker.onmessageerror = () => fail("The sandbox's Worker sent a message that cannot be read");
      worker.postMessage(message);
    };
    const read = async () => {
      send({ v: PROTOCOL_VERSION, type: "ready" });
      for await (const line of readLines(Deno.stdin.readable)) {
        if (ended) return;
        if (line.trim() === "") continue;
        const message = parseParentMessage(line);
        if (message.type === "start") {
          if (worker) throw new ProtocolError("A second start message");
          start(message);
        } else if (message.type === "reply") {
          if (!worker) throw new ProtocolError("A reply before the start message");
          worker.postMessage(message);
        } else if (message.type === "stop") {
          send({ v: PROTOCOL_VERSION, type: "event", event: { type: "stopped", reason: message.reason } });
          end(0);
          return;
        }
      }
      // The supervisor closed our stdin: nobody is listening any more.
      end(0);
    };
    read().catch((e) => {
      send({
        v: PROTOCOL_VERSION,
        type: "event",
        event: { type: "sandbox-error", message: e instanceof Error ? e.message : String(e) },
      });
      end(3);
    });
  });
}
