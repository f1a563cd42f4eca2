/**
 * Plugins inside the sandbox: each used plugin runs in a Worker of its own
 * (made from the sandbox entry, as guests are) whose Deno permissions are
 * exactly the plugin's own grants (`pluginWorkerPermissions`), never in the
 * realm that holds the gate, the secrets and the channel, and never beside
 * the agent's code or another plugin. Its tools are run for `tool.call`:
 * input checked against the tool's schema here first, the call posted to its
 * Worker, a deadline kept here (a Worker whose call passed it is terminated
 * and started again at the next call, so a stuck handler burns no more CPU),
 * a size cap on the result, and every failure a typed error. The plugin's
 * gate calls, logs and `context.store` operations come here as messages (a
 * store operation goes on to the supervisor as a `plugin.state` request, with
 * the plugin's name filled in here, never by the plugin); see `plugin_guest.ts`.
 * An `[mcp]` plugin has no Worker: a local server's tools go to the supervisor
 * as `mcp.call` requests, a remote server's are run here through the gate as
 * the plugin (`mcp_remote.ts`).
 *
 * @module
 */

import { GateError } from "./gate/mod.ts";
import { isGateErrorCode } from "./gate/errors.ts";
import type { GateReply } from "./gate/mod.ts";
import type { RunContext } from "./runner.ts";
import { inputProblem } from "../plugins/json_schema.ts";
import type { EnforcedGrant } from "../protocol/grant.ts";
import { pluginWorkerPermissions, type WorkerPermissions } from "../capabilities/worker_permissions.ts";
import { GUEST_WORKER_NAME, guestEntry } from "./guests/guest_worker.ts";
import { type RemoteMcpRunner, remoteMcpRunner } from "./mcp_remote.ts";

/** A plugin the run uses, as its grant names it. */
type PolicyPlugin = EnforcedGrant["plugins"][number];

/**
 * Whether a plugin threw a PluginGateError. Told by its name and hint, not by
 * `instanceof`: it was thrown in the plugin's own Worker.
 */
function isPluginGateError(e: { name: string; hint: string | null }): boolean {
  return e.name === "PluginGateError" && typeof e.hint === "string";
}

/** The longest a tool's handler may take, in milliseconds, whatever `step_timeout_s` says. */
export const MAX_TOOL_TIMEOUT_MS = 60_000;
/** The largest result a tool may return, as JSON characters. */
export const MAX_TOOL_RESULT = 1024 * 1024;
/** How long a plugin's Worker may take to load its code, in milliseconds. */
const LOAD_TIMEOUT_MS = 30_000;
/** The longest plugin log message kept, in characters. */
const MAX_LOG = 64 * 1024;
const LEVELS: ReadonlySet<string> = new Set(["debug", "info", "warn", "error"]);

/** Runs plugin tools by their qualified name (`plugin.tool`). */
export type ToolRunner = (name: string, input: unknown) => Promise<unknown>;

/** What the plugin host needs of the run: its grant, the agent's gate, and where plugin logs go. */
export type PluginHostContext = Pick<RunContext, "policy" | "gate" | "emit">;

/** Options of {@linkcode loadPlugins}. */
export interface LoadPluginsOptions {
  /** Each plugin's own folder for this agent, by plugin name (default: none). */
  dataDirs?: Readonly<Record<string, string>>;
  /** The plugin API file plugin code may import (read-only in every plugin's Worker; default none). */
  apiFile?: string;
  /** Sends a `plugin.state` request to the supervisor (default: `context.store` is refused). */
  state?: StateRequest;
  /**
   * Sends an `mcp.call` request (`{plugin, tool, input}`) to the supervisor, which runs the `[mcp]` plugins'
   * servers (default: their tools are refused).
   */
  mcp?: StateRequest;
}

/** Sends a `plugin.state` request (`{plugin, op, key, ...}`) to the supervisor; resolves with its result. */
export type StateRequest = (args: Record<string, unknown>) => Promise<unknown>;

/** A store operation's reply, as a plugin's Worker receives it. */
export type StateReply = { ok: true; result: unknown } | {
  ok: false;
  error: { code: string; message: string; hint: string };
};

