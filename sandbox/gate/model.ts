/**
 * The model op: `model.complete`, brokered by the supervisor (the sandbox
 * holds no key). Its errors keep the broker's codes; the record keeps the
 * request's size, not its text.
 *
 * @module
 */

import type { CompletionResult } from "../../protocol/model_types.ts";
import { denied, GateError, isGateErrorCode } from "./errors.ts";
import type { FamilyOps, GateContext } from "./family.ts";

/** How `model.complete` reaches the model. */
export interface ModelIo {
  /** Asks the supervisor's model broker for a completion; absent when the run has none. */
  complete: ((request: Record<string, unknown>) => Promise<unknown>) | undefined;
}

/**
 * The model op of one gate.
 *
 * @param ctx The gate's Policy.
 * @param model The broker.
 * @returns The handler of `model.complete`.
 */
export function modelOps(ctx: GateContext, model: ModelIo): FamilyOps<"model"> {
  return {
    "model.complete": {
      run: async (args) => {
        const { complete } = model;
        if (ctx.policy.model === null || !complete) {
          throw denied("The agent has no model access", {
            hint: "add a [model] table to the manifest",
            rule: "model",
          });
        }
        try {
          // The broker answers a CompletionResult; the gate passes it on as it is.
          return {
            value: await complete(args) as CompletionResult,
            rule: `model:${ctx.policy.model.provider}`,
          };
        } catch (e) {
          // The broker's code crossed the wire: a model code or ERR_INVALID_ARGS passes, anything else is ERR_IO.
          const err = e as { code?: unknown; message?: string; hint?: string };
          const code =
            isGateErrorCode(err.code) && (/^ERR_MODEL_/.test(err.code) || err.code === "ERR_INVALID_ARGS")
              ? err.code
              : "ERR_IO";
          const message = err.message ?? String(e);
          if (code !== "ERR_IO") throw new GateError(code, message, err.hint ?? "", "model");
          throw new GateError(
            code,
            `The model call failed: ${message}`,
            err.hint || "try again; if it keeps failing, check the provider in the runtime config",
            "model",
          );
        }
      },
      // A model request in the record: its size, not its text (the supervisor records the answer).
      summarize: (args) => ({
        messages: Array.isArray(args.messages) ? args.messages.length : 0,
        tools: Array.isArray(args.tools) ? args.tools.map((t) => (t as { name?: unknown })?.name) : [],
      }),
    },
  };
}
