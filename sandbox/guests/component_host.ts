/**
 * Running a prepared component inside the sandbox: instantiate it fresh, give
 * it the `ironclaw:agent/host` interface (backed by the host gate) and nothing
 * else, and call `run(task)`.
 *
 * @module
 */

import { join } from "node:path";
import { toFileUrl } from "../file_url.ts";
import type { GateReply } from "../gate/mod.ts";
import { isWaitingOp } from "../../protocol/gate_ops.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import type { AgentRunner, GuestContext } from "../runner.ts";

/** The longest guest log message kept, in characters. */
const MAX_LOG = 64 * 1024;

interface Agent {
  run(task: string): Promise<string>;
}

/** What a component run needs besides the {@linkcode GuestContext}. */
export interface ComponentOptions {
  /** The prepared component's cache folder, and whether its calls may wait. */
  module: { dir: string; waits: boolean };
  /**
   * Its core modules' bytes by file name, read by the main thread (a guest's Worker has no read permission);
   * default read from the folder.
   */
  cores?: Readonly<Record<string, Uint8Array>>;
  /** The host glue's source (`agent.js`), read by the main thread; default imported from the folder. */
  glue?: string;
  /** The glue already imported and the core modules already compiled ({@linkcode compileComponent}). */
  compiled?: CompiledComponent;
}

/** A component's host glue, imported, and its core modules, compiled and instantiated (its host bound later). */
export interface CompiledComponent {
  /** The glue's `instantiate`. */
  instantiate: Instantiate;
  /** The compiled core modules, by file name. */
  modules: ReadonlyMap<string, WebAssembly.Module>;
  /**
   * The instance made ahead, never run, whose host imports call the host bound to it (once); null when the
   * instantiation failed (the run instantiates again, and says why).
   */
  instance: { agent: Agent; bind(host: Host): void } | null;
}

/** The host imports of a component (`ironclaw:agent/host`). */
interface Host {
  call(op: unknown, args: unknown): string | Promise<string>;
  log(level: unknown, message: unknown): void;
}

/** jco's `instantiate` of the host glue. */
type Instantiate = (
  getCoreModule: (name: string) => Promise<WebAssembly.Module>,
  imports: Record<string, unknown>,
) => Promise<Agent>;

/** Imports a component's glue from its source, or from its folder when none is given. */
async function importGlue(dir: string, glue: string | undefined): Promise<Instantiate> {
  const url = glue === undefined
    ? toFileUrl(join(dir, "agent.js"))
    : URL.createObjectURL(new Blob([glue], { type: "text/javascript" }));
  return (await import(url)).instantiate as Instantiate;
}

/**
 * Imports a component's glue and compiles its core modules ahead of a run (a pooled sandbox's guest Worker):
 * what is left for the run is to instantiate them with its host.
 *
 * @param cores The core modules' bytes, by file name.
 * @param glue The host glue's source.
 * @returns The instantiable component.
 */
export async function compileComponent(
  cores: Readonly<Record<string, Uint8Array>>,
  glue: string,
): Promise<CompiledComponent> {
  const instantiate = await importGlue("", glue);
  const modules = new Map<string, WebAssembly.Module>();
  for (const [name, bytes] of Object.entries(cores)) {
    modules.set(name, await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>));
  }
  let bound: Host | null = null;
  // Until a run binds its host, an import answers that there is none (instantiation calls none).
  const forward: Host = {
    call: (op, args) => {
      if (bound === null) {
        throw JSON.stringify({ code: "ERR_SANDBOX", message: "No run has started", hint: "" });
      }
      return bound.call(op, args);
    },
    log: (level, message) => bound?.log(level, message),
  };
  const getCoreModule = (name: string) => {
    const m = modules.get(name);
    return m ? Promise.resolve(m) : Promise.reject(new Error(`the component has no core module "${name}"`));
  };
  const agent = await instantiate(getCoreModule, { "ironclaw:agent/host": forward }).catch(() => null);
  const bind = (host: Host) => {
    if (bound !== null) throw new Error("unreachable: an instance made ahead is bound once");
    bound = host;
  };
  return { instantiate, modules, instance: agent === null ? null : { agent, bind } };
}

