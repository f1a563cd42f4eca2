/**
 * One local MCP server of an `[mcp]` plugin, run by the supervisor: a Deno
 * child with `--no-prompt` and exactly the plugin's permissions as its flags,
 * an environment holding only Deno's cache folder and the variables it is
 * granted, its own process group (killed whole when it stops), and MCP spoken
 * to it as JSON-RPC lines over its standard input and output.
 *
 * A small client of its own rather than `@modelcontextprotocol/sdk`'s
 * `StdioClientTransport` (read in 1.32.2): that one always merges `HOME`,
 * `LOGNAME`, `PATH`, `SHELL`, `TERM` and `USER` of the parent into the
 * server's environment (which must hold only what the plugin is granted),
 * spawns through `cross-spawn` without a process group of its own, and kills
 * only its direct child. What a hostile server sends must end one call with a
 * typed error and never grow the supervisor's memory.
 * Everything that is not a well-formed answer (a line that is not JSON-RPC, a
 * line past {@linkcode MAX_MCP_LINE}) stops the server and fails its calls
 * with `ERR_MCP_PROTOCOL`; an exit fails them with `ERR_MCP_EXITED`; a call
 * without an answer in time fails with `ERR_MCP_TIMEOUT` and stops it. A
 * stopped server starts again at its next call.
 *
 * @module
 */

import { McpHttpError } from "../protocol/mcp_http.ts";
import { grantedEnv } from "./spawn.ts";
import { join } from "node:path";
import type { ErrorCode } from "../manifests/errors.ts";
import type { McpServerPlan } from "../capabilities/mcp_flags.ts";
import type { RunEvent } from "../protocol/protocol.ts";

/** The longest line a server may send, in bytes (a larger answer is a protocol error). */
export const MAX_MCP_LINE = 4 * 1024 * 1024;
/** The most of a server's standard error the run's record keeps, in bytes, per server and run. */
export const MAX_MCP_STDERR = 64 * 1024;
/** The longest one recorded line of a server's standard error, in characters. */
const MAX_STDERR_LINE = 4096;
/** The MCP protocol version this client asks for. */
export const MCP_PROTOCOL_VERSION = "2025-06-18";

