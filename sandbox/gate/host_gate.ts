/**
 * The host gate: the one door between a guest and the world. Every guest
 * action is one request `{op, args}` with JSON args; the gate counts it against
 * the limits, parses it, dispatches it through {@linkcode GATE_OPS} to the
 * module of its family (which checks it against the Policy, executes it and
 * caps its size), and records it as an event with the decision and the rule
 * that made it.
 *
 * Runs inside the sandbox process, whose Deno flags are a second, independent wall.
 *
 * @module
 */

import type { EnforcedGrant } from "../../protocol/grant.ts";
import { GATE_OPS, type GateOpName, isGateOp, unknownOpHint } from "../../protocol/gate_ops.ts";
import { GateError, invalid, mapIoError, unsupported } from "./errors.ts";
import {
  type Args,
  type Decided,
  type GateContext,
  grantsOf,
  MAX_FILE_BYTES,
  type OpHandler,
} from "./family.ts";
import { allowedEvent, deniedEvent, summarize } from "./record.ts";
import { needsApproval } from "../../capabilities/approvals.ts";
import { familyHandlers, type GateHandlers } from "./families.ts";
import type { GateReply, HostGateOptions } from "./options.ts";

/** The refusal of a call that needs approval where no approval can be awaited. */
function approvalCannotWait(op: string): GateError {
  return new GateError(
    "ERR_APPROVAL_DENIED",
    `"${op}" needs a person's approval, which this caller cannot wait for`,
    "remove the op from [approvals] require, or make the call from code that can wait",
    "approval",
  );
}

