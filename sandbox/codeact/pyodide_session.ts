/**
 * The Python engine of the CodeAct loop: one Pyodide interpreter per session,
 * running the model's code step by step inside the sandbox process.
 *
 * **The boundary is the realm, not Python.** Python in Pyodide reaches the
 * whole JavaScript global scope of the realm it runs in (`import js;
 * js.Deno.readTextFileSync(...)`, `pyodide.code.run_js`, `import pyodide_js`),
 * so whatever that realm's Deno permissions allow, the model's Python code can
 * do. No attempt is made to build a Python-level sandbox: every handle to
 * JavaScript could be rebuilt from another, so removing some would only look
 * like a wall. In a run, the session lives in a guest Worker of its own
 * (`session_worker.ts`) whose only permission is reading
 * {@linkcode pyodideAssetsDir}: that Worker is the wall (and the process's
 * flags behind it), and `tests/python_realm_test.ts` attacks it from Python.
 *
 * Limits, and how far each one holds:
 * - **Step deadline**: Pyodide polls its "interrupt buffer" from JavaScript
 *   (`buffer[0]`) every few hundred bytecodes while Python runs. The session
 *   hands it an object whose element 0 is a getter answering `2` (SIGINT)
 *   once the step's deadline has passed, so pure-Python loops and recursion are
 *   stopped in-process by a `KeyboardInterrupt` (within a few ms of the
 *   deadline; no Worker, no SharedArrayBuffer). If the step catches it and goes
 *   on, every poll interrupts from 250 ms later on. A step waiting on a tool or
 *   `asyncio.sleep` is cancelled by a timer. A long loop inside C (`sum(range(10**10))`, a huge regex,
 *   `time.sleep`) never polls, and hostile code can switch the poll off through
 *   `pyodide_js`: the supervisor's wall-time kill of the process is the backstop.
 * - **Memory**: Pyodide's memory is created and exported by its own wasm module,
 *   so no `WebAssembly.Memory` with a `maximum` can be passed in. The session
 *   captures that memory while Pyodide loads and puts a `grow` on the instance
 *   that refuses to go past `memoryBytes`; Emscripten's allocator then fails and
 *   Python raises `MemoryError`. Like the deadline, hostile code could undo it
 *   through JavaScript: OS limits on the process are the backstop (the
 *   `--max-old-space-size` flag does not cover WebAssembly memory).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { CodeSession, CodeSessionOptions, CodeStepResult } from "./session.ts";
export type { CodeSession, CodeSessionOptions, CodeStepResult } from "./session.ts";
// The sandbox runs with --no-config, so the project's import map is not there: the specifier is pinned inline.
// deno-lint-ignore no-import-prefix
import { loadPyodide } from "npm:pyodide@314.0.7";

/** The exact npm specifier of the Pyodide this engine loads. */
export const PYODIDE_SPECIFIER = "npm:pyodide@314.0.7";

/** A Python session's options: the common ones, and where Pyodide's files are. */
export interface PyodideSessionOptions extends CodeSessionOptions {
  /**
   * Pyodide's folder (its loader, WebAssembly and standard library), ending in
   * `/` or not; default the folder of the package this module imported. The
   * sandbox runs a bundle in which that default points nowhere, so the
   * supervisor finds the folder ({@linkcode pyodideAssetsDir}) and passes it.
   */
  indexURL?: string;
}

/** The marker appended to output cut at `maxOutputBytes`. */
export const OUTPUT_TRUNCATED_MARKER = "[output truncated]";

const SIGINT = 2;
const WASM_PAGE = 65536;
/** How long after an interrupt the deadline interrupts again, if Python still runs. */
const REFIRE_MS = 250;

/**
 * The folder of the Pyodide npm package (its wasm, `python_stdlib.zip` and
 * loader), resolved the way this module's own import resolves it. The sandbox
 * process needs `--allow-read` on this folder, and nothing else, to load
 * Pyodide offline (with `--cached-only`, once the package is in Deno's cache:
 * importing this module in the parent caches it).
 *
 * @returns The absolute path of the folder, without a trailing slash.
 *
 * @example Grant the sandbox read access to Pyodide
 * ```ts ignore
 * const flag = `--allow-read=${pyodideAssetsDir()}`;
 * ```
 */
export function pyodideAssetsDir(): string {
  const entry = import.meta.resolve(PYODIDE_SPECIFIER);
  return fileURLToPath(new URL(".", entry)).replace(/\/+$/, "");
}

/** The part of Pyodide's API this module uses (kept private: its types are Pyodide's). */
type Pyodide = Awaited<ReturnType<typeof loadPyodide>>;

