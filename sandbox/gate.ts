/**
 * The host gate: the one door between a guest and the world. Every guest
 * action is one request `{op, args}` with JSON args; the gate checks it against
 * the Policy, counts it against the limits, executes it, caps its size, and
 * records it as an event with the decision and the rule that made it.
 *
 * Runs inside the sandbox process, whose Deno flags are a second, independent wall.
 *
 * @module
 */

import { posix } from "node:path";
import { decodeBase64, encodeBase64 } from "./_base64.ts";
import type { PathGrant, Policy } from "../capabilities/policy.ts";
import { isWithin } from "../capabilities/paths.ts";
import { isPrivateAddress, matchNet } from "../capabilities/net.ts";
import { matchEnv, matchProgram } from "../capabilities/commands.ts";
import type { RunEvent, SecretValue } from "../protocol/protocol.ts";
import type { ModelErrorCode } from "../protocol/model_types.ts";

/** The version of the gate's op ABI (`docs/abi.md`). */
export const GATE_ABI_VERSION = "0.1.0";

/** Error codes a gate call can answer with. */
export type GateErrorCode =
  | "ERR_CAPABILITY_DENIED"
  | "ERR_NOT_FOUND"
  | "ERR_LIMIT"
  | "ERR_INVALID_ARGS"
  | "ERR_UNSUPPORTED"
  | "ERR_IO"
  | "ERR_TOOL"
  | ModelErrorCode;

/** A refused or failed gate call, as the guest receives it. */
export class GateError extends Error {
  /** Stable code. */
  readonly code: GateErrorCode;
  /** What to change. */
  readonly hint: string;
  /** The rule that decided, for the record. */
  readonly rule: string;

  /**
   * Makes a gate error.
   *
   * @param code Stable code.
   * @param message What happened.
   * @param hint What to change.
   * @param rule The rule that decided.
   */
  constructor(code: GateErrorCode, message: string, hint: string, rule: string) {
    super(message);
    this.code = code;
    this.hint = hint;
    this.rule = rule;
  }

