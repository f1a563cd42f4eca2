/** The `ironclaw` command: dispatch to subcommands, help and version. */

import denoJson from "../deno.json" with { type: "json" };
import { CHECK_HELP, checkCommand } from "./check.ts";
import { RUN_HELP, runCommand } from "./run.ts";
import { RUNS_HELP, runsCommand } from "./runs.ts";
import { APPROVALS_HELP, approvalsCommand } from "./approvals.ts";
import { BUILD_HELP, buildCommand } from "./build.ts";
import { PLUGINS_HELP, pluginsCommand } from "./plugins.ts";
import { SUBMIT_HELP, submitCommand } from "./submit.ts";
import { WORKER_HELP, workerCommand } from "./worker.ts";
import { SERVE_HELP, serveCommand } from "./serve.ts";
import { type Io, processIo, reportError, UsageError } from "./output.ts";
import { closeLogging } from "../supervisor/logging.ts";
import { closest } from "../manifests/schema.ts";

/** IronClaw's version, from `deno.json`. */
export const VERSION: string = denoJson.version;

const MAIN_HELP = `IronClaw ${VERSION}: run AI agents inside a permission-scoped Deno process and WebAssembly

Examples:
  ironclaw run examples/hello/agent.toml --task "summarize"   Run an agent in its sandbox
  ironclaw check examples/hello/agent.toml                    Show what it may do, and the sandbox command
  ironclaw build agent.js -o agent.wasm                       Build a JavaScript agent into a component
  ironclaw runs list                                          The recorded runs

Usage: ironclaw <command> [options]

Commands:
  run <agent.toml>      Run an agent in its sandbox (--task, --json)
  check <agent.toml>    Validate a manifest; print grants, sandbox command and why each flag is there
  build <agent.js>      Build a JavaScript or TypeScript agent into a WebAssembly component
  runs <list|show|tail|prune>  The recorded runs: list, show, follow live, prune
  approvals <list|approve|deny>  Gate calls waiting for a person's approval ([approvals])
  submit <agent.toml|name>  Queue a run for a worker (--task, --wait)
  worker                Take queued runs and run them (--concurrency, --agents)
  serve                 Serve the agents of a folder over an HTTP API (--agents, --port)
  plugins list|show     The plugins agents can use
  help [command]        Show help for a command

Options:
  --config <file>       Runtime config; without it: ./ironclaw.toml, then ironclaw.toml beside
                        the manifest (run, check), then built-in defaults
  -h, --help            Show this help
  -V, --version         Show the version

Exit status: 0 success, 1 failure, 2 usage error or invalid manifest;
ironclaw run also 124 timeout, 125 memory limit, 130 interrupted.
`;

const COMMANDS: Record<string, { help: string; run: (args: string[], io: Io) => Promise<number> }> = {
  run: { help: RUN_HELP, run: runCommand },
  check: { help: CHECK_HELP, run: checkCommand },
  runs: { help: RUNS_HELP, run: runsCommand },
  approvals: { help: APPROVALS_HELP, run: approvalsCommand },
  build: { help: BUILD_HELP, run: buildCommand },
  plugins: { help: PLUGINS_HELP, run: pluginsCommand },
  submit: { help: SUBMIT_HELP, run: submitCommand },
  worker: { help: WORKER_HELP, run: workerCommand },
  serve: { help: SERVE_HELP, run: serveCommand },
};

/**
 * Runs the CLI with `args` and returns the exit code. Never exits the process itself.
 *
 * @param args Command-line arguments, without the program.
 * @param io Where to write; default the process's standard output and error.
 * @returns The exit code.
 */
export async function main(args: string[], io: Io = processIo()): Promise<number> {
  try {
    const [first, ...rest] = args;
    if (first === undefined || first === "-h" || first === "--help") {
      io.out(MAIN_HELP);
      return first === undefined ? 2 : 0;
    }
    if (first === "-V" || first === "--version") {
      io.out(`ironclaw ${VERSION}\n`);
      return 0;
    }
    if (first === "help") {
      if (rest[0] === undefined) {
        io.out(MAIN_HELP);
        return 0;
      }
      const cmd = COMMANDS[rest[0]];
      if (!cmd) throw unknownCommand(rest[0]);
      io.out(cmd.help);
      return 0;
    }
    const cmd = COMMANDS[first];
    if (!cmd) throw unknownCommand(first);
    return await cmd.run(rest, io);
  } catch (e) {
    return reportError(io, e);
  } finally {
    await closeLogging();
  }
}

function unknownCommand(name: string): UsageError {
  const near = closest(name, Object.keys(COMMANDS).concat("help"));
  return new UsageError(
    `Unknown command "${name}"`,
    near ? `did you mean "ironclaw ${near}"?` : "ironclaw --help lists the commands",
  );
}