/** util-linux's setsid, to give each server its own process group (null where it is missing). */
const SETSID: string | null = ["/usr/bin/setsid", "/bin/setsid"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? null;

/** A failure of an MCP server or of one of its calls, with a code and a hint: the one of remote servers too. */
export const McpError = McpHttpError;
/** A failure of an MCP server or of one of its calls. */
export type McpError = McpHttpError;

/** Where a server runs from: its plugin, Deno, and the cache folder its npm package is in. */
export interface McpServerOptions {
  /** The plugin's name. */
  plugin: string;
  /** The plugin's folder (a `command` that is a file is relative to it). */
  dir: string;
  /** The Deno cache folder holding its package (read by Deno itself, never granted to the server). */
  denoDir: string;
  /** The Deno executable; default this process's own. */
  deno?: string;
  /** Records an event (the server's standard error, its start and exit). */
  emit?: (event: RunEvent) => void;
}

/**
 * The argv of a plugin's server: Deno with exactly its flags, then its code and arguments.
 *
 * @param plan The server's plan.
 * @param options Its plugin folder and the Deno executable.
 * @returns The argv, program first.
 */
export function mcpServerCommand(plan: McpServerPlan, options: { dir: string; deno?: string }): string[] {
  const target = plan.command!.startsWith("npm:") ? plan.command! : join(options.dir, plan.command!);
  return [options.deno ?? Deno.execPath(), "run", ...plan.flags.map((f) => f.flag), target, ...plan.args];
}

/** The server's environment: Deno's cache folder and its granted variables, nothing else of the supervisor's. */
function serverEnv(plan: McpServerPlan, denoDir: string): Record<string, string> {
  return { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...grantedEnv(plan.env) };
}

/** A request waiting for its answer. */
interface Pending {
  resolve: (result: unknown) => void;
  reject: (e: McpError) => void;
}

/** One running child: its process, writer and pending requests. */
interface Child {
  process: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  pending: Map<number, Pending>;
  /** Why it stopped, once it did. */
  stopped: McpError | null;
  stderrTail: string;
}

/** A plugin's local MCP server, started on first use and again after it stopped. */
export class McpServer {
  readonly #plan: McpServerPlan;
  readonly #options: McpServerOptions;
  #child: Child | null = null;
  #ready: Promise<Child> | null = null;
  #nextId = 1;
  #stderrLeft = MAX_MCP_STDERR;
  #closed = false;

  /**
   * @param plan The server's plan (its command, arguments, flags, variables).
   * @param options Its plugin, Deno cache folder and where its events go.
   */
  constructor(plan: McpServerPlan, options: McpServerOptions) {
    this.#plan = plan;
    this.#options = options;
  }

  /** The process id of the running child, or null. */
  get pid(): number | null {
    return this.#child?.process.pid ?? null;
  }

  /** Starts the server (if it is not running) and finishes the MCP handshake. */
  start(): Promise<Child> {
    if (this.#closed) return Promise.reject(this.#error("ERR_MCP_EXITED", "was stopped with its run", ""));
    this.#ready ??= this.#spawn().catch((e) => {
      this.#ready = null;
      throw e;
    });
    return this.#ready;
  }

  /**
   * Sends one request and waits for its answer, at most `timeoutMs`.
   *
   * @param method The JSON-RPC method.
   * @param params Its params.
   * @param timeoutMs How long to wait (past it the server is stopped).
   * @returns The answer's `result`.
   * @throws {McpError} ERR_MCP_* on every failure; an `error` answer is ERR_MCP_TOOL.
   */
  async request(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const child = await this.#within(this.start(), timeoutMs, `did not start within ${timeoutMs / 1000} s`);
    return await this.#within(
      this.#send(child, method, params),
      timeoutMs,
      `gave no answer to ${method} ` +
        `within ${timeoutMs / 1000} s`,
    );
  }

  /** Stops the server for good: its process group is killed, its calls fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    this.#kill(this.#error("ERR_MCP_EXITED", "was stopped with its run", ""));
    if (child) await child.process.status.catch(() => {});
  }

  /** Waits for `p` at most `timeoutMs`; past it the server is stopped and the wait fails with ERR_MCP_TIMEOUT. */
  async #within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = this.#error(
          "ERR_MCP_TIMEOUT",
          what,
          "raise timeout_s in the plugin's [mcp], or ask it for less",
        );
        this.#kill(e);
        reject(e);
      }, timeoutMs);
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Spawns the child in its own process group, starts its readers, and does the MCP handshake. */
  async #spawn(): Promise<Child> {
    const argv = mcpServerCommand(this.#plan, this.#options);
    const [program, ...args] = SETSID ? [SETSID, ...argv] : argv;
    let process: Deno.ChildProcess;
    try {
      process = new Deno.Command(program!, {
        args,
        clearEnv: true,
        env: serverEnv(this.#plan, this.#options.denoDir),
        cwd: this.#options.dir,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      throw this.#error(
        "ERR_MCP_START",
        `cannot be started: ${(e as Error).message}`,
        "check its [mcp] command",
      );
    }
    const child: Child = {
      process,
      writer: process.stdin.getWriter(),
      pending: new Map(),
      stopped: null,
      stderrTail: "",
    };
    this.#child = child;
    this.#emit({ type: "mcp", plugin: this.#options.plugin, phase: "start", pid: process.pid });
    this.#readLines(child);
    const stderrRead = this.#readStderr(child);
    // Its last words are read before its exit is told (at most a moment: a grandchild may hold stderr open).
    process.status.then(async (status) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([stderrRead, new Promise((r) => timer = setTimeout(r, 250))]);
      clearTimeout(timer);
      this.#exited(child, status);
    });
    await this.#send(child, "initialize", {
      protocolVersion: MCP_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "ironclaw", version: "0" },
    }).catch((e: McpError) => {
      const error = this.#error("ERR_MCP_START", `failed its MCP handshake: ${e.message}`, e.hint);
      this.#kill(error, child); // a server that failed its handshake is not left running
      throw error;
    });
    await this.#write(child, { jsonrpc: "2.0", method: "notifications/initialized" });
    return child;
  }

  /** Sends a request to a running child; its answer (or the child's end) settles it. */
  #send(child: Child, method: string, params: Record<string, unknown>): Promise<unknown> {
    if (child.stopped) return Promise.reject(child.stopped);
    const id = this.#nextId++;
    const answer = new Promise<unknown>((resolve, reject) => child.pending.set(id, { resolve, reject }));
    this.#write(child, { jsonrpc: "2.0", id, method, params }).catch(() => {});
    return answer;
  }

  async #write(child: Child, message: Record<string, unknown>): Promise<void> {
    try {
      await child.writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n"));
    } catch {
      // Its input is closed: it exited, which its status reports.
    }
  }

  /** Reads its output as JSON-RPC lines, each at most {@linkcode MAX_MCP_LINE} bytes. */
  async #readLines(child: Child): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of child.process.stdout) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line !== "") this.#onLine(child, line);
          if (child.stopped) return;
        }
        if (buffer.length > MAX_MCP_LINE) {
          return this.#kill(this.#error(
            "ERR_MCP_PROTOCOL",
            `sent a line longer than ${MAX_MCP_LINE} bytes`,
            "ask it for less; a server that floods its output is stopped",
          ));
        }
      }
    } catch { /* its output closed with it */ }
  }

  /** Handles one line: an answer settles its request, a request of the server is declined, the rest is ignored. */
  #onLine(child: Child, line: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line);
      if (typeof m !== "object" || m === null || Array.isArray(m) || m.jsonrpc !== "2.0") throw new Error();
    } catch {
      return this.#kill(this.#error(
        "ERR_MCP_PROTOCOL",
        `sent a line that is not JSON-RPC: ${JSON.stringify(line.slice(0, 200))}`,
        "an MCP server must write only JSON-RPC messages to its standard output (logs go to standard error)",
      ));
    }
    const isAnswer = !("method" in m) && (typeof m.id === "number" || typeof m.id === "string");
    if (isAnswer) {
      const pending = child.pending.get(m.id as number);
      if (!pending) return; // an answer to a request already failed
      child.pending.delete(m.id as number);
      if (m.error !== undefined) {
        const err = m.error as { message?: unknown; code?: unknown };
        return pending.reject(
          this.#error("ERR_MCP_TOOL", `answered an error: ${String(err?.message ?? err)}`, ""),
        );
      }
      return pending.resolve(m.result);
    }
    if (typeof m.method === "string" && m.id !== undefined) {
      // Sampling, roots, elicitation: this client offers none.
      this.#write(child, { jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "Not supported" } });
    }
  }

  /** Records its standard error line by line, at most {@linkcode MAX_MCP_STDERR} bytes in all. */
  async #readStderr(child: Child): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    const flush = (line: string) => {
      if (this.#stderrLeft <= 0 || line.trim() === "") return;
      const data = line.slice(0, MAX_STDERR_LINE);
      this.#stderrLeft -= data.length;
      child.stderrTail = data;
      const truncated = this.#stderrLeft <= 0;
      this.#emit({
        type: "mcp-stderr",
        plugin: this.#options.plugin,
        data,
        ...(truncated ? { truncated } : {}),
      });
    };
    try {
      for await (const chunk of child.process.stderr) {
        buffer += decoder.decode(chunk, { stream: true });
        const lines = buffer.split("\n");
        buffer = lines.pop()!.slice(-MAX_STDERR_LINE);
        lines.forEach(flush);
      }
    } catch { /* closed with it */ }
    flush(buffer);
  }

  /** The child exited: its calls fail (if nothing else stopped it first) and the next call starts it again. */
  #exited(child: Child, status: Deno.CommandStatus): void {
    this.#emit({
      type: "mcp",
      plugin: this.#options.plugin,
      phase: "exit",
      pid: child.process.pid,
      code: status.code,
      signal: status.signal,
    });
    const last = child.stderrTail
      ? ` (its last words: ${JSON.stringify(child.stderrTail.slice(0, 300))})`
      : "";
    this.#kill(
      this.#error(
        "ERR_MCP_EXITED",
        `exited with code ${status.code}${last}`,
        "its next call starts it again",
      ),
      child,
    );
  }

  /** Stops a child (default the running one): kills its process group and fails its pending requests. */
  #kill(error: McpError, which: Child | null = this.#child): void {
    if (!which) return;
    if (this.#child === which) {
      this.#child = null;
      this.#ready = null;
    }
    if (!which.stopped) {
      which.stopped = error;
      try {
        if (SETSID) Deno.kill(-which.process.pid, "SIGKILL");
        else which.process.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    const pending = [...which.pending.values()];
    which.pending.clear();
    for (const p of pending) p.reject(which.stopped);
  }

  #error(code: ErrorCode, what: string, hint: string): McpError {
    return new McpError(code, `The MCP server of plugin "${this.#options.plugin}" ${what}`, hint);
  }

  #emit(event: RunEvent): void {
    this.#options.emit?.(event);
  }
}