  /** The JSON error the guest receives. */
  toJSON(): { code: string; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

/** The largest file `fs.read` returns and `fs.write` writes, in bytes. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
/** The largest HTTP response body `http.fetch` returns, in bytes. */
export const MAX_HTTP_BYTES = 8 * 1024 * 1024;
/** The most output `proc.run` keeps of each stream, in bytes. */
export const MAX_PROC_BYTES = 1024 * 1024;
/** The longest `http.fetch` or `proc.run` may take, in milliseconds. */
export const OP_TIMEOUT_MS = 30_000;

/** Options of {@linkcode HostGate}. */
export interface HostGateOptions {
  /** Receives every event (decisions, counts). */
  emit(event: RunEvent): void;
  /** False only in tests that prove the process flags hold alone: then nothing is checked here. */
  checks?: boolean;
  /** Resolves a host name to its addresses (the supervisor does it: the sandbox cannot reach a name server). */
  resolveHost?: (host: string) => Promise<string[]>;
  /** Asks the supervisor's model broker for a completion (`model.complete`). */
  complete?: (request: Record<string, unknown>) => Promise<unknown>;
  /** Runs a plugin tool (`tool.call`): checks its input and runs its handler, or throws a GateError. */
  tools?: (name: string, input: unknown) => Promise<unknown>;
  /** The plugin this gate acts for (see {@linkcode HostGate.forPlugin}); absent for the agent. */
  actor?: string;
  /** A call count shared with the gates of the same run. */
  counter?: { calls: number };
  /** Secret values to inject as headers into requests to their hosts, and to redact from what comes back. */
  secrets?: readonly SecretValue[];
}

type Args = Record<string, unknown>;

/** The answer to one gate call: the result as JSON text, or the error. */
export type GateReply =
  | { ok: true; json: string }
  | { ok: false; error: { code: string; message: string; hint: string } };
type Sync = "sync" | "async";

/**
 * The host gate of one run.
 *
 * @example Refused outside the grants
 * ```ts
 * import { HostGate } from "./gate.ts";
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "../capabilities/policy.ts";
 * const policy = resolvePolicy(
 *   parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, { path: "/srv/a/agent.toml" }),
 *   defaultRuntimeConfig("/srv"),
 * );
 * const gate = new HostGate(policy, { emit: () => {} });
 * const reply = await gate.call("env.get", `{"name":"HOME"}`);
 * if (reply.ok || reply.error.code !== "ERR_CAPABILITY_DENIED") throw new Error("should be denied");
 * ```
 */
export class HostGate {
  #policy: Policy;
  #emit: (event: RunEvent) => void;
  #checks: boolean;
  #resolveHost: (host: string) => Promise<string[]>;
  #complete: ((request: Record<string, unknown>) => Promise<unknown>) | undefined;
  #tools: ((name: string, input: unknown) => Promise<unknown>) | undefined;
  #options: HostGateOptions;
  #counter: { calls: number };
  #actor: string | null;

  /**
   * Makes the gate of one run.
   *
   * @param policy The run's Policy.
   * @param options Where events go, and (tests only) whether to check.
   */
  constructor(policy: Policy, options: HostGateOptions) {
    this.#policy = policy;
    this.#emit = options.emit;
    this.#checks = options.checks ?? true;
    this.#resolveHost = options.resolveHost ?? resolveDirectly;
    this.#complete = options.complete;
    this.#tools = options.tools;
    this.#options = options;
    this.#counter = options.counter ?? { calls: 0 };
    this.#actor = options.actor ?? null;
  }

  /** Calls made so far, refused ones included (the plugins' calls too). */
  get calls(): number {
    return this.#counter.calls;
  }

  /**
   * The gate as a plugin reaches it: its grants are the agent's and the plugin's
   * own (the agent's gate never uses a plugin's grants), and its calls count
   * against the same limit.
   *
   * @param plugin The plugin's name.
   * @returns A gate for that plugin.
   */
  forPlugin(plugin: string): HostGate {
    return new HostGate(this.#policy, { ...this.#options, actor: plugin, counter: this.#counter });
  }

  /** The grants this gate may use: the manifest's, and its plugin's own. */
  #mine<T extends { from: readonly { source: string }[] }>(grants: readonly T[]): T[] {
    const plugin = this.#actor === null ? null : `plugin ${this.#actor}`;
    return grants.filter((g) => g.from.some((o) => o.source === "manifest" || o.source === plugin));
  }

  /**
   * Handles one request. Never throws: the reply carries the result as JSON
   * text, or the error `{code, message, hint}`.
   *
   * @param op The operation, such as `fs.read`.
   * @param argsJson Its arguments as JSON text.
   * @returns The reply.
   */
  async call(op: string, argsJson: string): Promise<GateReply> {
    const started = performance.now();
    try {
      const args = this.#begin(op, argsJson);
      const result = await this.#dispatch(op, args, "async");
      return this.#allowed(op, args, result, started);
    } catch (e) {
      return this.#denied(op, argsJson, e, started);
    }
  }

  /**
   * Handles one request synchronously, for guests whose imports cannot wait
   * (WASI preview1 modules). Ops that must wait (`http.fetch`, `proc.run`)
   * answer `ERR_UNSUPPORTED`.
   *
   * @param op The operation.
   * @param argsJson Its arguments as JSON text.
   * @returns The reply.
   */
  callSync(op: string, argsJson: string): GateReply {
    const started = performance.now();
    try {
      const args = this.#begin(op, argsJson);
      const result = this.#dispatch(op, args, "sync");
      if (result instanceof Promise) throw new Error("unreachable: a sync op returned a promise");
      return this.#allowed(op, args, result, started);
    } catch (e) {
      return this.#denied(op, argsJson, e, started);
    }
  }

  #begin(op: string, argsJson: string): Args {
    // Model calls have their own budget (max_calls, max_tokens), kept by the supervisor's broker.
    if (op !== "model.complete") this.#counter.calls++;
    if (op !== "model.complete" && this.#counter.calls > this.#policy.limits.maxToolCalls) {
      throw new GateError(
        "ERR_LIMIT",
        `The run made more than ${this.#policy.limits.maxToolCalls} gate calls`,
        "raise [limits] max_tool_calls in the manifest",
        "limits.max_tool_calls",
      );
    }
    if (argsJson.length > MAX_FILE_BYTES * 2) {
      throw new GateError(
        "ERR_LIMIT",
        "The arguments are too large",
        `keep a request under ${MAX_FILE_BYTES * 2} bytes`,
        "size",
      );
    }
    let args: unknown;
    try {
      args = JSON.parse(argsJson);
    } catch {
      throw invalid(`The arguments of "${op}" are not JSON`, "pass a JSON object");
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      throw invalid(
        `The arguments of "${op}" must be a JSON object`,
        'pass an object such as {"path": "notes"}',
      );
    }
    return args as Args;
  }

  #allowed(op: string, args: Args, result: { value: unknown; rule: string }, started: number): GateReply {
    this.#emit({
      type: "gate",
      op,
      decision: "allow",
      rule: result.rule,
      args: op === "model.complete" ? summarizeModelRequest(args) : summarize(args),
      us: Math.round((performance.now() - started) * 1000),
    });
    return { ok: true, json: JSON.stringify(result.value) };
  }

  #denied(op: string, argsJson: string, e: unknown, started: number): GateReply {
    const error = asGateError(e);
    this.#emit({
      type: "gate",
      op,
      decision: error.code === "ERR_CAPABILITY_DENIED" || error.code === "ERR_LIMIT" ? "deny" : "error",
      rule: error.rule,
      code: error.code,
      message: error.message,
      args: argsJson.length > 300 ? argsJson.slice(0, 300) + "..." : argsJson,
      us: Math.round((performance.now() - started) * 1000),
    });
    return { ok: false, error: error.toJSON() };
  }

  #dispatch(
    op: string,
    args: Args,
    mode: Sync,
  ): { value: unknown; rule: string } | Promise<{ value: unknown; rule: string }> {
    switch (op) {
      case "fs.read":
        return this.#fsRead(args);
      case "fs.write":
        return this.#fsWrite(args);
      case "fs.list":
        return this.#fsList(args);
      case "env.get":
        return this.#envGet(args);
      // A guest that cannot wait still learns first whether the op is granted at all.
      case "http.fetch":
        if (mode === "sync") throw (this.#netGrant(args), unsupported(op));
        return this.#httpFetch(args);
      case "proc.run":
        if (mode === "sync") throw (this.#procGrant(args), unsupported(op));
        return this.#procRun(args);
      case "model.complete":
        if (mode === "sync") throw unsupported(op);
        return this.#modelComplete(args);
      case "tool.call":
        if (mode === "sync") throw unsupported(op);
        return this.#toolCall(args);
      default:
        throw new GateError(
          "ERR_INVALID_ARGS",
          `Unknown op "${op}"`,
          "the ops are fs.read, fs.write, fs.list, http.fetch, proc.run, env.get, model.complete, tool.call",
          "abi",
        );
    }
  }

  // ---- files ----

  /** Resolves a guest path, and finds the grant (of `kinds`) that covers both it and its real path. */
  #grantFor(raw: unknown, verb: "read" | "write"): { path: string; rule: string } {
    // Write implies read: a read may use either kind of grant.
    const kinds: readonly ("read" | "write")[] = verb === "read" ? ["read", "write"] : ["write"];
    if (typeof raw !== "string" || raw.length === 0) {
      throw invalid('"path" must be a non-empty string', 'pass {"path": "notes/a.txt"}');
    }
    if (raw.includes("\0")) throw invalid('"path" contains a NUL character', "remove it");
    const path = posix.resolve(this.#policy.baseDir, raw);
    if (!this.#checks) return { path, rule: "unchecked" };
    const grants: { g: PathGrant; kind: string }[] = kinds.flatMap((k) =>
      this.#mine(this.#policy.fs[k]).map((g) => ({ g, kind: k }))
    );
    const lexical = grants.find(({ g }) => isWithin(g.path, path));
    if (!lexical) {
      throw denied(
        `"${raw}" is outside the granted folders`,
        `add the folder to [capabilities.fs] ${verb} in the manifest`,
        `fs.${verb}`,
      );
    }
    // Symlinks: the real path of the target (or of its nearest existing ancestor) must stay inside a grant.
    const real = realPathOrAncestor(path, raw, lexical.g.path);
    if (!grants.some(({ g }) => isWithin(g.path, real))) {
      throw denied(
        `"${raw}" leads through a symbolic link out of the granted folders`,
        "grant the real folder, or remove the link",
        "symlink",
      );
    }
    return { path, rule: `fs.${lexical.kind}:${lexical.g.path}` };
  }

  #fsRead(args: Args) {
    const { path, rule } = this.#grantFor(args.path, "read");
    const encoding = encodingOf(args.encoding);
    const data = io(() => {
      const info = Deno.statSync(path);
      if (info.isDirectory) {
        throw new GateError(
          "ERR_INVALID_ARGS",
          `"${args.path}" is a folder`,
          "use fs.list for folders",
          "fs",
        );
      }
      if (info.size > MAX_FILE_BYTES) {
        throw new GateError(
          "ERR_LIMIT",
          `"${args.path}" is ${info.size} bytes, more than ${MAX_FILE_BYTES}`,
          "read a smaller file",
          "size",
        );
      }
      return Deno.readFileSync(path);
    }, String(args.path));
    return {
      value: { data: encoding === "base64" ? encodeBase64(data) : new TextDecoder().decode(data) },
      rule,
    };
  }

  #fsWrite(args: Args) {
    const { path, rule } = this.#grantFor(args.path, "write");
    if (typeof args.data !== "string") {
      throw invalid('"data" must be a string', 'pass {"path": "out/a.txt", "data": "text"}');
    }
    const bytes = encodingOf(args.encoding) === "base64"
      ? base64(args.data)
      : new TextEncoder().encode(args.data);
    if (bytes.length > MAX_FILE_BYTES) {
      throw new GateError(
        "ERR_LIMIT",
        `The data is ${bytes.length} bytes, more than ${MAX_FILE_BYTES}`,
        "write less at a time",
        "size",
      );
    }
    io(() => {
      Deno.mkdirSync(posix.dirname(path), { recursive: true });
      Deno.writeFileSync(path, bytes, { append: args.append === true });
    }, String(args.path));
    return { value: { bytes: bytes.length }, rule };
  }

  #fsList(args: Args) {
    const { path, rule } = this.#grantFor(args.path, "read");
    const entries = io(() => {
      const out: { name: string; kind: "file" | "dir" | "symlink"; size: number }[] = [];
      for (const e of Deno.readDirSync(path)) {
        let size = 0;
        try {
          size = e.isFile ? Deno.lstatSync(posix.join(path, e.name)).size : 0;
        } catch { /* raced away */ }
        out.push({ name: e.name, kind: e.isSymlink ? "symlink" : e.isDirectory ? "dir" : "file", size });
        if (out.length >= 10_000) break;
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    }, String(args.path));
    return { value: { entries }, rule };
  }

  // ---- environment ----

  #envGet(args: Args) {
    const name = args.name;
    if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw invalid('"name" must be a variable name', 'pass {"name": "TZ"}');
    }
    if (this.#checks && !matchEnv(this.#mine(this.#policy.env).map((e) => e.name), name)) {
      throw denied(
        `Reading "${name}" is not granted`,
        `add "${name}" to [capabilities.env] allow in the manifest`,
        "env",
      );
    }
    const value = io(() => Deno.env.get(name) ?? null, name);
    return { value: { value }, rule: this.#checks ? `env:${name}` : "unchecked" };
  }

  // ---- network ----

  /** The checks of http.fetch that need no waiting: the URL, the method and the grant. */
  #netGrant(args: Args): { url: URL; method: string; rule: string; grantHost: string | null } {
    if (typeof args.url !== "string") {
      throw invalid('"url" must be a string', 'pass {"url": "https://api.example.com/"}');
    }
    let url: URL;
    try {
      url = new URL(args.url);
    } catch {
      throw invalid(`"${args.url}" is not a URL`, "pass an absolute http or https URL");
    }
    const method = typeof args.method === "string" ? args.method.toUpperCase() : "GET";
    if (!/^[A-Z]{1,16}$/.test(method)) {
      throw invalid(`"${args.method}" is not an HTTP method`, 'use "GET", "POST"...');
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw denied(`"${url.protocol}" URLs cannot be fetched`, "use an http or https URL", "net.scheme");
    }
    if (!this.#checks) return { url, method, rule: "unchecked", grantHost: null };
    {
      const grant = matchNet(this.#mine(this.#policy.net), url, method);
      if (!grant) {
        throw denied(
          `${method} ${url.origin}${url.pathname} is not granted`,
          `add "${url.host}" (or a URL prefix with ${method}) to [capabilities.net] allow in the manifest`,
          "net",
        );
      }
      const port = grant.port ? `:${grant.port}` : "";
      const rule = `net:${grant.scheme ? `${grant.scheme}://` : ""}${grant.host}${port}${grant.pathPrefix}`;
      return { url, method, rule, grantHost: grant.host };
    }
  }

  async #httpFetch(args: Args) {
    const { url, method, rule, grantHost } = this.#netGrant(args);
    if (grantHost !== null) await this.#refusePrivate(url, grantHost);
    const headers = new Headers();
    if (args.headers !== undefined) {
      if (typeof args.headers !== "object" || args.headers === null) {
        throw invalid('"headers" must be an object', 'pass {"accept": "application/json"}');
      }
      for (const [k, v] of Object.entries(args.headers as Record<string, unknown>)) {
        if (typeof v !== "string") {
          throw invalid(`Header "${k}" must be a string`, "pass header values as strings");
        }
        try {
          headers.set(k, v);
        } catch {
          throw invalid(`"${k}" is not a valid header`, "check the header name and value");
        }
      }
    }
    if (args.body !== undefined && typeof args.body !== "string") {
      throw invalid('"body" must be a string', "serialise the body");
    }
    // Secrets bound to this host go in at egress; the guest never holds them.
    const secrets = this.#options.secrets ?? [];
    for (const s of secrets) {
      if (s.hosts.includes(url.host) || s.hosts.includes(url.hostname)) {
        headers.set(s.header, s.format.replace("{value}", s.value));
      }
    }
    const response = await ioAsync(
      () =>
        fetch(url, {
          method,
          headers,
          redirect: "manual",
          signal: AbortSignal.timeout(OP_TIMEOUT_MS),
          ...(args.body !== undefined ? { body: args.body as string } : {}),
        }),
      url.href,
    );
    const body = await readCapped(response.body, MAX_HTTP_BYTES);
    // A server that echoes a secret back does not hand it to the guest.
    const redact = (text: string) =>
      secrets.reduce((t, s) => (s.value ? t.replaceAll(s.value, "[redacted]") : t), text);
    return {
      value: {
        status: response.status,
        headers: Object.fromEntries([...response.headers].map(([k, v]) => [k, redact(v)])),
        body: redact(new TextDecoder().decode(body)),
      },
      rule,
    };
  }

  /**
   * Private and loopback addresses only by an explicit grant of that address:
   * a name is resolved first (failing closed), and refused when any of its
   * addresses is private. The fetch itself resolves again: the address is
   * checked, not pinned.
   */
  async #refusePrivate(url: URL, grantHost: string) {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const literal = /^[0-9.]+$/.test(host) || host.includes(":");
    if (literal && grantHost === host) return;
    let addresses: string[];
    if (literal) {
      addresses = [host];
    } else if (host === "localhost" || host.endsWith(".localhost")) {
      addresses = ["127.0.0.1", "::1"];
    } else {
      try {
        addresses = await this.#resolveHost(host);
      } catch (e) {
        throw denied(
          `"${host}" cannot be resolved: ${(e as Error).message}`,
          "check the host name",
          "net.dns",
        );
      }
    }
    const inside = addresses.find(isPrivateAddress);
    if (inside !== undefined) {
      throw denied(
        `"${host}" resolves to the private or loopback address ${inside}`,
        `grant the address itself ("${inside.includes(":") ? `[${inside}]` : inside}${
          url.port ? `:${url.port}` : ""
        }") in [capabilities.net] allow if the agent must reach it`,
        "net.private",
      );
    }
  }

  // ---- plugin tools ----

  async #toolCall(args: Args) {
    const name = args.name;
    if (typeof name !== "string" || !/^[a-z0-9-]+\.[a-z0-9_]+$/.test(name)) {
      throw invalid('"name" must be "plugin.tool"', 'pass {"name": "calculator.evaluate", "input": {...}}');
    }
    const plugin = name.slice(0, name.indexOf("."));
    const used = this.#policy.plugins.find((p) => p.name === plugin);
    if (!used || !used.tools.some((t) => `${plugin}.${t.name}` === name) || !this.#tools) {
      throw denied(
        `The tool "${name}" is not granted`,
        used
          ? `plugin "${plugin}" has tools ${used.tools.map((t) => `"${plugin}.${t.name}"`).join(", ")}`
          : `add "${plugin}" to [plugins] use in the manifest`,
        "tool",
      );
    }
    return { value: await this.#tools(name, args.input ?? {}), rule: `plugin:${plugin}` };
  }

  // ---- models ----

  async #modelComplete(args: Args) {
    if (this.#policy.model === null || !this.#complete) {
      throw denied("The agent has no model access", "add a [model] table to the manifest", "model");
    }
    try {
      return { value: await this.#complete(args), rule: `model:${this.#policy.model.provider}` };
    } catch (e) {
      const err = e as { code?: string; message?: string; hint?: string };
      const code: GateErrorCode = err.code?.startsWith("ERR_MODEL_") || err.code === "ERR_INVALID_ARGS"
        ? err.code as GateErrorCode
        : "ERR_IO";
      throw new GateError(code, err.message ?? String(e), err.hint ?? "", "model");
    }
  }

  // ---- subprocesses ----

  /** The checks of proc.run that need no waiting: the arguments and the grant. */
  #procGrant(args: Args): { cmd: string; argv: string[]; program: string; rule: string } {
    const cmd = args.cmd;
    if (typeof cmd !== "string" || cmd.length === 0) {
      throw invalid('"cmd" must be a program name', 'pass {"cmd": "git", "args": ["status"]}');
    }
    const argv = args.args ?? [];
    if (!Array.isArray(argv) || argv.some((a) => typeof a !== "string")) {
      throw invalid('"args" must be an array of strings', "pass each argument as its own string");
    }
    if (args.stdin !== undefined && typeof args.stdin !== "string") {
      throw invalid('"stdin" must be a string', "pass the input as text");
    }
    // The sandbox has no PATH: a granted name runs the path it resolved to when the Policy was made.
    const grant = this.#mine(this.#policy.run.programs).find((p) => matchProgram([p], cmd));
    const program = grant?.path ?? cmd;
    let rule = "unchecked";
    if (this.#checks) {
      if (!grant || !this.#policy.run.dangerous) {
        throw denied(
          `Running "${cmd}" is not granted`,
          `add "${cmd}" to [capabilities.run] allow (with dangerous = true) in the manifest`,
          "run",
        );
      }
      rule = `run:${grant.name}`;
    }
    return { cmd, argv: argv as string[], program, rule };
  }

  async #procRun(args: Args) {
    const { cmd, argv, program, rule } = this.#procGrant(args);
    const child = io(
      () =>
        new Deno.Command(program, {
          args: argv as string[],
          clearEnv: true,
          stdin: args.stdin === undefined ? "null" : "piped",
          stdout: "piped",
          stderr: "piped",
          cwd: this.#policy.baseDir,
          signal: AbortSignal.timeout(OP_TIMEOUT_MS),
        }).spawn(),
      cmd,
    );
    if (args.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(args.stdin as string)).catch(() => {});
      await w.close().catch(() => {});
    }
    const [stdout, stderr, status] = await Promise.all([
      readCapped(child.stdout, MAX_PROC_BYTES, true),
      readCapped(child.stderr, MAX_PROC_BYTES, true),
      child.status,
    ]);
    const dec = new TextDecoder();
    return { value: { code: status.code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) }, rule };
  }
}