/** The Python side of a session: tools, a namespace that persists, a step runner. */
const BOOTSTRAP = String.raw`
import asyncio as _asyncio
import json as _json
import traceback as _traceback
from pyodide.code import eval_code_async as _eval_code_async


class ToolError(Exception):
    """A tool call failed; the message is the tool's error."""


class _Tools:
    """The granted tools: tools.NAME(dict) or tools.NAME(key=value), awaited."""

    __slots__ = ("_names", "_call")

    def __init__(self, names, call):
        object.__setattr__(self, "_names", tuple(names))
        object.__setattr__(self, "_call", call)

    def __getattr__(self, name):
        if name not in self._names:
            known = ", ".join(self._names) or "(none)"
            raise AttributeError(f"no tool named {name!r}; the tools are: {known}")
        call = self._call

        async def tool(*args, **kwargs):
            if len(args) > 1 or (args and kwargs):
                raise TypeError(f"tools.{name}() takes one dict of arguments or keyword arguments")
            try:
                payload = _json.dumps(args[0] if args else kwargs)
            except (TypeError, ValueError) as e:
                raise TypeError(f"tools.{name}() arguments must be JSON values: {e}") from None
            reply = _json.loads(await call(name, payload))
            if "error" in reply:
                raise ToolError(reply["error"])
            return reply.get("value")

        tool.__name__ = name
        return tool

    __getitem__ = __getattr__

    def __setattr__(self, name, value):
        raise AttributeError("tools cannot be changed")

    def __dir__(self):
        return list(self._names)

    def __repr__(self):
        return f"<tools: {', '.join(self._names)}>"


def _describe(e):
    lines = _traceback.format_exception_only(type(e), e)
    return lines[-1].strip() if lines else type(e).__name__


async def _step(code, ns):
    try:
        value = await _eval_code_async(code, ns, filename="<step>")
    except BaseException as e:
        return _json.dumps({"error": _describe(e), "type": type(e).__name__})
    if value is None:
        return _json.dumps({"value": None})
    try:
        text = repr(value)
    except BaseException as e:
        return _json.dumps({"error": _describe(e), "type": type(e).__name__})
    return _json.dumps({"value": text})


class _Session:
    def __init__(self, names, call):
        self.ns = {"__name__": "__main__", "tools": _Tools(names, call), "ToolError": ToolError}
        self.task = None

    def start(self, code):
        self.task = _asyncio.ensure_future(_step(code, self.ns))
        return self.task

    def cancel(self):
        if self.task is not None and not self.task.done():
            self.task.cancel()


_Session
`;

/** The Python `_Session` object, as a PyProxy. */
interface PySession {
  start(code: string): PromiseLike<string> & { destroy(): void };
  cancel(): void;
}

/** What the Python step runner answers, as JSON. */
interface StepReply {
  value?: string | null;
  error?: string;
  type?: string;
}

/** Collects a step's stdout and stderr, up to a byte cap. */
class OutputBuffer {
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #truncated = false;
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = Math.max(0, Math.floor(cap));
  }

  write(buffer: Uint8Array): number {
    const room = this.#cap - this.#bytes;
    if (buffer.length > room) this.#truncated = true;
    const kept = buffer.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      this.#chunks.push(kept.slice());
      this.#bytes += kept.length;
    }
    return buffer.length;
  }

  text(): string {
    const all = new Uint8Array(this.#bytes);
    let at = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    // A character cut at the cap decodes to U+FFFD; drop it.
    let text = new TextDecoder().decode(all);
    if (!this.#truncated) return text;
    text = text.replace(/\uFFFD$/, "");
    return `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${OUTPUT_TRUNCATED_MARKER}`;
  }
}

/** A session's deadline, polled by Pyodide through its interrupt buffer. */
class Deadline {
  #at = Infinity;
  #fired = false;

  /** The object Pyodide reads `[0]` of; a setter is needed since Pyodide resets it. */
  readonly buffer: object;

  constructor() {
    const buffer = {};
    Object.defineProperty(buffer, 0, {
      get: (): number => {
        const now = performance.now();
        if (now < this.#at) return 0;
        // One interrupt first, which lands in the step's code and ends it cleanly. If Python
        // still runs after a grace (the step caught KeyboardInterrupt), interrupt at every poll:
        // that also hits asyncio's bookkeeping, and the step's task may end with the exception.
        if (!this.#fired) {
          this.#fired = true;
          this.#at = now + REFIRE_MS;
        }
        return SIGINT;
      },
      set: (_value: number): void => {},
    });
    this.buffer = buffer;
  }

  get fired(): boolean {
    return this.#fired;
  }

  arm(ms: number): void {
    this.#at = performance.now() + ms;
    this.#fired = false;
  }

  disarm(): void {
    this.#at = Infinity;
  }
}

/** The last non-empty line of a traceback. */
function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1)?.trim() ?? text;
}

