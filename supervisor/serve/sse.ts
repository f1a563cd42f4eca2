/**
 * A run's events as a server-sent event stream: one message per event, its
 * `id` the event's `seq`, so a client that reconnects with `Last-Event-ID`
 * gets only the events after the last one it saw. The stream ends after the
 * `end` event; a comment line every so often keeps proxies from closing it.
 *
 * @module
 */

import type { RunStore } from "../store/mod.ts";
import { abortableSleep } from "../store/sqlite.ts";

/** How often the stream looks for new events, in ms. */
const POLL_MS = 200;
/** How often a quiet stream sends a comment, in ms. */
export const HEARTBEAT_MS = 15_000;

/**
 * Rung when this server's worker has written events of any run to the store: the streams waiting for events look in the
 * store now instead of at their next poll (the poll stays, for runs of other workers). Rings within a few
 * ms are one.
 */
export class EventBell {
  #waiters = new Set<() => void>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** Wakes every waiting stream, a few ms from now (with every ring until then). */
  ring(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const w of waiters) w();
    }, 1);
  }

  /**
   * Waits for a ring, at most `ms`, or until the signal aborts.
   *
   * @param ms The longest wait.
   * @param signal Ends the wait.
   */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#waiters.add(done);
    });
  }
}

/** Options of {@linkcode runEventStream}. */
export interface EventStreamOptions {
  /** The run's full id. */
  id: string;
  /** Send only events with a greater `seq` (-1: all). */
  after: number;
  /** The run had ended when the stream was asked for: once no event is left to send, the stream ends. */
  ended: boolean;
  /** Aborted when the client went away or the server stops: the stream ends. */
  signal: AbortSignal;
  /** How often a quiet stream sends a comment, in ms; default {@linkcode HEARTBEAT_MS}. */
  heartbeatMs?: number;
  /** Rung when a run of this server records an event: look now instead of at the next poll. */
  bell?: EventBell;
}

/**
 * A run's events from the store as `text/event-stream` bytes, until its `end` event (or the signal).
 *
 * @param store The store.
 * @param options The run, where to start, the signal.
 * @returns The stream.
 */
export function runEventStream(store: RunStore, options: EventStreamOptions): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  let after = options.after;
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      let quietSince = Date.now();
      try {
        controller.enqueue(enc.encode(": ironclaw run events\nretry: 1000\n\n"));
        while (!signal.aborted) {
          const events = await store.eventsAfter(options.id, after);
          for (const e of events) {
            after = e.seq as number;
            controller.enqueue(enc.encode(`id: ${after}\ndata: ${JSON.stringify(e)}\n\n`));
            if (e.type === "end") return controller.close();
          }
          if (events.length === 0 && options.ended) break; // resumed after the end event: nothing to wait for
          if (events.length > 0) quietSince = Date.now();
          else if (Date.now() - quietSince >= heartbeatMs) {
            controller.enqueue(enc.encode(": heartbeat\n\n"));
            quietSince = Date.now();
          }
          if (events.length > 0) continue;
          if (options.bell) await options.bell.wait(POLL_MS, signal);
          else await abortableSleep(POLL_MS, signal);
        }
        closeQuietly(controller);
      } catch (e) {
        // The client went away (the controller is closed), or the store failed: the stream ends either way.
        if (!signal.aborted) controller.error(e);
        else closeQuietly(controller);
      }
    },
    cancel() {
      stop.abort();
    },
  });
}

/** Closes a stream that the client may have cancelled already. */
function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch { /* cancelled */ }
}
