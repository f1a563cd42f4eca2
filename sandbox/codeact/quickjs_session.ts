/**
 * The JavaScript engine of the CodeAct loop: a QuickJS-in-WebAssembly session
 * that runs the model's code step by step inside the sandbox process.
 *
 * ## Persistence and top-level `await`
 *
 * Every step is evaluated as a **global script** with QuickJS's
 * `JS_EVAL_FLAG_ASYNC` (`1 << 7` in `quickjs.h`; the flag the `qjs` REPL uses,
 * not named by quickjs-emscripten's typings but passed through unchanged by its
 * `evalCode`). The engine compiles the script as an async function body whose
 * declarations are still instantiated in the **global** environment, so:
 *
 * - top-level `let`, `const` and `class` land in the global lexical scope and
 *   `var` and `function` on `globalThis`, exactly as in consecutive `<script>`
 *   tags: both are visible to later steps;
 * - `await` is allowed at the top level; the evaluation returns a promise that
 *   settles with `{ value }`, the completion value of the script's last
 *   expression statement (`x + 1` as the last line is the step's value).
 *
 * No source rewriting is involved, so no parser is shipped and no construct is
 * mis-rewritten. The rejected alternatives: an async IIFE makes declarations
 * local; module evaluation makes them module-scoped; rewriting declarations
 * into `globalThis` assignments needs a full parser and changes semantics
 * (TDZ, `const`-ness, destructuring, closures over loop bindings).
 *
 * Limits, the same as a browser's consecutive scripts:
 * - a top-level `let`/`const`/`class` name cannot be declared again in a later
 *   step (`SyntaxError: redeclaration of 'x'`): assign to it, or use `var`;
 * - a `let`/`const` whose step threw before its initialiser ran stays
 *   uninitialised (`ReferenceError` on use) and cannot be redeclared;
 * - a step is sloppy-mode script code unless it starts with `"use strict"`;
 *   `import` declarations are not allowed and dynamic `import()` always
 *   rejects (no module loader is installed).
 *
 * ## Isolation
 *
 * Each session owns its own WebAssembly instance of QuickJS (5-10 ms to
 * instantiate), its own runtime and one context.
 * The context has the ECMAScript built-ins plus `console` and `tools`, nothing
 * else: no timers, no `fetch`, no module loader, no host objects. Only strings
 * cross the boundary: tool arguments are `JSON.stringify`'d inside QuickJS and
 * `JSON.parse`'d by the host, tool results the other way round, console lines
 * and formatted values are strings. No host object handle is ever given to the
 * guest, so nothing the guest does to prototypes reaches the host.
 *
 * ## Memory
 *
 * QuickJS's `setMemoryLimit` alone does not bound this build: compiled with
 * Emscripten, QuickJS cannot ask the allocator for block sizes
 * (`malloc_usable_size unavailable` in its memory dump), so it counts only a
 * small overhead per allocation and refuses just single allocations larger
 * than the limit (300 MB of 10 KB typed arrays went through a 16 MB limit).
 * The hard cap is therefore the session's own `WebAssembly.Memory`, imported
 * by the engine, whose `maximum` is `memoryBytes` plus the engine's fixed
 * 16 MiB (static data, stack, first heap pages): past it `malloc` fails and
 * QuickJS throws `InternalError: out of memory`. `setMemoryLimit(memoryBytes)`
 * is kept for its early refusal of huge single allocations. Memory freed by
 * the guest is reused; a bomb whose data stays reachable from a global keeps
 * the session full (each step fails with outOfMemory) until the code drops it
 * (`big.length = 0`) or the session is disposed.
 *
 * ## Engine failures
 *
 * A few inputs (JSON or source nested about 100,000 deep) exhaust V8's native
 * stack inside QuickJS before QuickJS's own stack check fires. The host
 * `RangeError` unwinds through the engine and leaves it inconsistent, so the
 * step ends with `InternalError: the JavaScript engine failed and the session
 * is closed: ...`, later steps answer the same, and `dispose()` drops the
 * session's WebAssembly instance whole. Only that session is affected.
 *
 * @module
 */

