/**
 * A progress line on standard error for the CLI's slow steps (building a
 * component, its first transpile, starting Pyodide), so nobody stares at
 * silent seconds. One line, rewritten in place with a carriage return: a
 * spinner, the label, and the elapsed time once it passes a second. It is
 * cleared with spaces (no cursor escapes), so the terminal is left as it was.
 *
 * Show it only to a person: {@linkcode progressEnabled} says whether standard
 * error is a terminal and the output is not `--json`. Library code never
 * prints: it reports phases through callbacks, and the CLI turns them into
 * progress lines.
 *
 * ```ts
 * import { progressEnabled, startProgress } from "./_progress.ts";
 * const progress = startProgress("building agent.js", { enabled: progressEnabled({ json: false }) });
 * try {
 *   // ... the slow step
 * } finally {
 *   progress.stop();
 * }
 * ```
 *
 * @module
 */

/** Options of {@linkcode startProgress}. */
export interface ProgressOptions {
  /** Whether to show anything; false makes the progress a no-op. See {@linkcode progressEnabled}. */
  enabled: boolean;
  /** Where to write; default standard error. */
  write?: (text: string) => void;
  /** Whether to use a Unicode spinner and dim text; default unless `NO_COLOR` is set. */
  color?: boolean;
  /** Milliseconds before the line first shows, so that a quick step prints nothing; default 0. */
  delayMs?: number;
  /** Milliseconds between redraws; default 100. */
  intervalMs?: number;
  /** The terminal's width, to keep the line on one row; default the console's, else 80. */
  columns?: number;
}

/** A progress line being shown; see {@linkcode startProgress}. */
export interface Progress {
  /**
   * Clears the line and stops redrawing it. Calling it again does nothing.
   *
   * @param final A line to write in its place (a newline is added), only when the progress was enabled.
   */
  stop(final?: string): void;
}

const UNICODE_FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const ASCII_FRAMES = ["|", "/", "-", "\\"];

/**
 * Whether a progress line should show: standard error is a terminal and the output is not JSON.
 *
 * @param options `json`: whether the command prints JSON (then never).
 * @returns True when a person is watching standard error.
 * @example
 * ```ts
 * import { progressEnabled } from "./_progress.ts";
 * if (progressEnabled({ json: true })) throw new Error("never with --json");
 * ```
 */
export function progressEnabled(options: { json?: boolean } = {}): boolean {
  if (options.json) return false;
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

function stderrWriter(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let n = 0;
  while (n < bytes.length) n += Deno.stderr.writeSync(bytes.subarray(n));
}

function consoleColumns(): number {
  try {
    // A terminal of unknown size (a pseudo-terminal nobody sized) says 0.
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/**
 * Starts a progress line: `⠋ label 2.1 s`, redrawn until {@linkcode Progress.stop}.
 * Its timers never keep the process alive.
 *
 * @param label What is happening, such as `"building agent.js"`.
 * @param options Whether to show it (required), and where and how.
 * @returns The progress, to stop when the step is over (also when it failed).
 * @example
 * ```ts
 * import { startProgress } from "./_progress.ts";
 * let written = "";
 * const progress = startProgress("transpiling", { enabled: true, write: (s) => written += s });
 * progress.stop("transpiled");
 * if (!written.includes("transpiling") || !written.endsWith("transpiled\n")) throw new Error(written);
 * ```
 */
export function startProgress(label: string, options: ProgressOptions): Progress {
  if (!options.enabled) return { stop() {} };
  const write = options.write ?? stderrWriter;
  const color = options.color ?? !Deno.noColor;
  const frames = color ? UNICODE_FRAMES : ASCII_FRAMES;
  const columns = Math.max(20, options.columns ?? consoleColumns());
  const started = performance.now();
  let frame = 0;
  let shown = 0; // characters of the line on screen
  let interval: ReturnType<typeof setInterval> | undefined;
  let stopped = false;

  const draw = () => {
    const seconds = (performance.now() - started) / 1000;
    const elapsed = seconds >= 1 ? ` ${seconds.toFixed(1)} s` : "";
    let text = `${frames[frame++ % frames.length]} ${label}${elapsed}`;
    if (text.length > columns - 1) text = text.slice(0, columns - 2) + "…";
    const pad = " ".repeat(Math.max(0, shown - text.length));
    write(`\r${color ? `\x1b[2m${text}\x1b[22m` : text}${pad}`);
    shown = text.length;
  };
  const begin = () => {
    if (stopped) return;
    draw();
    const id = setInterval(draw, options.intervalMs ?? 100);
    Deno.unrefTimer(id);
    interval = id;
  };
  const delay = options.delayMs ?? 0;
  let timeout: ReturnType<typeof setTimeout> | undefined;
  if (delay > 0) {
    const id = setTimeout(begin, delay);
    Deno.unrefTimer(id);
    timeout = id;
  } else {
    begin();
  }

  return {
    stop(final?: string) {
      if (stopped) return;
      stopped = true;
      clearTimeout(timeout);
      clearInterval(interval);
      if (shown > 0) write(`\r${" ".repeat(shown)}\r`);
      if (final !== undefined) write(`${final}\n`);
    },
  };
}