/** What a plugin's Worker is first told: what to load, and what its context holds. */
export interface PluginInit {
  kind: "plugin";
  name: string;
  dir: string;
  tools: string[];
  config: Readonly<Record<string, unknown>>;
  agent: string;
  dataDir: string | null;
}

/** What the main thread tells a plugin's Worker after its init. */
export type PluginOrder =
  | { t: "call"; id: number; tool: string; input: unknown; maxSize: number }
  | { t: "abort"; id: number }
  | { t: "gate-reply"; id: number; reply: GateReply }
  | { t: "state-reply"; id: number; reply: StateReply };

/** What a plugin's Worker posts. */
export type PluginMessage =
  | { t: "ready" }
  | { t: "broken"; message: string; hint: string }
  | { t: "gate"; id: number; op: string; args: string }
  | { t: "log"; level: string; message: string }
  | { t: "state"; id: number; args: Record<string, unknown> }
  | { t: "result"; id: number; json: string | null; size: number }
  | { t: "not-json"; id: number; message: string }
  | {
    t: "failure";
    id: number;
    error: { name: string; message: string; hint: string | null } | null;
    value: string;
  }
  | { t: "gone"; message: string };

/** How a call ended in the plugin's Worker. */
type CallEnd = Extract<PluginMessage, { t: "result" | "not-json" | "failure" }>;

/** A plugin tool: its plugin's Worker (null for an `[mcp]` plugin's), and what its input is checked against. */
interface ToolEntry {
  plugin: PluginWorker | null;
  /** A remote `[mcp]` plugin's runner (its server reached through the gate); null otherwise. */
  remote: RemoteMcpRunner | null;
  /** The plugin's name. */
  pluginName: string;
  tool: string;
  /** The JSON Schema of its input. */
  schema: Record<string, unknown>;
}

/**
 * Starts a Worker for each used plugin (each loads its code there) and
 * returns the runner of their tools.
 *
 * @param context The run: its Policy, the agent's gate (each plugin gets its own view of it), where plugin logs go.
 * @param options Each plugin's own folder, and the plugin API file.
 * @returns The runner; it throws GateErrors the gate passes on.
 * @throws {GateError} `ERR_IO` when a plugin cannot be loaded or lacks a handler.
 */
export async function loadPlugins(
  context: PluginHostContext,
  options: LoadPluginsOptions = {},
): Promise<ToolRunner> {
  const { policy } = context;
  const dataDirs = options.dataDirs ?? {};
  const entries = new Map<string, ToolEntry>();
  for (const plugin of policy.plugins.filter((p) => p.mcp)) {
    const url = plugin.mcp!.url;
    const remote = url === null ? null : remoteMcpRunner(context, {
      name: plugin.name,
      url,
      timeoutMs: Math.min(plugin.mcp!.timeoutS, policy.limits.stepTimeoutS) * 1000,
    });
    for (const tool of plugin.tools) {
      entries.set(`${plugin.name}.${tool.name}`, {
        plugin: null,
        remote,
        pluginName: plugin.name,
        tool: tool.name,
        schema: tool.input as Record<string, unknown>,
      });
    }
  }
  const workers = policy.plugins.filter((p) => !p.mcp).map((plugin) => {
    const dataDir = dataDirs[plugin.name] ?? null;
    const permissions = pluginWorkerPermissions(policy, {
      plugin: plugin.name,
      dataDir,
      code: options.apiFile ? [options.apiFile] : [],
    });
    const worker = new PluginWorker(context, plugin, { dataDir, permissions, state: options.state ?? null });
    for (const tool of plugin.tools) {
      entries.set(`${plugin.name}.${tool.name}`, {
        plugin: worker,
        remote: null,
        pluginName: plugin.name,
        tool: tool.name,
        schema: tool.input as Record<string, unknown>,
      });
    }
    return worker;
  });
  await Promise.all(workers.map((w) => w.start()));
  const timeoutMs = Math.min(policy.limits.stepTimeoutS * 1000, MAX_TOOL_TIMEOUT_MS);
  return async (name, input) => {
    const { plugin, tool, pluginName, remote } = checkedEntry(entries, name, input);
    if (remote !== null) return await remote(tool, structuredClone(input));
    if (plugin === null) return await mcpCall(name, { pluginName, tool, input }, options.mcp, policy);
    await plugin.start(); // a Worker stopped at a deadline loads again first, on its own deadline
    const controller = new AbortController();
    const end = await withDeadline(
      name,
      () => plugin.call(tool, structuredClone(input), controller.signal),
      { controller, timeoutMs },
    );
    return { output: jsonResult(name, end) };
  };
}