import type { CodeSession, CodeSessionOptions, CodeStepResult } from "./session.ts";
export type { CodeSession, CodeSessionOptions, CodeStepResult } from "./session.ts";
// The sandbox runs with --no-config, so the import map is absent there: the specifiers are pinned inline.
// deno-lint-ignore no-import-prefix
import * as quickjs from "npm:quickjs-emscripten-core@0.32.0";
// deno-lint-ignore no-import-prefix
import variant from "npm:@jitl/quickjs-singlefile-mjs-release-sync@0.32.0";

type QuickJSContext = quickjs.QuickJSContext;
type QuickJSDeferredPromise = quickjs.QuickJSDeferredPromise;
type QuickJSHandle = quickjs.QuickJSHandle;
type QuickJSRuntime = quickjs.QuickJSRuntime;

/** A QuickJS session's options: the common ones, and its stack limit. */
export interface QuickJsSessionOptions extends CodeSessionOptions {
  /**
   * QuickJS's stack limit in bytes; default 262144 (recursion about 1,300
   * calls deep). QuickJS measures its shadow stack while V8 runs out of its
   * own native stack first above about 512 KiB, which ends the session.
   */
  maxStackBytes?: number;
}

/** `JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_ASYNC`: a global script whose top level may `await`. */
const EVAL_GLOBAL_ASYNC = 0 | (1 << 7);
const DEFAULT_MAX_STACK_BYTES = 256 * 1024;
const WASM_PAGE_BYTES = 65536;
/**
 * The engine's fixed part of its WebAssembly memory (static data, shadow stack,
 * the first heap pages): the build's INITIAL_MEMORY, which an imported memory
 * must provide at least.
 */
const ENGINE_BASE_BYTES = 16 * 1024 * 1024;
const ENGINE_BASE_PAGES = ENGINE_BASE_BYTES / WASM_PAGE_BYTES;
/** Extra memory and time granted only to format a step's result after it ended. */
const FORMAT_HEADROOM_BYTES = 1024 * 1024;
const FORMAT_GRACE_MS = 250;
const TRUNCATED_MARKER = "[output truncated]";
const UNPRINTABLE_ERROR = "[unprintable thrown value]";

/**
 * Evaluated once per context: builds `console` and `tools` around the two host
 * functions it receives (which stay private to this closure) and returns the
 * formatters the host uses. It captures the built-ins it relies on, so code
 * that later patches prototypes can only garble its own output.
 */
