/**
 * The built-in CodeAct loop: the model answers with a code block, which runs
 * in a persistent interpreter inside the sandbox (JavaScript in QuickJS
 * compiled to WebAssembly, or Python in Pyodide) with the granted tools as
 * async functions; the output and errors come back as the observation. An
 * answer without a code block is the final answer.
 *
 * @module
 */

import type { EnforcedGrant } from "../../protocol/grant.ts";
import type { ChatMessage } from "../../protocol/model_types.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import { completeThroughGate, LoopModelError, outOfSteps } from "./model.ts";
import { callTool, cap, type LoopTool, toolsFor } from "./tools.ts";
import {
  type CodeSession,
  type CodeSessionOptions,
  type CodeStepResult,
  StuckStepError,
} from "../codeact/session.ts";
import type { AgentRunner, RunContext } from "../runner.ts";

/** Finds the first fenced code block of the language, or undefined. */
export function codeBlock(text: string, language: "javascript" | "python"): string | undefined {
  const names = language === "javascript" ? "(?:javascript|js|typescript|ts)" : "(?:python|py)";
  const m = text.match(new RegExp("```" + names + "[^\\n]*\\n([\\s\\S]*?)```", "i")) ??
    text.match(/```\n([\s\S]*?)```/);
  return m?.[1];
}

/** The system prompt: the agent's instructions, then how to act. */
export function codeActPrompt(policy: EnforcedGrant, tools: LoopTool[]): string {
  const lang = policy.agent.language === "python" ? "python" : "javascript";
  const call = lang === "python"
    ? 'await tools.read_file({"path": "notes/a.txt"})'
    : 'await tools.read_file({ path: "notes/a.txt" })';
  const print = lang === "python" ? "print()" : "console.log()";
  const list = tools.map((t) =>
    `- tools.${t.spec.name}(${
      JSON.stringify(Object.keys((t.spec.parameters.properties ?? {}) as object))
    }): ${t.spec.description}`
  );
  return [
    policy.agent.instructions ?? "",
    "",
    `To act, answer with exactly one fenced \`\`\`${lang} code block. It runs in a ${
      lang === "python" ? "Python" : "JavaScript"
    } session that`,
    `keeps its variables between steps. Top-level await works. Use ${print} to see values: its output, the value of the`,
    "last expression and any error come back to you as the observation. There is no network or file access except",
    `through these async tool functions, each taking one object of arguments (for example \`${call}\`):`,
    ...(list.length ? list : ["- (no tools are granted to this agent)"]),
    "When you know the answer, reply with the answer itself and no code block.",
  ].join("\n");
}

function observation(r: CodeStepResult, deadlineS: number): string {
  const parts: string[] = [];
  if (r.output) parts.push(`Output:\n${r.output}`);
  if (r.value !== null) parts.push(`Value: ${r.value}`);
  if (r.error !== null) parts.push(`Error: ${r.error}`);
  if (r.timedOut) parts.push(`The step was stopped after ${deadlineS} s (limits.step_timeout_s).`);
  if (r.outOfMemory) parts.push("The step ran out of memory (limits.memory_mb).");
  return cap(parts.length ? parts.join("\n") : "(no output)");
}

/** What a CodeAct run needs besides the {@linkcode RunContext}. */
export interface CodeActOptions {
  /** Makes the interpreter (QuickJS or Pyodide). */
  makeSession: (options: CodeSessionOptions) => Promise<CodeSession>;
}

/** The options of a run's interpreter: its tools, and its caps from the Policy. */
function sessionOptions(policy: EnforcedGrant, tools: CodeSessionOptions["tools"]): CodeSessionOptions {
  return {
    tools,
    memoryBytes: policy.limits.memoryMb * 1024 * 1024,
    stepDeadlineMs: policy.limits.stepTimeoutS * 1000,
    maxOutputBytes: 16 * 1024,
  };
}

