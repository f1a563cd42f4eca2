/** Calling the model from a built-in loop: through the gate, like any other action. */

import type { EnforcedGrant } from "../../protocol/grant.ts";
import { type ErrorCode, IronclawError } from "../../manifests/errors.ts";
import type { HostGate } from "../gate/mod.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import type { CompletionRequest, CompletionResult } from "../../protocol/model_types.ts";

/** A model call that failed: the loop ends with its code (such as `ERR_MODEL_BUDGET`). */
export class LoopModelError extends IronclawError {
  /** @param code The broker's code. @param message What happened. @param hint What to change. */
  constructor(code: ErrorCode, message: string, hint: string) {
    super(code, message, { hint });
    this.name = "LoopModelError";
  }
}

/** One completion through the gate's `model.complete`. */
export async function completeThroughGate(
  gate: HostGate,
  request: CompletionRequest,
): Promise<CompletionResult> {
  const reply = await gate.call("model.complete", JSON.stringify(request));
  if (!reply.ok) throw new LoopModelError(reply.error.code, reply.error.message, reply.error.hint);
  return JSON.parse(reply.json) as CompletionResult;
}

/** How a loop ends when its steps run out without a final answer. */
export function outOfSteps(policy: EnforcedGrant): GuestOutcome {
  return {
    state: "error",
    output: null,
    error: {
      code: "ERR_MAX_STEPS",
      message: `The agent gave no final answer within ${policy.limits.maxSteps} steps`,
      hint: "raise [limits] max_steps in the manifest, or make the task smaller",
    },
  };
}