const BOOTSTRAP = String.raw`(function (write, call, toolNamesJson) {
  "use strict";
  const G = globalThis, O = Object, apply = Reflect.apply;
  const stringify = JSON.stringify, parse = JSON.parse, keys = O.keys, getProto = O.getPrototypeOf;
  const defineProperty = O.defineProperty, freeze = O.freeze, is = O.is, isArray = Array.isArray;
  const ObjectProto = O.prototype, ErrorCtor = Error, DateCtor = Date, RegExpCtor = RegExp;
  const MapCtor = Map, SetCtor = Set, PromiseCtor = Promise, ArrayBufferCtor = ArrayBuffer;
  const promiseReject = Promise.reject, isView = ArrayBuffer.isView;
  const symbolToString = Symbol.prototype.toString, regExpToString = RegExp.prototype.toString;
  const dateGetTime = Date.prototype.getTime, dateToISOString = Date.prototype.toISOString;
  const mapForEach = Map.prototype.forEach, setForEach = Set.prototype.forEach;
  const mapSize = O.getOwnPropertyDescriptor(Map.prototype, "size").get;
  const setSize = O.getOwnPropertyDescriptor(Set.prototype, "size").get;
  const MAX_ITEMS = 100, MAX_DEPTH = 4;

  function errorLine(e) {
    const name = e.name, message = e.message;
    const n = typeof name === "string" && name !== "" ? name : "Error";
    const m = typeof message === "string" ? message : render(message, 1000, true);
    return m === "" ? n : n + ": " + m;
  }

  function render(value, budget, rawString) {
    let out = "", full = false;
    const seen = [];
    function put(s) {
      if (full) return;
      if (out.length + s.length > budget) {
        out += s.slice(0, budget - out.length) + "…";
        full = true;
      } else out += s;
    }
    function items(v, depth, n, each) {
      let i = 0;
      for (; i < n && i < MAX_ITEMS && !full; i++) {
        if (i > 0) put(",");
        each(i);
      }
      if (n > MAX_ITEMS) put(",... " + (n - MAX_ITEMS) + " more");
    }
    function walk(v, depth) {
      if (full) return;
      switch (typeof v) {
        case "string":
          if (v.length > budget) v = v.slice(0, budget + 1);
          put(depth === 0 && rawString ? v : stringify(v));
          return;
        case "number": put(is(v, -0) ? "-0" : "" + v); return;
        case "bigint": put(v + "n"); return;
        case "boolean": put(v ? "true" : "false"); return;
        case "undefined": put("undefined"); return;
        case "symbol": put(apply(symbolToString, v, [])); return;
        case "function": {
          const name = v.name;
          put("[Function " + (typeof name === "string" && name !== "" ? name : "(anonymous)") + "]");
          return;
        }
      }
      if (v === null) { put("null"); return; }
      if (v instanceof ErrorCtor) { put(depth === 0 ? errorLine(v) : "[" + errorLine(v) + "]"); return; }
      for (let i = 0; i < seen.length; i++) if (seen[i] === v) { put("[Circular]"); return; }
      if (depth >= MAX_DEPTH) { put(isArray(v) ? "[Array]" : "[Object]"); return; }
      if (v instanceof DateCtor) {
        const t = apply(dateGetTime, v, []);
        put(t === t ? stringify(apply(dateToISOString, v, [])) : "Invalid Date");
        return;
      }
      if (v instanceof RegExpCtor) { put(apply(regExpToString, v, [])); return; }
      if (v instanceof PromiseCtor) { put("Promise {}"); return; }
      if (v instanceof ArrayBufferCtor) { put("ArrayBuffer(" + v.byteLength + ")"); return; }
      seen[seen.length] = v;
      if (isArray(v)) {
        put("[");
        items(v, depth, v.length, (i) => walk(v[i], depth + 1));
        put("]");
      } else if (v instanceof MapCtor) {
        const entries = [];
        apply(mapForEach, v, [(val, key) => { if (entries.length < 2 * MAX_ITEMS) entries[entries.length] = key, entries[entries.length] = val; }]);
        const n = apply(mapSize, v, []);
        put("Map(" + n + ") {");
        items(v, depth, n, (i) => { walk(entries[2 * i], depth + 1); put(" => "); walk(entries[2 * i + 1], depth + 1); });
        put("}");
      } else if (v instanceof SetCtor) {
        const entries = [];
        apply(setForEach, v, [(val) => { if (entries.length < MAX_ITEMS) entries[entries.length] = val; }]);
        const n = apply(setSize, v, []);
        put("Set(" + n + ") {");
        items(v, depth, n, (i) => walk(entries[i], depth + 1));
        put("}");
      } else if (isView(v) && typeof v.length === "number") {
        put(v.constructor.name + "(" + v.length + ") [");
        items(v, depth, v.length, (i) => walk(v[i], depth + 1));
        put("]");
      } else {
        const proto = getProto(v);
        let prefix = "";
        if (proto !== null && proto !== ObjectProto) {
          const ctor = proto.constructor;
          if (typeof ctor === "function" && typeof ctor.name === "string" && ctor.name !== "") prefix = ctor.name + " ";
        }
        const ks = keys(v);
        put(prefix + "{");
        items(v, depth, ks.length, (i) => { put(stringify(ks[i]) + ":"); walk(v[ks[i]], depth + 1); });
        put("}");
      }
      seen.length = seen.length - 1;
    }
    walk(value, 0);
    return out;
  }

  function formatValue(v, budget) {
    try { return render(v, budget, false); } catch (e) { return "[unprintable value]"; }
  }
  function formatError(e, budget) {
    try {
      if (e instanceof ErrorCtor) return errorLine(e);
      return render(e, budget, true);
    } catch (inner) { return ${JSON.stringify(UNPRINTABLE_ERROR)}; }
  }

  let lineBudget = 0, muted = false;
  function line() {
    if (muted) return;
    let s = "";
    for (let i = 0; i < arguments.length; i++) {
      if (i > 0) s += " ";
      const a = arguments[i];
      s += typeof a === "string" ? a : formatValue(a, lineBudget);
    }
    // The host answers true once the step's output is full: later calls of the step cost nothing.
    if (write(s) === true) muted = true;
  }
  const console = {};
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    const f = function () { apply(line, undefined, arguments); };
    defineProperty(f, "name", { value: level });
    defineProperty(console, level, { value: freeze(f), enumerable: true });
  }

  const tools = {};
  const names = parse(toolNamesJson);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const f = (args) => {
      let json;
      try { json = stringify(args === undefined ? null : args); }
      catch (e) { return apply(promiseReject, PromiseCtor, [e]); }
      return call(name, json === undefined ? "null" : json);
    };
    defineProperty(f, "name", { value: name });
    defineProperty(tools, name, { value: freeze(f), enumerable: true });
  }

  defineProperty(G, "console", { value: freeze(console), writable: true, configurable: true });
  defineProperty(G, "tools", { value: freeze(tools), writable: true, configurable: true });
  return {
    formatValue,
    formatError,
    parse,
    setLineBudget(n) { lineBudget = n; muted = false; },
  };
})`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A tool call whose host promise has not settled yet. */
interface PendingCall {
  deferred: QuickJSDeferredPromise;
  abandoned: boolean;
}