/**
 * The host gate of one run.
 *
 * @example Refused outside the grants
 * ```ts
 * import { HostGate } from "./host_gate.ts";
 * import { parseManifest } from "../../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../../manifests/runtime_config.ts";
 * import { resolvePolicy } from "../../capabilities/policy.ts";
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
  #policy: EnforcedGrant;
  #options: HostGateOptions;
  #counter: { calls: number };
  #ops: GateHandlers;
  #checks: boolean;

  /**
   * Makes the gate of one run.
   *
   * @param policy The run's Policy.
   * @param options Where events go, and (tests only) whether to check.
   */
  constructor(policy: EnforcedGrant, options: HostGateOptions) {
    this.#policy = policy;
    this.#options = options;
    this.#counter = options.counter ?? { calls: 0 };
    const actor = options.actor ?? null;
    this.#checks = options.checks ?? true;
    const ctx: GateContext = {
      policy,
      checks: options.checks ?? true,
      mine: (grants) => grantsOf(grants, actor),
    };
    this.#ops = familyHandlers(ctx, options);
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

  /**
   * Handles one request. Never throws: the reply carries the result as JSON
   * text, or the error `{code, message, hint}`. A call that `[approvals]
   * require` names waits here for a person's decision, once its grants allowed it.
   *
   * @param op The operation, such as `fs.read`.
   * @param argsJson Its arguments as JSON text.
   * @param options `sync`: the caller is a guest that cannot wait (its thread blocks until the reply), so ops
   *   that wait are refused as in {@linkcode HostGate.callSync}, but an approval may still be awaited.
   * @returns The reply.
   */
  async call(op: string, argsJson: string, options: { sync?: boolean } = {}): Promise<GateReply> {
    const started = performance.now();
    try {
      const args = this.#begin(op, argsJson);
      const result = await this.#dispatch(op, args, { sync: options.sync ?? false, canWait: true });
      return this.#allowed(op, args, result, started);
    } catch (e) {
      return this.#denied(op, argsJson, e, started);
    }
  }

  /**
   * Handles one request synchronously, for guests whose imports cannot wait
   * (WASI preview1 modules). Ops that must wait (`http.fetch`, `proc.run`,
   * `model.complete`, `tool.call`) answer `ERR_UNSUPPORTED`; so does a call that
   * needs approval (a guest thread that can block asks {@linkcode HostGate.call}
   * with `sync` instead: see {@linkcode HostGate.needsApproval}).
   *
   * @param op The operation.
   * @param argsJson Its arguments as JSON text.
   * @returns The reply.
   */
  callSync(op: string, argsJson: string): GateReply {
    const started = performance.now();
    try {
      const args = this.#begin(op, argsJson);
      const result = this.#dispatch(op, args, { sync: true, canWait: false });
      if (result instanceof Promise) throw new Error("unreachable: a sync op returned a promise");
      return this.#allowed(op, args, result, started);
    } catch (e) {
      return this.#denied(op, argsJson, e, started);
    }
  }

  /**
   * Whether a call needs a person's approval (`[approvals] require`): then a caller that answers synchronously
   * must await {@linkcode HostGate.call} instead.
   *
   * @param op The operation.
   * @param argsJson Its arguments as JSON text.
   * @returns True when the call would wait for a decision.
   */
  needsApproval(op: string, argsJson: string): boolean {
    if (!this.#checks) return false;
    if (
      this.#policy.approvals.require.length === 0 || !this.#policy.approvals.require.some((r) => r.op === op)
    ) {
      return false;
    }
    try {
      const args: unknown = JSON.parse(argsJson);
      return typeof args === "object" && args !== null && !Array.isArray(args) &&
        needsApproval(this.#policy.approvals.require, { op, args: args as Args });
    } catch {
      return false;
    }
  }

  /** Counts the call (unknown ops too), then parses its arguments. */
  #begin(op: string, argsJson: string): Args {
    // Model calls have their own budget (max_calls, max_tokens), kept by the supervisor's broker.
    const counted = !isGateOp(op) || GATE_OPS[op].counted;
    if (counted && ++this.#counter.calls > this.#policy.limits.maxToolCalls) {
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

  /**
   * Runs the op through its family; a guest that cannot wait learns first whether a waiting op is granted, and a
   * call that needs approval is asked about once its grants allowed it.
   */
  #dispatch(
    op: string,
    args: Args,
    mode: { sync: boolean; canWait: boolean },
  ): Decided<unknown> | Promise<Decided<unknown>> {
    if (!isGateOp(op)) throw new GateError("ERR_INVALID_ARGS", `Unknown op "${op}"`, unknownOpHint(), "abi");
    const handler: OpHandler<GateOpName> = this.#ops[op];
    if (mode.sync && GATE_OPS[op].waits) {
      handler.precheck?.(args);
      throw unsupported(op);
    }
    if (this.#checks && needsApproval(this.#policy.approvals.require, { op, args })) {
      handler.precheck?.(args); // the grants first: an approval never widens a grant
      if (!mode.canWait) throw approvalCannotWait(op);
      return this.#afterApproval(op, args, handler);
    }
    return handler.run(args);
  }

  /** Waits for a person's decision on the call, then runs it; a denial or expiry is `ERR_APPROVAL_DENIED`. */
  async #afterApproval(op: string, args: Args, handler: OpHandler<GateOpName>): Promise<Decided<unknown>> {
    const approve = this.#options.approve;
    if (!approve) throw approvalCannotWait(op);
    try {
      await approve(op, args);
    } catch (e) {
      const err = e as { code?: unknown; message?: string; hint?: string };
      if (err.code === "ERR_APPROVAL_DENIED") {
        throw new GateError("ERR_APPROVAL_DENIED", err.message ?? "Denied", err.hint ?? "", "approval");
      }
      throw new GateError(
        "ERR_APPROVAL_DENIED",
        `The approval of "${op}" could not be asked for: ${err.message ?? String(e)}`,
        "see the run's events",
        "approval",
      );
    }
    return await handler.run(args);
  }

  #allowed(op: string, args: Args, result: Decided<unknown>, started: number): GateReply {
    const summary = isGateOp(op) ? this.#ops[op].summarize : undefined;
    this.#options.emit(allowedEvent(op, { rule: result.rule, args: (summary ?? summarize)(args), started }));
    return { ok: true, json: JSON.stringify(result.value) };
  }

  #denied(op: string, argsJson: string, e: unknown, started: number): GateReply {
    const error = e instanceof GateError ? e : mapIoError(e, "the request");
    this.#options.emit(deniedEvent(op, { argsJson, error, started }));
    return { ok: false, error: error.toJSON() };
  }
}
