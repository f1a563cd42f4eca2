/**
 * Answering the sandbox's requests: what it may not do itself, the
 * supervisor does for it. `dns.resolve` (the sandbox has no name server: it
 * gets the addresses the run pinned its granted names to when it started, and
 * nothing for any other name), `model.complete` (the provider and its key
 * stay in this process) and `plugin.state` (a plugin's `context.store`, kept in
 * the run store, scoped to the plugin and the run's agent) and `approval.request`
 * (a gate call that waits for a person: see `approver.ts`) and `mcp.call` (a tool of an `[mcp]` plugin, whose
 * server the supervisor runs: see `mcp_host.ts`).
 *
 * @module
 */

import { type ErrorCode, errorCodeOf, type Failure } from "../manifests/errors.ts";
import type { CompletionRequest, CompletionResult } from "../protocol/model_types.ts";
import type { NetGrant, PinnedAddresses } from "../capabilities/net.ts";
import { ProtocolError, type RequestMessage, type RunEvent } from "../protocol/protocol.ts";
import { checkCompletionRequest } from "./model_request.ts";
import type { ModelUsageReport } from "./outcome.ts";
import type { RunStore, StateOp } from "./store/mod.ts";
import type { Approver } from "./approver.ts";

/** The most requests a sandbox may have unanswered at once. */
export const MAX_OPEN_REQUESTS = 64;

/** What the supervisor needs of a model broker. */
export interface ModelClient {
  /** One completion, within the run's budgets; no wait between retries passes `options.deadline`. */
  complete(
    request: CompletionRequest,
    signal: AbortSignal,
    options?: { deadline?: number },
  ): Promise<CompletionResult>;
  /** What the run has used of its budget. */
  usage(): ModelUsageReport;
}

/** A reply to one request: its result, or why not. */
export type RequestReply = { ok: true; result: unknown } | { ok: false; error: Failure };

/** An error with a code and a hint, for a reply. */
function failure(code: ErrorCode, message: string, hint = ""): Error & { code: ErrorCode } {
  return Object.assign(new Error(message), { code, hint });
}

/** The caps of one plugin's state, from its config: enforced by the store, in the transaction of each write. */
export interface StateCaps {
  /** The largest value, in bytes (`max_value_bytes`); default the store's cap. */
  maxValueBytes?: number;
  /** The most keys (`max_keys`); default no cap. */
  maxKeys?: number;
}

/** What `plugin.state` needs: the store, the run's agent, and each used plugin's caps. */
export interface PluginStateAccess {
  /** The run store. */
  store: Pick<RunStore, "pluginState">;
  /** The run's agent: the state's scope with the plugin. */
  agent: string;
  /** The run's plugins, by name, with the caps of their state. */
  plugins: ReadonlyMap<string, StateCaps>;
}

const STATE_OPS: ReadonlySet<string> = new Set(["get", "set", "delete", "cas", "list"]);

/** Options of {@linkcode RequestBroker}. */
export interface RequestBrokerOptions {
  /** The run's model broker, when it has model access. */
  model?: ModelClient;
  /** The run's network grants (to tell a name under a wildcard from one not granted at all); default none. */
  net?: readonly NetGrant[];
  /** The addresses the run pinned its granted names to when it started: `dns.resolve`'s only answers. */
  pinned?: PinnedAddresses;
  /** When the run's wall time ends (ms since the epoch), once it runs: model calls do not wait past it. */
  deadline?: () => number | undefined;
  /** The plugin state of the run's plugins; without it `plugin.state` is refused. */
  pluginState?: PluginStateAccess;
  /** The run's approvals; without them `approval.request` is denied. */
  approvals?: (signal: AbortSignal) => Approver;
  /** The run's `[mcp]` plugin servers (`mcp.call`); without them `mcp.call` is refused. */
  mcp?: { call(args: Record<string, unknown>): Promise<unknown> };
}