/** Loads Pyodide, capturing the memory its main wasm module exports. */
async function loadCapturingMemory(
  route: (buffer: Uint8Array) => number,
  snapshot: Uint8Array | undefined,
  indexURL: string | undefined,
): Promise<{ pyodide: Pyodide; memory: WebAssembly.Memory | undefined }> {
  const memories: WebAssembly.Memory[] = [];
  const original = WebAssembly.instantiate;
  const capture = (result: unknown): void => {
    const instance = result instanceof WebAssembly.Instance
      ? result
      : (result as { instance?: WebAssembly.Instance }).instance;
    const memory = instance?.exports["memory"];
    if (memory instanceof WebAssembly.Memory) memories.push(memory);
  };
  WebAssembly.instantiate = function (...args: unknown[]): Promise<unknown> {
    const result = (original as (...a: unknown[]) => Promise<unknown>).apply(WebAssembly, args);
    return result.then((r) => {
      capture(r);
      return r;
    });
  } as typeof WebAssembly.instantiate;
  const encoder = new TextEncoder();
  const lines = (text: string): void => void route(encoder.encode(`${text}\n`));
  let pyodide: Pyodide;
  try {
    pyodide = await loadPyodide({
      stdout: lines,
      stderr: lines,
      env: {},
      args: [],
      ...(indexURL ? { indexURL: indexURL.endsWith("/") ? indexURL : `${indexURL}/` } : {}),
      ...(snapshot ? { _loadSnapshot: snapshot } : {}),
    });
  } finally {
    WebAssembly.instantiate = original;
  }
  const heap = (pyodide as unknown as { _module?: { HEAPU8?: Uint8Array } })._module?.HEAPU8;
  const memory = memories.find((m) => m.buffer === heap?.buffer);
  return { pyodide, memory };
}

/** Puts a `grow` on this one memory that refuses to pass `maxBytes`. */
function capMemory(memory: WebAssembly.Memory, maxBytes: number): void {
  const grow = WebAssembly.Memory.prototype.grow;
  Object.defineProperty(memory, "grow", {
    value: (pages: number): number => {
      if (memory.buffer.byteLength + pages * WASM_PAGE > maxBytes) {
        throw new RangeError(`WebAssembly memory limit of ${maxBytes} bytes reached`);
      }
      return grow.call(memory, pages);
    },
  });
}

/** JSON of a tool's reply for Python: `{"value": ...}` or `{"error": "..."}`. */
async function callTool(
  tools: CodeSessionOptions["tools"],
  name: string,
  argsJson: string,
): Promise<string> {
  const tool = Object.hasOwn(tools, name) ? tools[name] : undefined;
  if (!tool) return JSON.stringify({ error: `Unknown tool "${name}"` });
  try {
    const value = await tool(JSON.parse(argsJson));
    return JSON.stringify({ value: value === undefined ? null : value });
  } catch (err) {
    return JSON.stringify({ error: err instanceof Error ? err.message : String(err) });
  }
}

/** What every step of a session whose interpreter failed answers. */
const DEAD = "RuntimeError: the Python interpreter failed and cannot run more steps";

class PyodideSession implements CodeSession {
  readonly #pyodide: Pyodide;
  readonly #session: PySession;
  readonly #deadline: Deadline;
  readonly #options: CodeSessionOptions;
  readonly #PythonError: abstract new (...args: never[]) => Error;
  /** Rejects the running step when Pyodide fails fatally outside it (a JS stack overflow in a callback). */
  #failStep: (err: unknown) => void = () => {};
  readonly #onRejection = (event: PromiseRejectionEvent): void => {
    const reason: unknown = event.reason;
    const fatal = (typeof reason === "object" && reason !== null && "pyodide_fatal_error" in reason) ||
      // A JS stack overflow inside the interpreter that surfaces after its step ended (at its deadline).
      (reason instanceof RangeError && /call stack/i.test(reason.message));
    if (fatal) {
      event.preventDefault();
      this.#dead ??= DEAD;
      this.#failStep(reason);
    } else if (
      reason instanceof this.#PythonError &&
      (this.#dead !== null || (reason as Error & { type?: string }).type === "KeyboardInterrupt")
    ) {
      // Callbacks still queued in a failed interpreter reject too, and so do asyncio callbacks hit
      // by the deadline's repeated interrupts (maybe after the step has returned).
      event.preventDefault();
    }
  };
  readonly #sink: { buffer: OutputBuffer };
  #queue: Promise<unknown> = Promise.resolve();
  #dead: string | null = null;
  #disposed = false;

