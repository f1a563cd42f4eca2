/**
 * The pieces of the queue tests: a folder with a ReAct agent whose model (a
 * loopback server) answers after a delay, so a run spends its time waiting
 * like a real one; `ironclaw worker` processes; and waiting for runs to end.
 */

import { join } from "node:path";
import { newRunId } from "../supervisor/records.ts";
import { openStore, type RunStore, type RunSummary } from "../supervisor/store/mod.ts";
import { ROOT } from "./_cli.ts";

/** A model that answers "done TASK" after `delayMs`, and counts the requests of each task. */
export interface SlowModel extends AsyncDisposable {
  /** Its origin. */
  origin: string;
  /** Requests seen, by task. */
  seen: Map<string, number>;
  /** The tasks whose request is being answered now. */
  pending: Set<string>;
}

/** The task text of an Ollama chat request: its last user message. */
function taskOf(body: { messages?: { role: string; content: string }[] }): string {
  return body.messages?.findLast((m) => m.role === "user")?.content ?? "";
}

/** Starts a {@linkcode SlowModel}: an Ollama-style `/api/chat` on 127.0.0.1. */
export function slowModel(delayMs: number): SlowModel {
  const seen = new Map<string, number>();
  const pending = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    const task = (/task-\d+/.exec(taskOf(body)) ?? [""])[0];
    seen.set(task, (seen.get(task) ?? 0) + 1);
    pending.add(task);
    await new Promise((r) => setTimeout(r, delayMs));
    pending.delete(task);
    return Response.json({
      model: body.model,
      message: { role: "assistant", content: `done ${task}` },
      done: true,
      done_reason: "stop",
      prompt_eval_count: 10,
      eval_count: 2,
    });
  });
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    seen,
    pending,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A folder with the agent `slow`, a runtime config naming the store, and the store opened. */
export interface QueueSetup extends AsyncDisposable {
  /** The folder. */
  root: string;
  /** The runtime config file. */
  config: string;
  /** The agents folder (`--agents`). */
  agents: string;
  /** The agent's manifest. */
  manifest: string;
  /** The store, opened by the test. */
  store: RunStore;
}

/**
 * Makes a {@linkcode QueueSetup}.
 *
 * @param options The model's origin, the store's URL (null: SQLite in the folder) and the agent's retries.
 */
export async function queueSetup(
  options: { model: string; url: string | null; retries: number },
): Promise<QueueSetup> {
  const root = await Deno.makeTempDir({ prefix: "ironclaw-queue-" });
  const agents = join(root, "agents");
  await Deno.mkdir(join(agents, "slow"), { recursive: true });
  const manifest = join(agents, "slow", "agent.toml");
  await Deno.writeTextFile(
    manifest,
    `[agent]\nname = "slow"\nversion = "0.1.0"\ndescription = "Answers once its model does"\nkind = "react"\n` +
      `instructions = "Answer."\n\n[model]\nprovider = "slow"\nname = "m"\n\n` +
      `[limits]\ntimeout_s = 120\nretries = ${options.retries}\n`,
  );
  const config = join(root, "ironclaw.toml");
  await Deno.writeTextFile(
    config,
    `[runtime]\nstate_dir = "state"\n\n` + (options.url ? `[store]\nurl = "${options.url}"\n\n` : "") +
      `[providers.slow]\ntype = "ollama"\nbase_url = "${options.model}"\n`,
  );
  const stateDir = join(root, "state");
  const store = await openStore(stateDir, options.url ? { url: options.url } : {});
  return {
    root,
    config,
    agents,
    manifest,
    store,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Queues `count` runs of the agent `slow`, tasks `task-<first>` and on.
 *
 * @returns Their ids, in order.
 */
export async function enqueue(
  setup: Pick<QueueSetup, "store" | "manifest">,
  options: { count: number; first?: number; retries: number; agent?: string },
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = options.first ?? 0; i < (options.first ?? 0) + options.count; i++) {
    const id = `${newRunId()}-${i}`;
    const started = new Date().toISOString();
    await setup.store.enqueueRun({
      id,
      agent: options.agent ?? "slow",
      manifest: setup.manifest,
      task: `task-${i}`,
      started,
      retries: options.retries,
    });
    ids.push(id);
  }
  return ids;
}

/** A live `ironclaw worker --json`. */
export interface WorkerProcess {
  /** The process. */
  child: Deno.ChildProcess;
  /** Its JSON lines so far. */
  events: { type: string; id?: string; state?: string; attempt?: number }[];
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the process has ended, with its status. */
  status: Promise<Deno.CommandStatus>;
}

/** Starts `ironclaw worker --json --concurrency N --agents DIR --config FILE`. */
export function startWorker(
  setup: Pick<QueueSetup, "root" | "agents" | "config">,
  concurrency = 1,
): WorkerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `${ROOT}mod.ts`,
      "worker",
      "--json",
      "--concurrency",
      String(concurrency),
      "--agents",
      setup.agents,
      "--config",
      setup.config,
    ],
    cwd: setup.root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_STATE_HOME: join(setup.root, "xdg") },
  }).spawn();
  const events: WorkerProcess["events"] = [];
  let err = "";
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  const read = (async () => {
    let rest = "";
    for await (const chunk of lines) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const p of parts) if (p.startsWith("{")) events.push(JSON.parse(p));
    }
  })();
  const readErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  const status = Promise.all([child.status, read, readErr]).then(([s]) => s);
  return { child, events, stderr: () => err, status };
}

/** Waits until `check` holds, looking every 100 ms, for at most `ms`; throws with `what` past it. */
export async function until(check: () => boolean | Promise<boolean>, options: { ms: number; what: string }) {
  const end = Date.now() + options.ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${options.what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The summaries of `ids`, once none of them is queued or running (reaping the store while waiting). */
export async function allEnded(store: RunStore, ids: string[], ms: number): Promise<RunSummary[]> {
  let runs: RunSummary[] = [];
  await until(async () => {
    await store.reapLost();
    const wanted = new Set(ids);
    runs = (await store.listRuns()).filter((r) => wanted.has(r.id));
    return runs.length === ids.length && runs.every((r) => r.state !== "queued" && r.state !== "running");
  }, { ms, what: "every run to end" });
  return runs;
}
