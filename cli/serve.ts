/** `ironclaw serve`: the HTTP API over the run store, for the agents of one folder. */

import { resolve } from "node:path";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { isLoopback, type ServeHandle, startServer } from "../supervisor/serve/mod.ts";
import type { WorkerEvent } from "../supervisor/worker.ts";
import type { PoolEvent } from "../supervisor/pool.ts";
import {
  COMMON_OPTIONS,
  configOption,
  intFlag,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw serve`. */
export const SERVE_HELP = `Serve the agents of a folder over an HTTP API: queue, follow and cancel runs

Examples:
  ironclaw serve --agents agents/
  ironclaw serve --agents agents/ --port 8080 --concurrency 4
  curl -H "Authorization: Bearer $(cat ~/.local/state/ironclaw/serve.token)" \\
       -d '{"agent":"hello","task":"summarize my notes"}' http://127.0.0.1:7341/v1/runs

Usage: ironclaw serve [--host <addr>] [--port <n>] [--agents <dir>] [options]

A long-lived supervisor over the run store. A request names a served agent
(by its [agent] name) and a task, never a manifest or a path: the run is
queued, and this server's own worker runs it when one of its slots is free
(runs beyond the concurrency wait "queued"; waiting does not count against
timeout_s). GET /v1/openapi.json documents the API. /mcp serves the same
agents, and sandboxed code, as MCP tools over Streamable HTTP (see
ironclaw help mcp).

Every request needs Authorization: Bearer <token>. The token is
IRONCLAW_TOKEN when set, else the file serve.token in the state folder, made
(mode 0600) on the first start; the server prints where it is.

Its URL opened in a browser is the dashboard: runs live, each run's
timeline, approvals to decide, the agents and what they may do. It asks
for the token once and keeps a session cookie.

Options:
  --host <addr>      Address to listen on (default 127.0.0.1, or [serve] host); any
                     other than loopback must be given here, and is warned about
  --port <n>         Port (default 7341, or [serve] port; 0: any free port)
  --agents <dir>     The served agents' manifests (NAME.toml, NAME/agent.toml);
                     default [serve] agents
  --concurrency <n>  Runs at once (default [serve] concurrency, else twice the cores)
  --pool <n>         Sandboxes kept started per agent, its code loaded and its realm
                     made, waiting for a task (default [serve] pool, else 0); a taken
                     one is replaced in the background; pooled runs say so
  --code <manifest>  The CodeAct manifest of the MCP code tools at /mcp (default: a
                     built-in one that grants nothing)
  --json             Print {"url","token_file",...} on start, then one JSON line per run
                     taken, handed back and ended
  --config <file>    Runtime config; default ./ironclaw.toml, then built-in defaults
  -h, --help         Show this help

SIGINT or SIGTERM: take no more requests, let the running runs end, close
the store (queued runs stay queued); a second signal stops the running runs
(they end "interrupted").

Exit status: 0 stopped by a signal, 1 failure, 2 usage error.
`;

/** The signals that stop the server: the first drains it, a second stops the running runs. */
const SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

function eventLine(e: WorkerEvent, io: Io): string {
  const s = styles(io);
  if (e.type === "claimed") return `${e.id}  started ${e.agent} (queued ${e.queuedMs} ms)\n`;
  if (e.type === "released") return `${e.id}  handed back\n`;
  if (e.type === "ended") return `${e.id}  ${e.state === "ok" ? s.green(e.state) : s.red(e.state)}\n`;
  return s.yellow(`problem: ${e.message}${e.hint ? ` (hint: ${e.hint})` : ""}\n`);
}

function poolLine(e: PoolEvent, io: Io): string {
  const s = styles(io);
  if (e.type === "warm") {
    return s.dim(`pool: a sandbox of ${e.agent} is ready (${e.startedMs + e.preparedMs} ms)\n`);
  }
  const then = e.gaveUp ? "; no more tries until its next run" : "";
  return s.yellow(`pool: a sandbox of ${e.agent} failed to start: ${e.error.message}${then}\n`);
}

/** Waits for SIGINT or SIGTERM: the first closes the server (draining), a second stops the running runs. */
function closeOnSignal(server: ServeHandle, io: Io): Promise<void> {
  return new Promise((done) => {
    let signalled = 0;
    const onSignal = () => {
      signalled++;
      if (signalled === 1) {
        io.err(styles(io).dim("serve: stopping; running runs end first (a second signal stops them)\n"));
      }
      server.close({ stop: signalled > 1 }).then(() => {
        for (const s of SIGNALS) Deno.removeSignalListener(s, onSignal);
        done();
      });
    };
    for (const s of SIGNALS) Deno.addSignalListener(s, onSignal);
  });
}

/**
 * Runs `ironclaw serve`.
 *
 * @param args The arguments after `serve`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function serveCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: {
        ...COMMON_OPTIONS,
        host: { type: "string" },
        port: { type: "string" },
        agents: { type: "string" },
        concurrency: { type: "string" },
        pool: { type: "string" },
        code: { type: "string" },
      },
      allowPositionals: true,
      strict: true,
    }, "serve");
    if (values.help) {
      io.out(SERVE_HELP);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError("ironclaw serve takes no arguments", "ironclaw help serve");
    }
    const port = intFlag(values.port, { flag: "port", range: [0, 65535] });
    const concurrency = intFlag(values.concurrency, { flag: "concurrency", range: [1, 1024] });
    const pool = intFlag(values.pool, { flag: "pool", range: [0, 64] });
    const config = await loadRuntimeConfig(configOption(values));
    const host = values.host ?? config.serve.host;
    if (!isLoopback(host) && values.host === undefined) {
      throw new UsageError(
        `Listening on "${host}" ([serve] host) exposes the API to the network`,
        `give --host ${host} to mean it`,
      );
    }
    const token = Deno.env.get("IRONCLAW_TOKEN");
    const server = await startServer({
      config,
      ...(values.agents !== undefined ? { agentsDir: resolve(values.agents) } : {}),
      host,
      ...(port !== undefined ? { port } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(pool !== undefined ? { pool } : {}),
      onPoolEvent: (e) => io.out(values.json ? JSON.stringify(e) + "\n" : poolLine(e, io)),
      ...(token !== undefined ? { token } : {}),
      ...(values.code !== undefined ? { code: resolve(values.code) } : {}),
      onEvent: (e) => io.out(values.json ? JSON.stringify(e) + "\n" : eventLine(e, io)),
      onError: (e) => io.err(`serve: internal error: ${e instanceof Error ? e.stack ?? e.message : e}\n`),
    });
    const stopped = closeOnSignal(server, io);
    announce(server, io, { json: values.json === true, host });
    await stopped;
    io.err(styles(io).dim("serve: stopped\n"));
    return 0;
  } catch (e) {
    return reportError(io, e);
  }
}

/** Prints where the server listens and where its token is. */
function announce(server: ServeHandle, io: Io, options: { json: boolean; host: string }): void {
  const s = styles(io);
  if (!isLoopback(options.host)) {
    io.err(s.yellow(
      `warning: listening on ${options.host}: the API is reachable from the network; put TLS in front of it\n`,
    ));
  }
  const where = server.tokenFile ?? "IRONCLAW_TOKEN";
  if (options.json) {
    io.out(
      JSON.stringify({
        url: server.url,
        token_file: server.tokenFile,
        agents: server.agents,
        concurrency: server.concurrency,
        pool: server.pool?.size ?? 0,
      }) + "\n",
    );
    return;
  }
  io.out(`listening on ${server.url}\ntoken in ${where}\n`);
  const pooled = server.pool ? `; ${server.pool.size} warm sandboxes per agent` : "";
  io.err(s.dim(`serving ${server.agents.join(", ")}; ${server.concurrency} runs at once${pooled}\n`));
  io.err(s.dim(`dashboard: ${server.url}/ (sign in with the token)\n`));
}
