/**
 * Reading a WASI guest's stdout and stderr from the named pipes the run made
 * for them: each chunk is recorded and counted against the output limit, and
 * the guest's stdout becomes the run's output.
 *
 * @module
 */

/** The named pipes of a WASI guest's output. */
export interface GuestPipes {
  /** Its stdout. */
  stdout: string;
  /** Its stderr. */
  stderr: string;
}

/** Options of {@linkcode readGuestPipes}. */
export interface ReadPipesOptions {
  /** Told of each chunk; returns false to stop reading (a limit was passed). */
  onChunk(stream: "stdout" | "stderr", data: string, bytes: number): boolean;
  /** The most characters of stdout kept for the run's output. */
  keep: number;
}

/** The readers of a guest's pipes. */
export interface PipeReaders {
  /** Waits until both pipes are read to their end, releasing a pipe the guest never opened. */
  settled(): Promise<void>;
  /** What the guest wrote on stdout (up to about the output limit). */
  stdout(): string;
}

/**
 * Reads both pipes until they close.
 *
 * @param pipes The two pipes.
 * @param options Where each chunk goes, and how much stdout to keep.
 * @returns The readers.
 */
export function readGuestPipes(pipes: GuestPipes, options: ReadPipesOptions): PipeReaders {
  let stdout = "";
  const read = async (path: string, stream: "stdout" | "stderr") => {
    const file = await Deno.open(path, { read: true });
    const dec = new TextDecoder();
    try {
      for await (const chunk of file.readable) {
        const data = dec.decode(chunk, { stream: true });
        if (stream === "stdout" && stdout.length <= options.keep) stdout += data;
        if (!options.onChunk(stream, data, chunk.length)) break;
      }
    } catch { /* closed */ }
  };
  const readers = Promise.all([read(pipes.stdout, "stdout"), read(pipes.stderr, "stderr")]);
  return {
    async settled() {
      let wait: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([
        readers.then(() => false),
        new Promise((r) => wait = setTimeout(() => r(true), 100)),
      ]);
      clearTimeout(wait);
      if (late) await releasePipes(pipes);
      await readers;
    },
    stdout: () => stdout,
  };
}

/**
 * A pipe the child never opened keeps its reader waiting: open and close its other end. `node:fs` (for a
 * non-blocking open) is loaded only here: loading it costs every run some tens of ms of CPU.
 */
async function releasePipes(pipes: GuestPipes): Promise<void> {
  const { closeSync, constants: fsConstants, openSync } = await import("node:fs");
  for (const path of [pipes.stdout, pipes.stderr]) {
    try {
      // Non-blocking: fails at once (ENXIO) when no reader waits on this pipe.
      closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch { /* no reader waits */ }
  }
}