/**
 * One call of an `[mcp]` plugin's tool: a request to the supervisor, which runs its server and keeps its
 * `timeout_s`; the deadline here comes after the supervisor's, for a supervisor that does not answer at all.
 */
async function mcpCall(
  name: string,
  call: { pluginName: string; tool: string; input: unknown },
  send: StateRequest | undefined,
  policy: PluginHostContext["policy"],
): Promise<unknown> {
  if (!send) {
    throw new GateError("ERR_UNSUPPORTED", `The tool "${name}" needs the supervisor`, "", "tool");
  }
  const controller = new AbortController();
  const plugin = policy.plugins.find((p) => p.name === call.pluginName);
  const timeoutMs = Math.min(plugin?.mcp?.timeoutS ?? 600, policy.limits.stepTimeoutS) * 1000 + 5000;
  try {
    return await withDeadline(
      name,
      () => send({ plugin: call.pluginName, tool: call.tool, input: structuredClone(call.input) }),
      { controller, timeoutMs },
    );
  } catch (e) {
    if (!(e instanceof GateError) || e.code !== "ERR_TOOL") throw e;
    // The supervisor's answer crossed the wire with its code: one a gate call may carry passes.
    const cause = (e as { cause?: unknown }).cause as { code?: unknown; message?: string; hint?: string };
    const code = isGateErrorCode(cause?.code) ? cause.code : "ERR_TOOL";
    throw new GateError(code, cause?.message ?? e.message, cause?.hint ?? "", "tool.error");
  }
}

/** The tool's entry, once its name is granted and its input fits its schema. */
function checkedEntry(handlers: Map<string, ToolEntry>, name: string, input: unknown): ToolEntry {
  const entry = handlers.get(name);
  if (!entry) {
    throw new GateError(
      "ERR_CAPABILITY_DENIED",
      `The tool "${name}" is not granted`,
      "use a tool of a plugin the manifest uses",
      "tool",
    );
  }
  const problem = inputProblem(entry.schema, input);
  if (problem) {
    throw new GateError(
      "ERR_INVALID_ARGS",
      `The input of "${name}" is invalid: ${problem}`,
      "send input that fits the tool's schema",
      "tool.input",
    );
  }
  return entry;
}

