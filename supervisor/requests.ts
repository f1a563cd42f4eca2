/**
 * Answering the sandbox's requests: what it may not do itself, the
 * supervisor does for it. `dns.resolve` (the sandbox has no name server) and
 * `model.complete` (the provider and its key stay in this process).
 *
 * @module
 */

import { type ErrorCode, errorCodeOf, type Failure } from "../manifests/errors.ts";
import type { CompletionRequest, CompletionResult } from "../protocol/model_types.ts";
import { ProtocolError, type RequestMessage, type RunEvent } from "../protocol/protocol.ts";
import { checkCompletionRequest } from "./model_request.ts";
import type { ModelUsageReport } from "./outcome.ts";

/** The most requests a sandbox may have unanswered at once. */
export const MAX_OPEN_REQUESTS = 64;

/** What the supervisor needs of a model broker. */
export interface ModelClient {
  /** One completion, within the run's budgets. */
  complete(request: CompletionRequest, signal: AbortSignal): Promise<CompletionResult>;
  /** What the run has used of its budget. */
  usage(): ModelUsageReport;
}

/** A reply to one request: its result, or why not. */
export type RequestReply = { ok: true; result: unknown } | { ok: false; error: Failure };

/** Resolves a host name for the sandbox, which has no access to the name server itself. */
async function resolveHost(host: string): Promise<string[]> {
  const out: string[] = [];
  const errors: string[] = [];
  await Promise.all((["A", "AAAA"] as const).map(async (kind) => {
    try {
      out.push(...await Deno.resolveDns(host, kind, { signal: AbortSignal.timeout(5000) }));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }));
  if (out.length === 0) throw new Error(`"${host}" cannot be resolved: ${errors[0] ?? "no address"}`);
  return out;
}

/** An error with a code and a hint, for a reply. */
function failure(code: ErrorCode, message: string, hint = ""): Error {
  return Object.assign(new Error(message), { code, hint });
}

/** Answers the requests of one run's sandbox, at most {@linkcode MAX_OPEN_REQUESTS} at once. */
export class RequestBroker {
  readonly #reply: (id: number, reply: RequestReply) => void;
  readonly #emit: (event: RunEvent) => void;
  readonly #model: ModelClient | undefined;
  readonly #abort = new AbortController();
  #open = 0;

  /**
   * @param reply Sends a reply to the sandbox.
   * @param emit Records an event (each model call is recorded).
   * @param model The run's model broker, when it has model access.
   */
  constructor(
    reply: (id: number, reply: RequestReply) => void,
    emit: (event: RunEvent) => void,
    model: ModelClient | undefined,
  ) {
    this.#reply = reply;
    this.#emit = emit;
    this.#model = model;
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
      if (m.op === "dns.resolve" && typeof m.args.host === "string") {
        this.#reply(m.id, { ok: true, result: { addresses: await resolveHost(m.args.host) } });
      } else if (m.op === "model.complete") {
        this.#reply(m.id, { ok: true, result: await this.#complete(m.args) });
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
      const result = await this.#model.complete(request, this.#abort.signal);
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
