/** `ironclaw submit <agent.toml | agent name> --task "..."`: queue a run for a worker. */

import { dirname, resolve } from "node:path";
import { IronclawError, printableLines } from "../manifests/errors.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { findAgents } from "../supervisor/agents_dir.ts";
import { loadAgent, loadRuntimeConfig } from "../supervisor/load.ts";
import { followRun, newRunId } from "../supervisor/records.ts";
import { openConfiguredStore, type RunStore } from "../supervisor/store/mod.ts";
import { checkTaskBytes } from "../supervisor/supervisor.ts";
import { checkTask } from "./run.ts";
import {
  COMMON_OPTIONS,
  configOption,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw submit`. */
export const SUBMIT_HELP = `Queue a run for a worker (ironclaw worker) to take

Examples:
  ironclaw submit examples/hello/agent.toml --task "summarize my notes"
  ironclaw submit hello --agents agents/ --task "summarize my notes" --wait

Usage: ironclaw submit <agent.toml | agent name> --task <text> [options]

The run is put in the store's queue (state "queued") and its id printed; a
worker runs it later, on this machine or another one sharing the store
([store] url, PostgreSQL). Workers run the agents of their own machine: give
every machine the same agents folder. Waiting in the queue does not count
against the agent's timeout_s.

Options:
  --task <text>     The task given to the agent (as for ironclaw run)
  --agents <dir>    Find the agent by name among the manifests of this folder
  --wait            Wait for the run to end; print its output and exit with its exit code
  --json            Print {"id","state"}; with --wait, the run's events as JSON lines
  --config <file>   Runtime config; without it: ./ironclaw.toml, then ironclaw.toml beside
                    the manifest, then built-in defaults
  -h, --help        Show this help

If the run's worker dies, the run is "lost"; with [limits] retries = n in the
manifest it is queued again (at most n times) as long as it had made no
allowed side effect (a write, a fetch, a program, a plugin tool).

Exit status: 0 queued (with --wait: the run's own exit status), 1 failure, 2 usage error.
`;

/** The manifest a submit names: a file, or an agent's name in `--agents DIR`. */
async function manifestOf(target: string, agentsDir: string | undefined): Promise<string> {
  const asFile = await Deno.stat(target).then((s) => s.isFile, () => false);
  if (asFile) return resolve(target);
  if (agentsDir === undefined) {
    throw new UsageError(
      `No manifest "${target}"`,
      "give the path of an agent.toml, or an agent's name with --agents DIR",
    );
  }
  const path = (await findAgents(agentsDir)).get(target);
  if (path === undefined) {
    throw new IronclawError("ERR_NOT_FOUND", `No agent "${target}" in "${agentsDir}"`, {
      hint: "the name is the manifest's [agent] name; ls the folder for its manifests",
    });
  }
  return path;
}

/**
 * Runs `ironclaw submit`.
 *
 * @param args The arguments after `submit`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function submitCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        ...COMMON_OPTIONS,
        task: { type: "string" },
        agents: { type: "string" },
        wait: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    }, "submit");
    if (values.help) {
      io.out(SUBMIT_HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        "Expected one manifest or agent name",
        'ironclaw submit <agent.toml> --task "..."',
      );
    }
    const manifest = await manifestOf(positionals[0]!, values.agents);
    const config = await loadRuntimeConfig({ ...configOption(values), manifestDir: dirname(manifest) });
    const { policy } = await loadAgent(manifest, config);
    checkTask(policy, values.task);
    const task = values.task ?? "";
    checkTaskBytes(task);
    const store = await openConfiguredStore(config);
    try {
      const id = newRunId();
      const started = new Date().toISOString();
      await store.enqueueRun({
        id,
        agent: policy.agent.name,
        manifest,
        task,
        started,
        retries: policy.limits.retries,
      });
      if (!values.wait) {
        if (values.json) io.out(JSON.stringify({ id, state: "queued" }) + "\n");
        else io.out(id + "\n");
        if (!values.json) io.err(styles(io).dim(`queued; follow it with ironclaw runs tail ${id}\n`));
        return 0;
      }
      return await wait(store, id, { ...io, json: values.json === true });
    } finally {
      await store.close();
    }
  } catch (e) {
    return reportError(io, e);
  }
}

/** Follows a queued run to its end: its events with --json, else its output or error; its exit code. */
async function wait(store: RunStore, id: string, io: Io & { json: boolean }): Promise<number> {
  if (!io.json) io.err(styles(io).dim(`run ${id} queued; waiting for a worker\n`));
  const end = await followRun(store, {
    id,
    onEvent: (e) => {
      if (io.json) io.out(JSON.stringify(e) + "\n");
    },
  }) as RunEvent & { state: string; output: string | null; exitCode: number; error?: Record<string, string> };
  if (!io.json) {
    if (end.state === "ok") {
      io.out(end.output ?? "");
      if (end.output && !end.output.endsWith("\n")) io.out("\n");
    } else if (end.error) {
      io.err(
        `${styles(io).red(end.state)}: ${printableLines(end.error.message ?? "")} [${end.error.code}]\n`,
      );
      if (end.error.hint) io.err(`  hint: ${printableLines(end.error.hint, "    ")}\n`);
    }
    io.err(styles(io).dim(`run ${id}: ${end.state} (ironclaw runs show ${id})\n`));
  }
  return typeof end.exitCode === "number" ? end.exitCode : 1;
}