/** Runs a tool's handler against its deadline (aborting its signal when it passes); every failure a GateError. */
async function withDeadline<T>(
  name: string,
  call: () => Promise<T>,
  limit: { controller: AbortController; timeoutMs: number },
): Promise<T> {
  const { controller, timeoutMs } = limit;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(
        new GateError(
          "ERR_LIMIT",
          `The tool "${name}" took longer than ${timeoutMs / 1000} s`,
          "raise [limits] step_timeout_s, or ask it for less",
          "tool.timeout",
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (e) {
    throw toolFailure(name, e);
  } finally {
    clearTimeout(timer);
  }
}

/** The GateError for a failed call: one already typed passes, what a handler threw is a tool error. */
function toolFailure(name: string, e: unknown): GateError {
  if (e instanceof GateError) return e;
  const error = new GateError(
    "ERR_TOOL",
    `The tool "${name}" failed: ${(e as Error)?.message ?? String(e)}`,
    "",
    "tool.error",
  );
  return Object.assign(error, { cause: e });
}

/** A tool's result as plain JSON, checked to be JSON and not too large; what it threw as a typed error. */
function jsonResult(name: string, end: CallEnd): unknown {
  if (end.t === "failure") {
    const { error } = end;
    if (error === null) {
      throw new GateError(
        "ERR_TOOL",
        `The tool "${name}" threw a value that is not an Error: ${end.value}`,
        "",
        "tool.error",
      );
    }
    throw new GateError(
      "ERR_TOOL",
      `The tool "${name}" failed: ${error.message}`,
      isPluginGateError(error) ? error.hint! : "",
      "tool.error",
    );
  }
  if (end.t === "not-json") {
    throw new GateError(
      "ERR_TOOL",
      `The tool "${name}" returned something that is not JSON: ${end.message}`,
      "",
      "tool.result",
    );
  }
  if (end.json === null || end.size > MAX_TOOL_RESULT || end.json.length > MAX_TOOL_RESULT) {
    throw new GateError(
      "ERR_LIMIT",
      `The tool "${name}" returned ${
        Math.max(end.size, end.json?.length ?? 0)
      } characters, more than ${MAX_TOOL_RESULT}`,
      "ask it for less",
      "tool.size",
    );
  }
  try {
    return JSON.parse(end.json);
  } catch {
    throw new GateError(
      "ERR_TOOL",
      `The tool "${name}" returned something that is not JSON`,
      "",
      "tool.result",
    );
  }
}

/** What is a plugin's own: its folder, its Worker's permissions, its way to its state. */
interface PluginOwn {
  dataDir: string | null;
  permissions: WorkerPermissions;
  state: StateRequest | null;
}

/** A call waiting for its end in the plugin's Worker. */
interface PendingCall {
  resolve: (end: CallEnd) => void;
  reject: (e: GateError) => void;
}

/**
 * One plugin's Worker, started again when it was stopped: a call whose
 * deadline passed, a crash, a broken protocol or an exit stops it, and every
 * call it was running fails.
 */
class PluginWorker {
  #context: PluginHostContext;
  #plugin: PolicyPlugin;
  #own: PluginOwn;
  #worker: Worker | null = null;
  #ready: Promise<void> | null = null;
  #calls = new Map<number, PendingCall>();
  #nextCall = 1;

  constructor(
    context: PluginHostContext,
    plugin: PolicyPlugin,
    own: PluginOwn,
  ) {
    this.#context = context;
    this.#plugin = plugin;
    this.#own = own;
  }

  /** Starts the Worker if it is not running, and waits until its plugin is loaded. */
  start(): Promise<void> {
    this.#ready ??= this.#spawn().catch((e) => {
      this.#stop(e);
      throw e;
    });
    return this.#ready;
  }

  /** Runs one tool call; its signal aborting (the deadline) stops the Worker. */
  async call(tool: string, input: unknown, signal: AbortSignal): Promise<CallEnd> {
    await this.start();
    const worker = this.#worker!;
    const id = this.#nextCall++;
    const ended = new Promise<CallEnd>((resolve, reject) => this.#calls.set(id, { resolve, reject }));
    signal.addEventListener("abort", () => {
      if (!this.#calls.has(id) || this.#worker !== worker) return;
      worker.postMessage({ t: "abort", id } satisfies PluginOrder);
      this.#stop(this.#failure("was stopped: a call of it passed its deadline"));
    }, { once: true });
    worker.postMessage({ t: "call", id, tool, input, maxSize: MAX_TOOL_RESULT } satisfies PluginOrder);
    return await ended;
  }

  /** Makes the Worker and waits for its `ready` (or `broken`, a crash, or the load deadline). */
  #spawn(): Promise<void> {
    const plugin = this.#plugin;
    let worker: Worker;
    try {
      worker = new Worker(guestEntry(), {
        type: "module",
        name: GUEST_WORKER_NAME,
        deno: { permissions: this.#own.permissions },
      });
    } catch (e) {
      return Promise.reject(loadError(plugin, `its Worker cannot start: ${(e as Error).message}`));
    }
    this.#worker = worker;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(loadError(plugin, "it did not load in time")), LOAD_TIMEOUT_MS);
      const loaded = (e: GateError | null) => {
        clearTimeout(timer);
        e === null ? resolve() : reject(e);
      };
      worker.onmessage = (e: MessageEvent<PluginMessage>) => this.#onMessage(worker, e.data, loaded);
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        loaded(loadError(plugin, e.message));
        this.#stop(this.#failure(`failed: ${e.message}`));
      };
      worker.onmessageerror = () => this.#stop(this.#failure("sent a message that cannot be read"));
      const init: PluginInit = {
        kind: "plugin",
        name: plugin.name,
        dir: plugin.dir,
        tools: plugin.tools.map((t) => t.name),
        config: plugin.config,
        agent: this.#context.policy.agent.name,
        dataDir: this.#own.dataDir,
      };
      worker.postMessage(init);
    });
  }

  /** Handles one message of the Worker; anything unexpected stops it. */
  #onMessage(worker: Worker, m: PluginMessage, loaded: (e: GateError | null) => void): void {
    if (this.#worker !== worker) return;
    const t = typeof m === "object" && m !== null ? m.t : undefined;
    if (t === "ready") return loaded(null);
    if (t === "broken") {
      const broken = m as Extract<PluginMessage, { t: "broken" }>;
      return loaded(new GateError("ERR_IO", String(broken.message), String(broken.hint), "plugin"));
    }
    if (t === "log") return this.#log(m as Extract<PluginMessage, { t: "log" }>);
    if (t === "gate") return this.#gate(worker, m as Extract<PluginMessage, { t: "gate" }>);
    if (t === "state") return this.#state(worker, m as Extract<PluginMessage, { t: "state" }>);
    if (t === "gone") {
      return this.#stop(this.#failure(`ended: ${String((m as { message: unknown }).message)}`));
    }
    const id = (m as { id?: unknown }).id;
    const call = typeof id === "number" ? this.#calls.get(id) : undefined;
    if ((t === "result" || t === "not-json" || t === "failure") && call) {
      this.#calls.delete(id as number);
      return call.resolve(m as CallEnd);
    }
    this.#stop(this.#failure("broke its protocol"));
  }

  /** Records a log line of the plugin, as its own. */
  #log(m: Extract<PluginMessage, { t: "log" }>): void {
    const level = LEVELS.has(m.level) ? m.level : "info";
    this.#context.emit({
      type: "log",
      level,
      source: `plugin ${this.#plugin.name}`,
      message: String(m.message).slice(0, MAX_LOG),
    });
  }

  /** Answers a gate call of the plugin with its own view of the gate. */
  #gate(worker: Worker, m: Extract<PluginMessage, { t: "gate" }>): void {
    const gate = this.#context.gate.forPlugin(this.#plugin.name);
    gate.call(String(m.op), String(m.args)).then((reply) => {
      if (this.#worker === worker) {
        worker.postMessage({ t: "gate-reply", id: m.id, reply } satisfies PluginOrder);
      }
    });
  }

  /** Passes a store operation of the plugin to the supervisor, as this plugin's (its name set here). */
  #state(worker: Worker, m: Extract<PluginMessage, { t: "state" }>): void {
    const send = this.#own.state;
    const args = typeof m.args === "object" && m.args !== null ? m.args : {};
    const asked: Promise<unknown> = send
      ? send({ ...args, plugin: this.#plugin.name })
      : Promise.reject(Object.assign(new Error("This run has no plugin store"), { code: "ERR_UNSUPPORTED" }));
    asked.then(
      (result): StateReply => ({ ok: true, result }),
      (e): StateReply => ({
        ok: false,
        error: {
          code: String((e as { code?: unknown }).code ?? "ERR_STORE"),
          message: String((e as Error)?.message ?? e),
          hint: String((e as { hint?: unknown }).hint ?? ""),
        },
      }),
    ).then((reply) => {
      if (this.#worker === worker) {
        worker.postMessage({ t: "state-reply", id: m.id, reply } satisfies PluginOrder);
      }
    });
  }

  /** The error a stopped Worker's calls fail with. */
  #failure(what: string): GateError {
    return new GateError(
      "ERR_TOOL",
      `The plugin "${this.#plugin.name}" ${what}`,
      "its next call starts it again",
      "tool.error",
    );
  }

  /**
   * Terminates the Worker, fails its calls, and lets the next call start it again. (Deno 2.9 does not stop
   * a Worker stuck in a busy loop, denoland/deno#35657: such a thread ends with the sandbox process.)
   */
  #stop(error: GateError): void {
    const worker = this.#worker;
    this.#worker = null;
    this.#ready = null;
    worker?.terminate();
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) call.reject(error);
  }
}

/** The GateError of a plugin that cannot be loaded. */
function loadError(plugin: PolicyPlugin, why: string): GateError {
  return new GateError(
    "ERR_IO",
    `Plugin "${plugin.name}" cannot be loaded: ${why}`,
    "fix its mod.ts",
    "plugin",
  );
}
