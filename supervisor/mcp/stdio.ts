/**
 * `ironclaw mcp` as a library: one MCP session over this process's stdin and
 * stdout. Agent calls are queued in the store and run by an in-process
 * worker, as under `ironclaw serve`; code calls run in the session's CodeAct
 * sandboxes. Stdout carries the protocol only.
 *
 * @module
 */

import process from "node:process";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { RuntimeConfig } from "../../manifests/runtime_config.ts";
import { openConfiguredStore } from "../store/mod.ts";
import { startWorker, type WorkerEvent, type WorkerHandle } from "../worker.ts";
import { EventBell } from "../serve/sse.ts";
import type { McpAgent } from "./agent_call.ts";
import { mcpSession } from "./server.ts";
import type { Policy } from "../../capabilities/policy.ts";

/** Options of {@linkcode serveMcpStdio}. */
export interface McpStdioOptions {
  /** The runtime config in force. */
  config: RuntimeConfig;
  /** The agents offered as tools. */
  agents: ReadonlyMap<string, McpAgent>;
  /** The code tools' CodeAct Policy. */
  code: Policy;
  /** Agent runs at once; default twice the cores. */
  concurrency?: number;
  /** Told of each run the worker takes and ends. */
  onEvent?: (event: WorkerEvent) => void;
  /** Aborted (SIGINT, SIGTERM): the session ends as when the client closes stdin. */
  signal?: AbortSignal;
}

/** A worker that holds nothing, for a server without agents. */
const NO_WORKER: WorkerHandle = {
  done: Promise.resolve({ ran: 0, released: 0 }),
  running: 0,
  cancel: () => false,
  wake: () => {},
};

/**
 * Serves MCP over stdio until the client closes stdin (or the signal aborts); then stops the session's
 * sandboxes and running runs (they end `interrupted`) and closes the store.
 *
 * @param options The config, agents, code Policy and signal.
 * @returns When all has ended.
 */
export async function serveMcpStdio(options: McpStdioOptions): Promise<void> {
  const { config, agents } = options;
  const store = await openConfiguredStore(config);
  const drain = new AbortController();
  const stop = new AbortController();
  const closing = new AbortController();
  const bell = new EventBell();
  const worker = agents.size === 0 ? NO_WORKER : startWorker({
    config,
    store,
    concurrency: options.concurrency ?? config.serve.concurrency ?? 2 * navigator.hardwareConcurrency,
    agents: new Map([...agents].map(([name, a]) => [name, a.manifest])),
    drain: drain.signal,
    stop: stop.signal,
    onRunStored: () => bell.ring(),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const session = mcpSession({
    config,
    store,
    worker,
    agents,
    code: options.code,
    closing: closing.signal,
    bell,
  }, {
    label: "stdio",
  });
  const transport = new StdioServerTransport(process.stdin, process.stdout);
  const ended = new Promise<void>((done) => {
    transport.onclose = () => done();
    process.stdin.once("end", () => transport.close());
    process.stdin.once("close", () => transport.close());
    options.signal?.addEventListener("abort", () => transport.close(), { once: true });
  });
  await session.server.connect(transport);
  await ended;
  await session.close(); // the calls still running were aborted when the transport closed: their runs end
  closing.abort();
  stop.abort();
  drain.abort();
  await worker.done;
  await store.close();
}