/** Answers the requests of one run's sandbox, at most {@linkcode MAX_OPEN_REQUESTS} at once. */
export class RequestBroker {
  readonly #reply: (id: number, reply: RequestReply) => void;
  readonly #emit: (event: RunEvent) => void;
  readonly #model: ModelClient | undefined;
  readonly #net: readonly NetGrant[];
  readonly #pinned: PinnedAddresses;
  readonly #deadline: () => number | undefined;
  readonly #state: PluginStateAccess | undefined;
  readonly #abort = new AbortController();
  readonly #approver: Approver | undefined;
  readonly #mcp: RequestBrokerOptions["mcp"];
  #open = 0;

  /**
   * @param reply Sends a reply to the sandbox.
   * @param emit Records an event (each model call and each name asked for is recorded).
   * @param options The model broker, the network grants and the pinned addresses.
   */
  constructor(
    reply: (id: number, reply: RequestReply) => void,
    emit: (event: RunEvent) => void,
    options: RequestBrokerOptions = {},
  ) {
    this.#reply = reply;
    this.#emit = emit;
    this.#model = options.model;
    this.#net = options.net ?? [];
    this.#pinned = options.pinned ?? {};
    this.#deadline = options.deadline ?? (() => undefined);
    this.#state = options.pluginState;
    this.#approver = options.approvals?.(this.#abort.signal);
    this.#mcp = options.mcp;
  }

  /**
   * Takes a request; its answer is sent when ready.
   *
   * @param m The request.
   * @throws {ProtocolError} When too many are open.
   */
  accept(m: RequestMessage): void {
    if (++this.#open > MAX_OPEN_REQUESTS) {
      throw new ProtocolError(`More than ${MAX_OPEN_REQUESTS} requests at once`);
    }
    this.#answer(m).finally(() => this.#open--);
  }

  /** Aborts the model calls under way: the run is over. */
  close(): void {
    this.#abort.abort();
  }

