/**
 * The writer of one run: stamps events with `seq` and `ms`, buffers them and
 * writes them in batches (one transaction per batch, on a short timer or when
 * the buffer is large), renews the run's lease while it lives, and writes the
 * last batch with the end at once, so the end is durable before the run
 * reports its outcome. No timer callback throws: a failure of the store is
 * handed to `onError` once, and the writer writes nothing more.
 *
 * @module
 */

import type { IronclawError } from "../../manifests/errors.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import { currentOwner } from "./owner.ts";
import { storeError } from "./sqlite.ts";
import type { NewRun, RunLease, RunStore } from "./store.ts";

/** How long an event may wait in the buffer, in ms. */
export const FLUSH_MS = 25;
/** A buffer of this many events is written at once. */
export const FLUSH_EVENTS = 256;
/** How often a live run renews its lease, in ms. */
export const RENEW_MS = 5_000;
/** How long a lease lasts without renewal, in ms: past it, the run is `lost`. */
export const LEASE_MS = 30_000;

/** Options of the {@linkcode RunWriter}. */
export interface RunWriterOptions {
  /** Called once, with an `ERR_STORE` or `ERR_LOST`, when a write fails; the writer then drops what follows. */
  onError: (error: IronclawError) => void;
  /** The `seq` of the first event: a claimed run's `firstSeq` (its earlier attempts keep theirs); default 0. */
  firstSeq?: number;
  /** Told after each write of events (a batch, or the end) is durable. */
  onWritten?: () => void;
}

/** The writer of one run's record. */
export class RunWriter {
  readonly #store: RunStore;
  readonly #lease: RunLease;
  readonly #onError: (error: IronclawError) => void;
  readonly #onWritten: (() => void) | undefined;
  readonly #started = performance.now();
  #seq: number;
  #effect = false;
  #buffer: RunEvent[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #renewTimer: ReturnType<typeof setInterval> | undefined;
  /** The writes in flight, in order. */
  #chain: Promise<void> = Promise.resolve();
  #failed: IronclawError | null = null;
  #closed = false;

  /**
   * The writer of a run already created in the store.
   *
   * @param store The store.
   * @param lease The run's lease, from `createRun`.
   * @param options Where failures go.
   */
  constructor(store: RunStore, lease: RunLease, options: RunWriterOptions) {
    this.#store = store;
    this.#onWritten = options.onWritten;
    this.#lease = lease;
    this.#onError = options.onError;
    this.#seq = options.firstSeq ?? 0;
    this.#renewTimer = setInterval(
      () => this.#write(() => this.#store.renewLease(lease, LEASE_MS)),
      RENEW_MS,
    );
    Deno.unrefTimer(this.#renewTimer);
  }

  /**
   * Creates the run in the store, held by this process.
   *
   * @param store The store.
   * @param run What is known at the start.
   * @returns The run's lease, for the writer.
   * @throws {IronclawError} `ERR_RUN_EXISTS` when the id is taken, `ERR_STORE` when the store cannot be written.
   */
  static createRun(store: RunStore, run: NewRun): Promise<RunLease> {
    return store.createRun(run, { owner: currentOwner(), leaseMs: LEASE_MS });
  }

  /**
   * Records, once and ahead of the events in the buffer, that the run made an allowed side effect: a queued run
   * that made one is never started again.
   */
  markEffect(): void {
    if (this.#effect || this.#closed) return;
    this.#effect = true;
    this.#write(() => this.#store.markEffect(this.#lease));
  }

  /** The store's failure, or null while there is none. */
  get failure(): IronclawError | null {
    return this.#failed;
  }

  /**
   * Stamps an event with its sequence number and milliseconds since the start, and buffers it.
   *
   * @param event The event.
   * @returns The event as it is written.
   */
  append(event: RunEvent): RunEvent {
    // The stamps come first and cannot be overwritten by an event's own fields (the sandbox is not trusted).
    const seq = this.#seq++;
    const ms = Math.round((performance.now() - this.#started) * 10) / 10;
    const stamped = Object.assign({ seq, ms, ...event }, { seq, ms });
    if (this.#closed || this.#failed) return stamped;
    this.#buffer.push(stamped);
    if (this.#buffer.length >= FLUSH_EVENTS) this.#flush();
    else this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
    return stamped;
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#buffer;
    this.#buffer = [];
    if (batch.length > 0) this.#write(() => this.#store.appendEvents(this.#lease, batch));
  }

  /** Queues a write after those in flight; its failure goes to `onError`, never out of a timer. */
  #write(op: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      try {
        await op();
      } catch (e) {
        return this.#fail(e);
      }
      try {
        this.#onWritten?.();
      } catch { /* a listener's failure changes nothing */ }
    });
    return this.#chain;
  }

  #fail(e: unknown): void {
    if (this.#failed) return;
    this.#failed = storeError(e, "run store");
    clearInterval(this.#renewTimer);
    try {
      this.#onError(this.#failed);
    } catch { /* a listener's failure changes nothing */ }
  }

  /**
   * Writes what is buffered and the end in one transaction, and stops the timers.
   *
   * @param state The end state.
   * @param exitCode Its exit code.
   * @returns The store's failure, or null when the end is durable.
   */
  async close(state: string, exitCode: number): Promise<IronclawError | null> {
    if (this.#closed) return this.#failed;
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    clearInterval(this.#renewTimer);
    const events = this.#buffer;
    this.#buffer = [];
    await this.#write(() => this.#store.closeRun(this.#lease, { state, exitCode, events }));
    return this.#failed;
  }
}
