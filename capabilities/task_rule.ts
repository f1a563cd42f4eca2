/**
 * The `[agent] task` rule: whether a run of an agent must, may or must not be
 * given a task. `ironclaw run` and `submit` apply it to `--task`, `ironclaw
 * serve` to a request's `task`. Pure.
 *
 * @module
 */

import type { Policy } from "./policy.ts";

/** What is wrong with a run's task, in words. */
export interface TaskProblem {
  /** What is wrong. */
  message: string;
  /** What to change. */
  hint: string;
}

/**
 * Checks a run's task against the agent's `[agent] task` rule.
 *
 * @param policy The agent's Policy.
 * @param task The task given, or undefined when none was.
 * @param options How the caller gives a task, for the hints: `give` (default `--task "..."`) and `omit`
 *   (default `--task`).
 * @returns The problem, or null when the task fits the rule.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { taskProblem } from "./task_rule.ts";
 *
 * const manifest = parseManifest(
 *   `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\ntask = "none"\n`,
 *   { path: "/srv/a/agent.toml" },
 * );
 * const policy = resolvePolicy(manifest, defaultRuntimeConfig("/srv"));
 * if (taskProblem(policy, "hi") === null || taskProblem(policy, undefined) !== null) throw new Error();
 * ```
 */
export function taskProblem(
  policy: Policy,
  task: string | undefined,
  options: { give?: string; omit?: string } = {},
): TaskProblem | null {
  const give = options.give ?? '--task "..."';
  const omit = options.omit ?? "--task";
  const where = `under [agent] in "${policy.manifestFile}"`;
  if (task === undefined && policy.agent.task === "required") {
    return {
      message: `The agent "${policy.agent.name}" needs a task`,
      hint: `give one with ${give}, or set task = "optional" ${where} if it needs none`,
    };
  }
  if (task !== undefined && policy.agent.task === "none") {
    return {
      message: `The agent "${policy.agent.name}" takes no task`,
      hint: `leave out ${omit}, or set task = "optional" ${where}`,
    };
  }
  return null;
}