/** What a step has gathered so far. */
class Step {
  readonly lines: string[] = [];
  readonly calls: Set<PendingCall> = new Set();
  bytes = 0;
  truncated = false;
  #wake: (() => void) | undefined;
  #dirty = false;

  constructor(readonly maxBytes: number) {}

  /** Appends one console line, within the byte cap. */
  write(line: string): void {
    if (this.truncated) return;
    const separator = this.lines.length > 0 ? 1 : 0;
    const room = this.maxBytes - this.bytes - separator;
    const bytes = encoder.encode(line);
    if (bytes.length <= room) {
      this.lines.push(line);
      this.bytes += separator + bytes.length;
      return;
    }
    this.truncated = true;
    if (room > 0) this.lines.push(decoder.decode(bytes.subarray(0, room)).replace(/\uFFFD$/, ""));
  }

  output(): string {
    return this.truncated ? [...this.lines, TRUNCATED_MARKER].join("\n") : this.lines.join("\n");
  }

  /** Resolves after `ms`, or at once when something happened since the last wait. */
  wait(ms: number): Promise<void> {
    if (this.#dirty) {
      this.#dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#wake = done;
    });
  }

  /** Ends the current wait: a tool call settled or the session is being disposed. */
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#dirty = true;
  }
}

/** The bootstrap's functions the host calls. */
type Helpers = Record<"formatValue" | "formatError" | "parse" | "setLineBudget", QuickJSHandle>;

/** How the step's promise ended, before it is formatted. */
type Ending =
  | { kind: "value"; handle: QuickJSHandle }
  | { kind: "error"; handle: QuickJSHandle }
  | { kind: "message"; error: string; timedOut?: boolean };

