/**
 * The interface both CodeAct interpreters (QuickJS for JavaScript, Pyodide for
 * Python) implement, and the CodeAct loop drives.
 *
 * @module
 */

/** What one step of code produced. */
export interface CodeStepResult {
  /** What the code printed (console.log, print, stdout, stderr), cut at `maxOutputBytes` with a "[output truncated]" line. */
  output: string;
  /** The step's uncaught error as "Name: message", or null. */
  error: string | null;
  /** The value of the step's last expression, formatted, or null (none, or an error). */
  value: string | null;
  /** Whether the step was stopped at its deadline. */
  timedOut: boolean;
  /** Whether the step ran out of its memory limit. */
  outOfMemory: boolean;
}

/** What a session is made of. */
export interface CodeSessionOptions {
  /**
   * The tools, by name: each takes the JSON value of its arguments and resolves
   * to a JSON value, or rejects with an Error whose message the code sees.
   */
  tools: Record<string, (args: unknown) => Promise<unknown>>;
  /** The cap on the interpreter's memory, in bytes. */
  memoryBytes: number;
  /** The deadline of one step in milliseconds, awaited tool calls included. */
  stepDeadlineMs: number;
  /** The cap on one step's output, in UTF-8 bytes. */
  maxOutputBytes: number;
}

/** A persistent interpreter of one run: variables live from one step to the next. */
export interface CodeSession {
  /** Runs one step of code; steps run one at a time. */
  run(code: string): Promise<CodeStepResult>;
  /** Releases the interpreter; `run()` rejects afterwards. */
  dispose(): void;
}

/**
 * A step that did not come back at its deadline and whose interpreter cannot
 * be stopped (Deno cannot interrupt a Worker busy in a loop): the run must end,
 * which ends the thread with the process.
 */
export class StuckStepError extends Error {
  /**
   * @param deadlineMs The step's deadline, in milliseconds.
   */
  constructor(deadlineMs: number) {
    super(
      `The step did not stop at its ${deadlineMs / 1000} s deadline, and its interpreter cannot be stopped`,
    );
    this.name = "StuckStepError";
  }
}