async function resolveDirectly(host: string): Promise<string[]> {
  const out: string[] = [];
  for (const kind of ["A", "AAAA"] as const) {
    try {
      out.push(...await Deno.resolveDns(host, kind));
    } catch { /* none of this kind */ }
  }
  if (out.length === 0) throw new Error("no address");
  return out;
}

function invalid(message: string, hint: string): GateError {
  return new GateError("ERR_INVALID_ARGS", message, hint, "args");
}

function denied(message: string, hint: string, rule: string): GateError {
  return new GateError("ERR_CAPABILITY_DENIED", message, hint, rule);
}

function unsupported(op: string): GateError {
  return new GateError(
    "ERR_UNSUPPORTED",
    `"${op}" must wait for its answer, which a WASI preview1 guest cannot do`,
    "build the agent as a component (ironclaw build) to use this op",
    "abi",
  );
}

function encodingOf(e: unknown): "utf8" | "base64" {
  if (e === undefined || e === "utf8") return "utf8";
  if (e === "base64") return "base64";
  throw invalid(`"encoding" must be "utf8" or "base64"`, 'leave it out for text, or pass "base64" for bytes');
}

function base64(text: string): Uint8Array {
  try {
    return decodeBase64(text);
  } catch {
    throw invalid('"data" is not valid base64', "encode the bytes as standard base64");
  }
}