/** An interpreter started before its run's task is known (a pooled sandbox), and how to hand it to the run. */
export interface PreparedCodeAct {
  /** Settles when the interpreter has started (or failed to: the run then starts one itself). */
  ready: Promise<void>;
  /** The run's session factory: its first call gets the started interpreter, its tools bound then. */
  makeSession: CodeActOptions["makeSession"];
  /** Releases the started interpreter when no run took it. */
  discard(): void;
}

/**
 * Starts the interpreter of a CodeAct run ahead of its task: its tools' names and caps come from the Policy,
 * and the tools themselves (which call the run's gate) are bound when the run takes it.
 *
 * @param policy The run's grant.
 * @param options The interpreter's factory.
 * @returns The started interpreter, for {@linkcode runCodeAct}.
 */
export function prepareCodeAct(policy: EnforcedGrant, options: CodeActOptions): PreparedCodeAct {
  const make = options.makeSession;
  const bound: CodeSessionOptions["tools"] = {};
  const forward: CodeSessionOptions["tools"] = {};
  for (const { spec } of toolsFor(policy)) forward[spec.name] = (args) => bound[spec.name]!(args);
  const first = make(sessionOptions(policy, forward));
  let taken = false;
  return {
    ready: first.then(() => {}, () => {}),
    makeSession: (session) => {
      if (taken) return make(session);
      taken = true;
      Object.assign(bound, session.tools);
      return first.catch(() => make(session));
    },
    discard: () => {
      if (!taken) first.then((s) => s.dispose(), () => {});
    },
  };
}

/**
 * Runs the CodeAct loop on the context's task: an {@linkcode AgentRunner}
 * with {@linkcode CodeActOptions}.
 *
 * @param context The run: its Policy, task, host gate, and where step events go.
 * @param options The interpreter's factory.
 * @returns How the loop ended.
 */
export async function runCodeAct(context: RunContext, options: CodeActOptions): Promise<GuestOutcome> {
  const { policy, task, gate, emit } = context;
  const { makeSession } = options;
  const language = policy.agent.language === "python" ? "python" : "javascript";
  const tools = toolsFor(policy);
  const bridged: CodeSessionOptions["tools"] = {};
  for (const tool of tools) {
    bridged[tool.spec.name] = async (args) => {
      const result = await callTool(gate, { tool, args: (args ?? {}) as Record<string, unknown> });
      emit({ type: "tool", tool: tool.spec.name, ok: result.ok, observation: result.text.slice(0, 500) });
      if (!result.ok) throw new Error(result.text);
      return result.value;
    };
  }
  const session = await makeSession(sessionOptions(policy, bridged));
  const messages: ChatMessage[] = [
    { role: "system", content: codeActPrompt(policy, tools) },
    { role: "user", content: task },
  ];
  try {
    for (let step = 1; step <= policy.limits.maxSteps; step++) {
      emit({ type: "step", step, loop: "codeact" });
      let answer;
      try {
        answer = await completeThroughGate(gate, { messages });
      } catch (e) {
        if (e instanceof LoopModelError) {
          return { state: "error", output: null, error: { code: e.code, message: e.message, hint: e.hint } };
        }
        throw e;
      }
      const content = answer.message.content;
      const code = codeBlock(content, language);
      if (code === undefined) return { state: "ok", output: content, error: null };
      const started = performance.now();
      let result;
      try {
        result = await session.run(code);
      } catch (e) {
        if (!(e instanceof StuckStepError)) throw e;
        return {
          state: "error",
          output: null,
          error: {
            code: "ERR_LIMIT",
            message: `${e.message}: the run ends`,
            hint: "raise [limits] step_timeout_s",
          },
        };
      }
      const text = observation(result, policy.limits.stepTimeoutS);
      emit({
        type: "code",
        step,
        language,
        code: code.length > 4000 ? code.slice(0, 4000) + "..." : code,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        error: result.error,
        timedOut: result.timedOut,
        outOfMemory: result.outOfMemory,
        observation: text.slice(0, 1000),
      });
      messages.push({ role: "assistant", content }, { role: "user", content: `Observation:\n${text}` });
    }
  } finally {
    session.dispose();
  }
  return outOfSteps(policy);
}

// The one runner shape, checked.
runCodeAct satisfies AgentRunner<CodeActOptions>;