  async #answer(m: RequestMessage): Promise<void> {
    try {
      if (m.op === "dns.resolve") {
        this.#reply(m.id, { ok: true, result: { addresses: this.#resolve(m.args.host) } });
      } else if (m.op === "model.complete") {
        this.#reply(m.id, { ok: true, result: await this.#complete(m.args) });
      } else if (m.op === "plugin.state") {
        this.#reply(m.id, { ok: true, result: await this.#pluginState(m.args) });
      } else if (m.op === "mcp.call") {
        if (!this.#mcp) {
          throw failure(
            "ERR_CAPABILITY_DENIED",
            "This run has no MCP plugin",
            "use an [mcp] plugin in [plugins]",
          );
        }
        this.#reply(m.id, { ok: true, result: await this.#mcp.call(m.args) });
      } else if (m.op === "approval.request") {
        if (!this.#approver) {
          throw failure("ERR_APPROVAL_DENIED", "This run cannot ask for approvals", "see [approvals]");
        }
        this.#reply(m.id, { ok: true, result: await this.#approver.request(m.args) });
      } else {
        throw failure("ERR_INVALID_ARGS", `Unknown request "${m.op}"`);
      }
    } catch (e) {
      const err = e as { code?: string; message?: string; hint?: string };
      this.#reply(m.id, {
        ok: false,
        error: {
          // A code of IronClaw's own passes; anything else (a bare Error, Node's "ENOTFOUND") is ERR_NOT_FOUND.
          code: e instanceof TypeError ? "ERR_INVALID_ARGS" : errorCodeOf(err.code, "ERR_NOT_FOUND"),
          message: err.message ?? String(e),
          hint: err.hint ?? "",
        },
      });
    }
  }

  /**
   * The answer to `dns.resolve`: the addresses the name was pinned to when the run started. Any other name is
   * refused without a lookup (a forged request cannot carry data out through DNS); every answer is recorded.
   */
  #resolve(host: unknown): string[] {
    if (typeof host !== "string" || host === "") {
      throw failure(
        "ERR_INVALID_ARGS",
        'dns.resolve needs "host", a string',
        'pass {"host": "api.example.com"}',
      );
    }
    const name = host.toLowerCase().replace(/\.$/, "");
    const shown = name.length > 253 ? `${name.slice(0, 253)}...` : name;
    const pinned = Object.hasOwn(this.#pinned, name) ? this.#pinned[name]! : null;
    if (pinned !== null && pinned.length > 0) {
      this.#emit({ type: "dns", host: shown, decision: "allow", addresses: [...pinned] });
      return [...pinned];
    }
    const error = pinned !== null
      ? failure("ERR_NOT_FOUND", `"${shown}" did not resolve when the run started`, "check the host name")
      : this.#refusal(name, shown);
    this.#emit({ type: "dns", host: shown, decision: "deny", code: error.code, message: error.message });
    throw error;
  }

  /** Why a name that was not pinned is refused: under a wildcard (which cannot be pinned), or not granted. */
  #refusal(name: string, shown: string): Error & { code: ErrorCode } {
    const wildcard = this.#net.find((g) => g.host.startsWith("*.") && name.endsWith(g.host.slice(1)));
    if (wildcard) {
      return failure(
        "ERR_CAPABILITY_DENIED",
        `"${shown}" is granted only by the wildcard "${wildcard.host}", which a run cannot reach`,
        `add "${shown}" to [capabilities.net] allow: a run resolves each granted name once, when it starts, ` +
          "and a wildcard cannot be enumerated",
      );
    }
    return failure(
      "ERR_CAPABILITY_DENIED",
      `"${shown}" is not a granted host name: the supervisor resolves granted names only`,
      `add "${shown}" to [capabilities.net] allow in the manifest if the agent must reach it`,
    );
  }

  /** One operation on a used plugin's state, scoped to it and the run's agent; values capped by its own cap. */
  #pluginState(args: Record<string, unknown>): Promise<unknown> {
    const { plugin, op } = args;
    if (!this.#state || typeof plugin !== "string" || !this.#state.plugins.has(plugin)) {
      throw failure(
        "ERR_CAPABILITY_DENIED",
        `No plugin "${String(plugin)}" in this run has state`,
        "only the plugins the manifest uses have a store",
      );
    }
    if (typeof op !== "string" || !STATE_OPS.has(op)) {
      throw failure(
        "ERR_INVALID_ARGS",
        `Unknown plugin state operation "${String(op)}"`,
        "use get, set, delete, cas or list",
      );
    }
    if (op === "list" && args.prefix !== undefined && typeof args.prefix !== "string") {
      throw failure(
        "ERR_INVALID_ARGS",
        "The prefix of list must be a string",
        'pass a prefix such as "notes."',
      );
    }
    // The caps are the config's alone: whatever the plugin sent as caps is dropped.
    const { maxValueBytes: _v, maxKeys: _k, ...asked } = args;
    const request = { ...asked, op, ...this.#state.plugins.get(plugin) } as StateOp;
    return this.#state.store.pluginState({ plugin, agent: this.#state.agent }, request);
  }

  /** Brokers one model call for the sandbox, and records it (tokens, tool calls, a preview of the answer). */
  async #complete(args: unknown): Promise<CompletionResult> {
    if (!this.#model) {
      throw failure(
        "ERR_CAPABILITY_DENIED",
        "The agent has no model access",
        "add a [model] table to the manifest",
      );
    }
    const request = checkCompletionRequest(args);
    const started = performance.now();
    try {
      const deadline = this.#deadline();
      const result = await this.#model.complete(
        request,
        this.#abort.signal,
        deadline === undefined ? {} : { deadline },
      );
      const content = result.message.content;
      this.#emit({
        type: "model",
        model: result.model,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
        stopReason: result.stopReason,
        toolCalls: result.message.toolCalls.map((c) => c.name),
        content: content.length > 2000 ? content.slice(0, 2000) + "..." : content,
        durationMs: Math.round(performance.now() - started),
      });
      return result;
    } catch (e) {
      this.#emit({
        type: "model",
        error: errorCodeOf((e as { code?: unknown }).code, "ERR_MODEL"),
        message: (e as Error).message,
      });
      throw e;
    }
  }
}
