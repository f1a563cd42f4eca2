/**
 * The sandbox's end of its private channel to the supervisor: a Unix socket
 * the supervisor listens on, named by the `--channel=PATH` argument, that only
 * the sandbox's main thread may connect to (the process flags grant that one
 * path; guest Workers have no permissions at all). The protocol travels here
 * and nowhere else: stdout and stderr, which any realm of the process can
 * write, are only ever the guests' output to the supervisor.
 *
 * The supervisor takes the first connection and stops listening, so nothing
 * started later in the process can join; when the supervisor goes away (even
 * killed), the socket closes, the sandbox reads the end of the channel and
 * exits.
 *
 * @module
 */

import {
  CHANNEL_ARG,
  type ChildMessage,
  encodeMessage,
  MAX_LINE_BYTES,
  type ParentMessage,
  PROTOCOL_VERSION,
  readLines,
  type ResultMessage,
} from "../protocol/protocol.ts";
import type { LineTooLongError } from "../protocol/line_cap.ts";

/** An open channel: send messages, read lines, leave once what was sent is written. */
export interface Channel {
  /**
   * Queues one message; messages are written in order. Events wait up to {@linkcode BATCH_MS} (or until
   * {@linkcode BATCH_BYTES} wait) to be written together; any other message (a request, the result) is written
   * at once, after every event sent before it.
   */
  send(message: ChildMessage): void;
  /** The supervisor's lines, until it closes its end. */
  lines(): AsyncGenerator<string>;
  /** Writes what is queued (as far as the socket takes it), then exits the process with `code`. */
  exit(code: number): Promise<never>;
}

/**
 * The lines of `source`, without ending it when the reader stops early: a
 * reader that leaves its loop (on `stop`) would otherwise cancel the socket's
 * stream, which closes the socket before what was sent is written.
 */
async function* linesKeepingOpen(source: AsyncGenerator<string>): AsyncGenerator<string> {
  for (;;) {
    const next = await source.next();
    if (next.done) return;
    yield next.value;
  }
}

/**
 * The result of a run whose supervisor sent a line past the run's line cap: the limit, named, with what to
 * raise, in place of a crash.
 *
 * @param e The error of the channel's reader.
 * @returns The result to send.
 */
export function lineTooLongResult(e: LineTooLongError): ResultMessage {
  return {
    v: PROTOCOL_VERSION,
    type: "result",
    state: "error",
    output: null,
    error: { code: e.code, message: e.message, hint: e.hint },
  };
}

/**
 * The socket path given on the command line.
 *
 * @param args The process's arguments.
 * @returns The path, or null when none was given.
 */
export function channelPathOf(args: readonly string[]): string | null {
  const arg = args.find((a) => a.startsWith(CHANNEL_ARG));
  return arg ? arg.slice(CHANNEL_ARG.length) : null;
}

/** Options of {@linkcode openChannel}. */
export interface OpenChannelOptions {
  /** The longest line read from the supervisor: the run's line cap (`--max-line=N`); default `MAX_LINE_BYTES`. */
  maxLineBytes?: number;
}

/**
 * How long an event may wait to be written with the ones after it, in milliseconds: a guest's gate calls
 * (each recorded as an event) then cost one socket write per batch instead of one each.
 */
export const BATCH_MS = 2;

/** Events waiting reach this many bytes: they are written at once. */
export const BATCH_BYTES = 64 * 1024;

/**
 * Connects to the supervisor's socket.
 *
 * @param path The socket's path.
 * @param options The run's line cap.
 * @returns The channel.
 */
export async function openChannel(path: string, options: OpenChannelOptions = {}): Promise<Channel> {
  const conn = await Deno.connect({ transport: "unix", path });
  const writer = conn.writable.getWriter();
  let written: Promise<void> = Promise.resolve();
  let broken = false;
  /** Bytes handed to the socket and not yet written. */
  let queued = 0;
  /** Encoded messages not yet handed to the socket, in order, and their size. */
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0) return;
    const bytes = batch.length === 1 ? batch[0]! : concat(batch, batchBytes);
    batch = [];
    batchBytes = 0;
    if (broken) return;
    queued += bytes.length;
    written = writer.write(bytes).then(
      () => void (queued -= bytes.length),
      () => void (broken = true),
    );
  };
  return {
    send(message) {
      if (broken) return;
      const bytes = encodeMessage(message);
      batch.push(bytes);
      batchBytes += bytes.length;
      if (message.type !== "event" || batchBytes >= BATCH_BYTES) flush();
      else timer ??= setTimeout(flush, BATCH_MS);
    },
    lines: () => linesKeepingOpen(readLines(conn.readable, options.maxLineBytes ?? MAX_LINE_BYTES)),
    async exit(code) {
      flush();
      // Never wait long: a supervisor that stopped reading must not keep the sandbox alive. A large last
      // message (a result of many MiB) gets a second more for each MiB still queued, as a busy supervisor
      // reads it; a supervisor that is gone closes the socket, which ends the wait at once.
      const waitMs = 1000 + Math.ceil(queued / (1024 * 1024)) * 1000;
      await Promise.race([written, new Promise((r) => setTimeout(r, waitMs))]);
      Deno.exit(code);
    },
  };
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return all;
}

/** The exit code of a sandbox that ended itself at its own wall-time timer. */
export const WALL_TIME_EXIT = 4;

/** The request a sandbox sends while a gate call waits for a person's decision: its wall time pauses. */
export const APPROVAL_REQUEST = "approval.request";

/** The sandbox's own wall-time timer: see {@linkcode keepWallTime}. */
export interface WallTimer {
  /**
   * Sees a message this side sends: an approval request pauses the timer.
   *
   * @param message The message.
   */
  sent(message: ChildMessage): void;
  /**
   * Sees a message the supervisor sent: the last approval request's reply resumes the timer.
   *
   * @param message The message.
   */
  received(message: ParentMessage): void;
}

/**
 * The sandbox's second wall-time timer, beside the supervisor's: should the
 * supervisor be unable to end the sandbox (gone, or stuck), the sandbox says
 * so on the channel and ends itself two seconds after the run's wall time.
 * Like the supervisor's, it pauses while a gate call waits for a person's
 * approval (each such wait is capped by the supervisor at `[approvals] timeout_s`).
 *
 * @param channel The channel to the supervisor.
 * @param options The run's `timeout_s`, and how this side ends (with {@linkcode WALL_TIME_EXIT}).
 * @returns The timer: show it what is sent and received.
 */
export function keepWallTime(
  channel: Channel,
  options: { seconds: number; end: (code: number) => void },
): WallTimer {
  const { seconds, end } = options;
  const fire = () => {
    channel.send({
      v: PROTOCOL_VERSION,
      type: "event",
      event: {
        type: "sandbox-error",
        message: `The sandbox ended itself after ${seconds} s (its own wall-time timer)`,
      },
    });
    end(WALL_TIME_EXIT);
  };
  let left = seconds * 1000 + 2000;
  let since = performance.now();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = () => {
    since = performance.now();
    const t = setTimeout(fire, left);
    Deno.unrefTimer(t);
    timer = t;
  };
  arm();
  const waiting = new Set<number>();
  return {
    sent(message) {
      if (message.type !== "request" || message.op !== APPROVAL_REQUEST) return;
      if (waiting.size === 0 && timer !== null) {
        clearTimeout(timer);
        timer = null;
        left -= performance.now() - since;
      }
      waiting.add(message.id);
    },
    received(message) {
      if (message.type !== "reply" || !waiting.delete(message.id)) return;
      if (waiting.size === 0) arm();
    },
  };
}