/**
 * Instantiates the prepared component and runs it on the context's task: an
 * {@linkcode AgentRunner} with {@linkcode ComponentOptions}.
 *
 * @param context The run: its task, its host gate, and where guest logs go.
 * @param options The prepared component.
 * @returns How the guest ended.
 */
export async function runComponent(context: GuestContext, options: ComponentOptions): Promise<GuestOutcome> {
  const { task, gate, emit } = context;
  const { dir, waits } = options.module;
  const instantiate = options.compiled?.instantiate ?? await importGlue(dir, options.glue);
  const host: Host = {
    // Host functions throw strings only: jco turns a string into the guest's err; anything else traps.
    // Ops that need not wait answer at once: a component prepared without waiting (no waiting op granted,
    // see componentWaits) never suspends, and one prepared to wait suspends (JSPI) only for the ops that
    // wait in GATE_OPS.
    call: (op: unknown, args: unknown): string | Promise<string> => {
      const name = String(op);
      const unwrap = (reply: GateReply) => {
        if (reply.ok) return reply.json;
        throw JSON.stringify(reply.error);
      };
      return waits && isWaitingOp(name)
        ? gate.call(name, String(args)).then(unwrap)
        : unwrap(gate.callSync(name, String(args)));
    },
    log: (level: unknown, message: unknown) => {
      const text = String(message);
      emit({
        type: "log",
        level: String(level).slice(0, 16),
        message: text.length > MAX_LOG ? text.slice(0, MAX_LOG) + "..." : text,
      });
    },
  };
  const cores = options.cores;
  const getCoreModule = async (name: string) => {
    const compiled = options.compiled?.modules.get(name);
    if (compiled) return compiled;
    const bytes = cores ? cores[name] : await Deno.readFile(join(dir, name));
    if (!bytes) throw new Error(`the component has no core module "${name}"`);
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  };
  let agent: Agent;
  const ahead = options.compiled?.instance;
  if (ahead) {
    ahead.bind(host);
    agent = ahead.agent;
  } else {
    try {
      agent = await instantiate(getCoreModule, { "ironclaw:agent/host": host });
    } catch (e) {
      return {
        state: "error",
        output: null,
        error: {
          code: "ERR_MODULE_INVALID",
          message: `The component cannot be instantiated: ${describe(e)}`,
          hint: "build it against wit/agent.wit",
        },
      };
    }
  }
  try {
    const output = await agent.run(task);
    if (typeof output !== "string") {
      return {
        state: "error",
        output: null,
        error: {
          code: "ERR_AGENT",
          message: "run() returned something other than a string",
          hint: "return a string from run()",
        },
      };
    }
    return { state: "ok", output, error: null };
  } catch (e) {
    return thrownOutcome(e);
  }
}

// The one runner shape, checked.
runComponent satisfies AgentRunner<ComponentOptions>;

/** How a run that threw ended: a string is the agent's own error (or its OOM), anything else a trap. */
function thrownOutcome(e: unknown): GuestOutcome {
  if (typeof e === "string") {
    if (/^out of memory$/i.test(e.trim()) || /InternalError: out of memory/.test(e)) {
      return {
        state: "oom",
        output: null,
        error: {
          code: "ERR_MEMORY",
          message: "The agent ran out of WebAssembly memory",
          hint: "raise [limits] memory_mb in the manifest",
        },
      };
    }
    return {
      state: "error",
      output: null,
      error: { code: "ERR_AGENT", message: `The agent failed: ${e.slice(0, 4096)}`, hint: "" },
    };
  }
  return {
    state: "error",
    output: null,
    error: {
      code: "ERR_AGENT_TRAP",
      message: `The agent trapped: ${describe(e)}`,
      hint: "a component must return a string or throw an Error or string",
    },
  };
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