  constructor(
    pyodide: Pyodide,
    session: PySession,
    deadline: Deadline,
    options: CodeSessionOptions,
    sink: { buffer: OutputBuffer },
  ) {
    this.#pyodide = pyodide;
    this.#session = session;
    this.#deadline = deadline;
    this.#options = options;
    this.#sink = sink;
    this.#PythonError = pyodide.ffi.PythonError;
    globalThis.addEventListener("unhandledrejection", this.#onRejection);
  }

  run(code: string): Promise<CodeStepResult> {
    if (this.#disposed) return Promise.reject(new Error("The Python session is disposed"));
    const step = this.#queue.then(() => this.#step(code));
    this.#queue = step.catch(() => {});
    return step;
  }

  async #step(code: string): Promise<CodeStepResult> {
    const output = new OutputBuffer(this.#options.maxOutputBytes);
    this.#sink.buffer = output;
    if (this.#dead !== null) {
      return { output: "", error: this.#dead, value: null, timedOut: false, outOfMemory: false };
    }
    const ms = this.#options.stepDeadlineMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), ms);
    });
    const failed = new Promise<never>((_resolve, reject) => {
      this.#failStep = reject;
    });
    this.#deadline.arm(ms);
    let reply: StepReply | "late" | undefined;
    let fatal: unknown = null;
    try {
      const task = this.#session.start(code);
      const done = Promise.resolve(task).then((json) => JSON.parse(json) as StepReply);
      done.finally(() => task.destroy()).catch(() => {});
      reply = await Promise.race([done, late, failed]);
    } catch (err) {
      // A KeyboardInterrupt that escaped the step's own handler is the deadline's doing.
      if (err instanceof this.#PythonError && this.#deadline.fired) reply = {};
      else if (err instanceof this.#PythonError) reply = { error: lastLine(err.message), type: "Error" };
      else fatal = err;
      reply ??= {};
    } finally {
      clearTimeout(timer);
      this.#failStep = () => {};
    }
    const timedOut = reply === "late" || this.#deadline.fired;
    if (reply === "late") {
      // Waiting on a tool or a sleep: cancel the task; it may still finish later.
      try {
        this.#session.cancel();
      } catch { /* the interpreter is gone */ }
    } else {
      this.#deadline.disarm();
    }
    if (fatal !== null) {
      const message = fatal instanceof Error ? fatal.message : String(fatal);
      const outOfMemory = /memory|OOM/i.test(message);
      this.#dead = DEAD;
      return {
        output: output.text(),
        error: `RuntimeError: the Python interpreter failed: ${message.split("\n")[0]}`,
        value: null,
        timedOut,
        outOfMemory,
      };
    }
    if (timedOut) {
      return {
        output: output.text(),
        error: `TimeoutError: the step ran longer than its deadline of ${ms} ms`,
        value: null,
        timedOut: true,
        outOfMemory: false,
      };
    }
    const r = reply as StepReply;
    return {
      output: output.text(),
      error: r.error ?? null,
      value: r.error === undefined ? r.value ?? null : null,
      timedOut: false,
      outOfMemory: r.type === "MemoryError",
    };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#dead === null) globalThis.removeEventListener("unhandledrejection", this.#onRejection);
    this.#deadline.disarm();
    try {
      this.#session.cancel();
      this.#pyodide.setInterruptBuffer(undefined as unknown as Int32Array);
    } catch { /* the interpreter is gone */ }
  }
}

async function startSession(
  options: PyodideSessionOptions,
  snapshot: Uint8Array | undefined,
): Promise<CodeSession> {
  // Output before the first step (none is expected) is kept out of the process's stdout and dropped.
  const sink = { buffer: new OutputBuffer(0) };
  const route = (buffer: Uint8Array): number => sink.buffer.write(buffer);
  const { pyodide, memory } = await loadCapturingMemory(route, snapshot, options.indexURL);
  if (!memory) throw new Error("Cannot cap Pyodide's memory: its WebAssembly memory was not found");
  const size = memory.buffer.byteLength;
  if (size > options.memoryBytes) {
    throw new RangeError(
      `Memory limit of ${options.memoryBytes} bytes is below what Pyodide needs to start: ${size} bytes`,
    );
  }
  capMemory(memory, options.memoryBytes);
  const writer = { write: route, isatty: false };
  pyodide.setStdout(writer);
  pyodide.setStderr(writer);
  const deadline = new Deadline();
  pyodide.setInterruptBuffer(deadline.buffer as Int32Array);
  const call = (name: string, argsJson: string): Promise<string> => callTool(options.tools, name, argsJson);
  const Session = pyodide.runPython(BOOTSTRAP) as unknown as (
    names: string[],
    call: (name: string, argsJson: string) => Promise<string>,
  ) => PySession;
  const py = Session(Object.keys(options.tools), call);
  (Session as unknown as { destroy(): void }).destroy();
  return new PyodideSession(pyodide, py, deadline, options, sink);
}

/**
 * Starts a Python session: loads Pyodide (about 2 s cold), caps its memory and
 * binds the tools. Globals persist from step to step; top-level `await` works.
 *
 * In Python, `tools.NAME` is an async function taking one dict
 * (`await tools.read_file({"path": "a.csv"})`) or keyword arguments
 * (`await tools.read_file(path="a.csv")`); arguments and results cross as JSON,
 * so results are plain `dict`/`list`/`str`/numbers, and a failing tool raises
 * `ToolError` with the tool's message. Each step's `output` is its stdout and
 * stderr, cut at `maxOutputBytes` with {@linkcode OUTPUT_TRUNCATED_MARKER};
 * `error` is the last line of the traceback (`"ValueError: bad"`); `value` is the
 * `repr` of the last expression (none for `None` or a trailing `;`).
 *
 * The process's Deno permissions are the sandbox: Python reaches JavaScript and
 * `Deno` (see the module documentation), and the deadline and memory cap are
 * best-effort limits backed by the supervisor's kill and OS limits.
 *
 * @param options The tools, the memory cap, the per-step deadline and the output cap.
 * @returns The session; call `dispose()` when done.
 * @throws {RangeError} When `memoryBytes` is below the memory Pyodide needs to start (about 30 MiB).
 * @throws {Error} When Pyodide cannot be loaded, or its memory cannot be found to be capped.
 *
 * @example Run two steps
 * ```ts ignore
 * const session = await createPyodideSession({
 *   tools: { add: async (args) => (args as { a: number; b: number }).a + (args as { b: number }).b },
 *   memoryBytes: 256 * 2 ** 20,
 *   stepDeadlineMs: 5000,
 *   maxOutputBytes: 65536,
 * });
 * await session.run("x = await tools.add(a=1, b=2)");
 * const { value } = await session.run("x * 10"); // "30"
 * session.dispose();
 * ```
 */
export function createPyodideSession(options: PyodideSessionOptions): Promise<CodeSession> {
  return startSession(options, undefined);
}

/**
 * Like {@linkcode createPyodideSession}, but restores Pyodide from a memory
 * snapshot made by {@linkcode makePyodideSnapshot} (about 0.25 s instead of 2 s).
 *
 * @param options The tools, the memory cap, the per-step deadline and the output cap.
 * @param snapshot The bytes of a snapshot of this same Pyodide version.
 * @returns The session.
 * @throws {RangeError} When `memoryBytes` is below the snapshot's memory.
 *
 * @example Restore from a snapshot
 * ```ts ignore
 * const snapshot = await makePyodideSnapshot();
 * const session = await createPyodideSessionFromSnapshot(options, snapshot);
 * ```
 */
export function createPyodideSessionFromSnapshot(
  options: PyodideSessionOptions,
  snapshot: Uint8Array,
): Promise<CodeSession> {
  return startSession(options, snapshot);
}

/**
 * Makes a memory snapshot of a freshly started Pyodide (about 30 MB), for
 * {@linkcode createPyodideSessionFromSnapshot}. Uses Pyodide's private
 * `_makeSnapshot` option and `makeMemorySnapshot()`, which work offline in
 * 314.0.7 but are not a stable API: keep snapshots per Pyodide version.
 *
 * @param options `indexURL`: Pyodide's folder, when the package cannot be resolved (the sandbox's bundle).
 * @returns The snapshot's bytes.
 *
 * @example Cache a snapshot
 * ```ts ignore
 * await Deno.writeFile("pyodide.snapshot", await makePyodideSnapshot());
 * ```
 */
export async function makePyodideSnapshot(options: { indexURL?: string } = {}): Promise<Uint8Array> {
  const indexURL = options.indexURL;
  const pyodide = await loadPyodide(
    {
      _makeSnapshot: true,
      env: {},
      args: [],
      stdout: () => {},
      stderr: () => {},
      ...(indexURL ? { indexURL: indexURL.endsWith("/") ? indexURL : `${indexURL}/` } : {}),
    } as Parameters<typeof loadPyodide>[0],
  );
  return pyodide.makeMemorySnapshot();
}