/** Runs file or process I/O, mapping Deno's errors to gate errors; the flags' refusals become denials. */
function io<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (e) {
    throw mapIoError(e, what);
  }
}

async function ioAsync<T>(fn: () => Promise<T>, what: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw mapIoError(e, what);
  }
}

function mapIoError(e: unknown, what: string): GateError {
  if (e instanceof GateError) return e;
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return new GateError(
      "ERR_CAPABILITY_DENIED",
      `The sandbox process may not reach "${what}"`,
      "grant it in the manifest's [capabilities]",
      "deno-flags",
    );
  }
  if (e instanceof Deno.errors.NotFound) {
    return new GateError(
      "ERR_NOT_FOUND",
      `"${what}" does not exist (${(e as Error).message})`,
      "check the path or name",
      "io",
    );
  }
  if (e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return new GateError(
      "ERR_LIMIT",
      `"${what}" took longer than ${OP_TIMEOUT_MS / 1000} s`,
      "ask for less",
      "timeout",
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  return new GateError("ERR_IO", `"${what}" failed: ${message}`, "", "io");
}

function asGateError(e: unknown): GateError {
  if (e instanceof GateError) return e;
  return mapIoError(e, "the request");
}

/**
 * The real path of `path`, or of its nearest existing ancestor joined with the rest. Climbing past a
 * granted folder that does not exist reaches folders the sandbox may not read: that is "not found".
 */
function realPathOrAncestor(path: string, raw: string, grant: string): string {
  const tail: string[] = [];
  let p = path;
  for (;;) {
    try {
      return posix.join(Deno.realPathSync(p), ...tail.reverse());
    } catch (e) {
      const refused = e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
      if (refused && tail.length > 0 && !isWithin(grant, p)) {
        throw new GateError(
          "ERR_NOT_FOUND",
          `"${raw}" does not exist: the granted "${grant}" is missing`,
          `create "${grant}", or change the grant in the manifest's [capabilities.fs]`,
          "io",
        );
      }
      if (!(e instanceof Deno.errors.NotFound) || p === "/") throw mapIoError(e, path);
      tail.push(posix.basename(p));
      p = posix.dirname(p);
    }
  }
}

async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  max: number,
  truncate = false,
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) {
      if (!truncate) {
        await stream.cancel().catch(() => {});
        throw new GateError("ERR_LIMIT", `The response is larger than ${max} bytes`, "ask for less", "size");
      }
      parts.push(chunk.subarray(0, Math.max(0, chunk.length - (size - max))));
      size = max;
      await stream.cancel().catch(() => {});
      break;
    }
    parts.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A model request in the record: its size, not its text (the supervisor records the answer). */
function summarizeModelRequest(args: Args): Record<string, unknown> {
  return {
    messages: Array.isArray(args.messages) ? args.messages.length : 0,
    tools: Array.isArray(args.tools) ? args.tools.map((t) => (t as { name?: unknown })?.name) : [],
  };
}

/** A short, safe summary of a request's arguments for the event log (no file contents or bodies). */
function summarize(args: Args): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (k === "data" || k === "body" || k === "stdin") {
      out[k] = typeof v === "string" ? `<${v.length} chars>` : typeof v;
    } else if (k === "headers" && typeof v === "object" && v) out[k] = Object.keys(v);
    else out[k] = typeof v === "string" && v.length > 200 ? v.slice(0, 200) + "..." : v;
  }
  return out;
}
