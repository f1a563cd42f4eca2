/**
 * The built-in ReAct loop: the model calls tools (the gate's granted ops) until
 * it gives a final answer or the steps run out. Every step is an event.
 *
 * @module
 */

import type { ChatMessage } from "../../protocol/model_types.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import type { AgentRunner, RunContext } from "../runner.ts";
import { completeThroughGate, LoopModelError, outOfSteps } from "./model.ts";
import { callTool, toolsFor } from "./tools.ts";

/**
 * Runs the ReAct loop on the context's task: an {@linkcode AgentRunner} that
 * needs no options.
 *
 * @param context The run: its Policy (instructions, limits, grants), task, host gate, and where step events go.
 * @returns How the loop ended: ok with the final answer, or an error (steps or model budget used up, model failure).
 */
export async function runReact(context: RunContext): Promise<GuestOutcome> {
  const { policy, task, gate, emit } = context;
  const tools = toolsFor(policy);
  const byName = new Map(tools.map((t) => [t.spec.name, t]));
  const messages: ChatMessage[] = [
    { role: "system", content: policy.agent.instructions ?? "" },
    { role: "user", content: task },
  ];
  for (let step = 1; step <= policy.limits.maxSteps; step++) {
    emit({ type: "step", step, loop: "react" });
    let answer;
    try {
      answer = await completeThroughGate(gate, {
        messages,
        ...(tools.length ? { tools: tools.map((t) => t.spec) } : {}),
      });
    } catch (e) {
      if (e instanceof LoopModelError) {
        return { state: "error", output: null, error: { code: e.code, message: e.message, hint: e.hint } };
      }
      throw e;
    }
    const calls = answer.message.toolCalls;
    if (calls.length === 0) return { state: "ok", output: answer.message.content, error: null };
    messages.push({ role: "assistant", content: answer.message.content, toolCalls: calls });
    for (const call of calls) {
      const tool = byName.get(call.name);
      const started = performance.now();
      const result = tool ? await callTool(gate, { tool, args: call.arguments }) : {
        ok: false,
        text: `Error ERR_INVALID_ARGS: There is no tool "${call.name}". Hint: use one of ${
          [...byName.keys()].join(", ") || "(none)"
        }`,
        value: null,
      };
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      emit({
        type: "tool",
        step,
        tool: call.name,
        ok: result.ok,
        durationMs,
        observation: result.text.slice(0, 500),
      });
      messages.push({ role: "tool", toolCallId: call.id, name: call.name, content: result.text });
    }
  }
  return outOfSteps(policy);
}

// The one runner shape, checked.
runReact satisfies AgentRunner;