class QuickJsSession implements CodeSession {
  readonly #options: QuickJsSessionOptions;
  /** This session's own WebAssembly memory, whose `maximum` is the hard memory cap. */
  readonly #memory: WebAssembly.Memory;
  readonly #maxMemoryBytes: number;
  #rt: QuickJSRuntime | undefined;
  #ctx: QuickJSContext | undefined;
  #helpers: Helpers | undefined;
  #step: Step | undefined;
  #interruptAt = Infinity;
  #interrupted = false;
  #disposeRequested = false;
  /** The last step filled its output, so the console inside QuickJS stopped calling the host. */
  #muted = false;
  /** Set when the engine failed in a way that leaves its state untrustworthy. */
  #broken: string | undefined;

  constructor(
    options: QuickJsSessionOptions,
    rt: QuickJSRuntime,
    memory: WebAssembly.Memory,
    maxMemoryBytes: number,
  ) {
    this.#options = options;
    this.#memory = memory;
    this.#maxMemoryBytes = maxMemoryBytes;
    this.#rt = rt;
    rt.setMemoryLimit(options.memoryBytes);
    rt.setMaxStackSize(options.maxStackBytes ?? DEFAULT_MAX_STACK_BYTES);
    rt.setInterruptHandler(() => {
      if (performance.now() < this.#interruptAt) return false;
      this.#interrupted = true;
      return true;
    });
    const ctx = rt.newContext();
    this.#ctx = ctx;
    this.#interruptAt = performance.now() + 5_000;
    try {
      this.#helpers = this.#bootstrap(ctx);
    } catch (error) {
      this.#free();
      throw error;
    }
    this.#interruptAt = Infinity;
  }

  #bootstrap(ctx: QuickJSContext): Helpers {
    const write = ctx.newFunction("write", (lineHandle) => {
      const step = this.#step;
      if (step !== undefined && ctx.typeof(lineHandle) === "string") step.write(ctx.getString(lineHandle));
      return step?.truncated ? ctx.true : ctx.undefined;
    });
    const call = ctx.newFunction("call", (nameHandle, argsHandle) => this.#callTool(nameHandle, argsHandle));
    const names = ctx.newString(JSON.stringify(Object.keys(this.#options.tools)));
    const setup = ctx.unwrapResult(ctx.evalCode(BOOTSTRAP, "ironclaw-bootstrap.js", { type: "global" }));
    const result = ctx.callFunction(setup, ctx.undefined, write, call, names);
    for (const handle of [setup, write, call, names]) handle.dispose();
    const exports = ctx.unwrapResult(result);
    const helpers = {
      formatValue: ctx.getProp(exports, "formatValue"),
      formatError: ctx.getProp(exports, "formatError"),
      parse: ctx.getProp(exports, "parse"),
      setLineBudget: ctx.getProp(exports, "setLineBudget"),
    };
    exports.dispose();
    this.#unmute(ctx, helpers);
    // A build without JS_EVAL_FLAG_ASYNC would refuse this with a SyntaxError.
    const probe = ctx.evalCode("await 0", "ironclaw-probe.js", EVAL_GLOBAL_ASYNC);
    const supported = probe.error === undefined;
    (probe.error ?? probe.value).dispose();
    ctx.runtime.executePendingJobs().dispose();
    if (!supported) {
      for (const handle of Object.values(helpers)) handle.dispose();
      throw new Error("The QuickJS build does not support top-level await in scripts");
    }
    return helpers;
  }

  /** Sets the console's line budget and lets it print again (after a step that filled its output). */
  #unmute(ctx: QuickJSContext, helpers: Helpers): void {
    const budget = ctx.newNumber(this.#options.maxOutputBytes);
    const done = ctx.callFunction(helpers.setLineBudget, ctx.undefined, budget);
    budget.dispose();
    ctx.unwrapResult(done).dispose();
  }

  /** The host side of `tools.NAME(args)`: returns a QuickJS promise settled by the host tool. */
  #callTool(nameHandle: QuickJSHandle, argsHandle: QuickJSHandle): QuickJSHandle {
    const ctx = this.#ctx!;
    const step = this.#step;
    const deferred = ctx.newPromise();
    const name = ctx.typeof(nameHandle) === "string" ? ctx.getString(nameHandle) : "";
    const json = ctx.typeof(argsHandle) === "string" ? ctx.getString(argsHandle) : "null";
    const tool = Object.hasOwn(this.#options.tools, name) ? this.#options.tools[name] : undefined;
    if (step === undefined || tool === undefined) {
      this.#rejectWith(deferred, new Error(`Unknown tool "${name}"`));
      return deferred.handle;
    }
    const pending: PendingCall = { deferred, abandoned: false };
    step.calls.add(pending);
    const settle = (outcome: { value: unknown } | { error: unknown }) => {
      step.calls.delete(pending);
      if (pending.abandoned || this.#ctx === undefined) return;
      try {
        if ("value" in outcome) this.#resolveWith(deferred, outcome.value);
        else this.#rejectWith(deferred, outcome.error);
      } catch (error) {
        this.#break(error);
      }
      step.wake();
    };
    new Promise<unknown>((resolve) => resolve(tool(JSON.parse(json)))).then(
      (value) => settle({ value }),
      (error) => settle({ error }),
    );
    return deferred.handle;
  }

  /** Resolves a QuickJS promise with a fresh QuickJS copy of a host value (through JSON text). */
  #resolveWith(deferred: QuickJSDeferredPromise, value: unknown): void {
    const ctx = this.#ctx!;
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (error) {
      this.#rejectWith(deferred, new Error(`The tool result is not JSON: ${messageOf(error)}`));
      return;
    }
    if (json === undefined) {
      deferred.resolve(ctx.undefined);
      return;
    }
    const text = ctx.newString(json);
    const parsed = ctx.callFunction(this.#helpers!.parse, ctx.undefined, text);
    text.dispose();
    if (parsed.error) {
      deferred.reject(parsed.error);
      parsed.error.dispose();
    } else {
      deferred.resolve(parsed.value);
      parsed.value.dispose();
    }
  }

  /** Rejects a QuickJS promise with a new QuickJS `Error` carrying the host error's message (and string `code`). */
  #rejectWith(deferred: QuickJSDeferredPromise, error: unknown): void {
    const ctx = this.#ctx!;
    const handle = ctx.newError({ name: "Error", message: messageOf(error) });
    const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
    if (typeof code === "string") {
      const codeHandle = ctx.newString(code);
      ctx.setProp(handle, "code", codeHandle);
      codeHandle.dispose();
    }
    deferred.reject(handle);
    handle.dispose();
  }

  async run(code: string): Promise<CodeStepResult> {
    if (this.#rt === undefined || this.#disposeRequested) throw new Error("The QuickJS session is disposed");
    if (this.#step !== undefined) throw new Error("A step is already running in this QuickJS session");
    if (typeof code !== "string") throw new TypeError(`Expected the code to be a string, got ${typeof code}`);
    const step = new Step(this.#options.maxOutputBytes);
    if (this.#broken !== undefined) return result(step, this.#broken, null);
    this.#step = step;
    try {
      if (this.#muted) {
        this.#unmute(this.#ctx!, this.#helpers!);
        this.#muted = false;
      }
      const ending = await this.#drive(code, step);
      return this.#finish(step, ending);
    } catch (error) {
      this.#break(error);
      return result(step, this.#broken ?? "InternalError: the engine failed", null);
    } finally {
      for (const pending of step.calls) {
        pending.abandoned = true;
        if (this.#broken === undefined) pending.deferred.dispose();
      }
      step.calls.clear();
      this.#muted = step.truncated;
      this.#step = undefined;
      this.#interruptAt = Infinity;
      if (this.#disposeRequested) this.#free();
    }
  }

  /** Evaluates the step and drives QuickJS jobs and host calls until its promise settles or the deadline. */
  async #drive(code: string, step: Step): Promise<Ending> {
    const rt = this.#rt!;
    const ctx = this.#ctx!;
    const deadline = performance.now() + this.#options.stepDeadlineMs;
    const timeout: Ending = {
      kind: "message",
      error: `InternalError: interrupted: the step ran past its ${this.#options.stepDeadlineMs} ms deadline`,
      timedOut: true,
    };
    this.#interrupted = false;
    this.#interruptAt = deadline;
    const evaluated = ctx.evalCode(code, "step.js", EVAL_GLOBAL_ASYNC);
    if (evaluated.error) {
      if (!this.#interrupted) return { kind: "error", handle: evaluated.error };
      evaluated.error.dispose();
      return timeout;
    }
    const promise = evaluated.value;
    let jobError: QuickJSHandle | undefined;
    try {
      for (;;) {
        const jobs = rt.executePendingJobs();
        if (jobs.error) {
          jobError?.dispose();
          jobError = jobs.error;
        }
        if (this.#interrupted) return timeout;
        const state = ctx.getPromiseState(promise);
        if (state.type === "fulfilled") return { kind: "value", handle: state.value };
        if (state.type === "rejected") return { kind: "error", handle: state.error };
        if (this.#disposeRequested) {
          return { kind: "message", error: "Error: the session was disposed during the step" };
        }
        if (performance.now() >= deadline) return timeout;
        if (rt.hasPendingJob()) continue;
        if (jobError !== undefined) {
          const handle = jobError;
          jobError = undefined;
          return { kind: "error", handle };
        }
        if (step.calls.size === 0) {
          return { kind: "message", error: "Error: the step awaits a promise that nothing can settle" };
        }
        await step.wait(deadline - performance.now());
      }
    } finally {
      jobError?.dispose();
      promise.dispose();
    }
  }

  /** Formats the ending into a result, with a little extra time and memory so that even an OOM can be described. */
  #finish(step: Step, ending: Ending): CodeStepResult {
    const rt = this.#rt!;
    const ctx = this.#ctx!;
    if (ending.kind === "message") return result(step, ending.error, null, ending.timedOut === true);
    rt.setMemoryLimit(this.#options.memoryBytes + FORMAT_HEADROOM_BYTES);
    this.#interruptAt = performance.now() + Math.min(FORMAT_GRACE_MS, this.#options.stepDeadlineMs);
    try {
      const budget = ctx.newNumber(this.#options.maxOutputBytes);
      try {
        if (ending.kind === "error") {
          const error = this.#format(this.#helpers!.formatError, ending.handle, budget);
          if (error !== undefined && /^InternalError: out of memory/.test(error)) {
            return result(step, error, null, false, true);
          }
          // With the memory at its cap QuickJS may throw null (it could not allocate the error object),
          // or the error cannot be formatted at all: both are the memory limit.
          if (
            (error === undefined || error === "null" || error === UNPRINTABLE_ERROR) && this.#memoryFull()
          ) {
            return result(step, "InternalError: out of memory", null, false, true);
          }
          return result(step, error ?? UNPRINTABLE_ERROR, null);
        }
        const value = ctx.getProp(ending.handle, "value");
        try {
          if (ctx.typeof(value) === "undefined") return result(step, null, null);
          return result(
            step,
            null,
            this.#format(this.#helpers!.formatValue, value, budget) ?? "[unprintable value]",
          );
        } finally {
          value.dispose();
        }
      } finally {
        budget.dispose();
      }
    } finally {
      ending.handle.dispose();
      this.#interruptAt = Infinity;
      rt.setMemoryLimit(this.#options.memoryBytes);
    }
  }

  /**
   * Whether the WebAssembly memory has grown to about its cap (within a tenth, as the allocator grows
   * the memory in steps and fails a step that would pass the cap). An error that cannot even be
   * formatted is then the memory limit.
   */
  #memoryFull(): boolean {
    return this.#memory.buffer.byteLength >= this.#maxMemoryBytes * 0.9;
  }

  #format(formatter: QuickJSHandle, handle: QuickJSHandle, budget: QuickJSHandle): string | undefined {
    const ctx = this.#ctx!;
    const formatted = ctx.callFunction(formatter, ctx.undefined, handle, budget);
    if (formatted.error) {
      formatted.error.dispose();
      return undefined;
    }
    const text = ctx.typeof(formatted.value) === "string" ? ctx.getString(formatted.value) : undefined;
    formatted.value.dispose();
    return text;
  }

  /** Marks the session unusable after the engine failed mid-call (its state can no longer be trusted). */
  #break(error: unknown): void {
    this.#broken ??= `InternalError: the JavaScript engine failed and the session is closed: ${
      messageOf(error)
    }`;
  }

  dispose(): void {
    if (this.#rt === undefined) return;
    this.#disposeRequested = true;
    if (this.#step !== undefined) {
      this.#step.wake();
      return;
    }
    this.#free();
  }

  #free(): void {
    const rt = this.#rt;
    const ctx = this.#ctx;
    const helpers = this.#helpers;
    this.#rt = undefined;
    this.#ctx = undefined;
    this.#helpers = undefined;
    this.#disposeRequested = true;
    // A broken engine is dropped whole (the WebAssembly instance is this session's own): freeing
    // through it could trip QuickJS's assertions on state the failure left behind.
    if (this.#broken !== undefined || rt === undefined) return;
    if (helpers !== undefined) { for (const handle of Object.values(helpers)) handle.dispose(); }
    ctx?.dispose();
    rt.dispose();
  }
}

function result(
  step: Step,
  error: string | null,
  value: string | null,
  timedOut = false,
  outOfMemory = false,
): CodeStepResult {
  if (value !== null && value.length > step.maxBytes) value = `${value.slice(0, step.maxBytes)}…`;
  return { output: step.output(), error, value, timedOut, outOfMemory };
}

function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return "unknown error";
  }
}

/**
 * Starts a QuickJS session: a fresh WebAssembly instance of QuickJS, one
 * runtime limited to `memoryBytes`, and one context with the ECMAScript
 * built-ins, `console` and `tools`.
 *
 * Every npm module it uses is loaded from Deno's cache with the WebAssembly
 * embedded in JavaScript, so the sandbox needs no `--allow-read`, `--allow-env`
 * or `--allow-net` for it (only the packages cached beforehand, as
 * `--cached-only` requires).
 *
 * @param options The tools, memory limit, step deadline and output cap.
 * @returns The session; call `dispose()` when done.
 * @throws {Error} When the QuickJS build cannot be loaded or lacks top-level await in scripts.
 *
 * @example Persistent declarations and top-level await
 * ```ts
 * import assert from "node:assert/strict";
 * import { createQuickJsSession } from "./quickjs_session.ts";
 *
 * const session = await createQuickJsSession({
 *   tools: { add: (args) => Promise.resolve((args as { a: number; b: number }).a + (args as { a: number; b: number }).b) },
 *   memoryBytes: 32 * 1024 * 1024,
 *   stepDeadlineMs: 1000,
 *   maxOutputBytes: 4096,
 * });
 * await session.run("const sum = await tools.add({ a: 1, b: 2 }); console.log('sum is', sum)");
 * const step = await session.run("sum * 10");
 * assert.equal(step.value, "30");
 * session.dispose();
 * ```
 */
export async function createQuickJsSession(options: QuickJsSessionOptions): Promise<CodeSession> {
  const pages = Math.max(
    ENGINE_BASE_PAGES,
    Math.ceil((ENGINE_BASE_BYTES + options.memoryBytes) / WASM_PAGE_BYTES),
  );
  const memory = new WebAssembly.Memory({ initial: ENGINE_BASE_PAGES, maximum: pages });
  const module = await quickjs.newQuickJSWASMModuleFromVariant(
    quickjs.newVariant(variant, { wasmMemory: memory }),
  );
  return new QuickJsSession(options, module.newRuntime(), memory, pages * WASM_PAGE_BYTES);
}
