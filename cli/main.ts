/** The `ironclaw` command: dispatch to subcommands, help and version. */

import denoJson from "../deno.json" with { type: "json" };
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
  mcp                   Serve agents and sandboxed code as MCP tools over stdio (--agents, --code)
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

/** A command: its help text and its handler. */
interface Command {
  help: string;
  run: (args: string[], io: Io) => Promise<number>;
}

/**
 * Each command's module, loaded only when the command runs (or its help is asked for): `ironclaw run` does
 * not load what `build`, `runs`, `plugins`, `submit` or `worker` need.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => {
    const m = await import("./run.ts");
    return { help: m.RUN_HELP, run: m.runCommand };
  },
  check: async () => {
    const m = await import("./check.ts");
    return { help: m.CHECK_HELP, run: m.checkCommand };
  },
  runs: async () => {
    const m = await import("./runs.ts");
    return { help: m.RUNS_HELP, run: m.runsCommand };
  },
  build: async () => {
    const m = await import("./build.ts");
    return { help: m.BUILD_HELP, run: m.buildCommand };
  },
  plugins: async () => {
    const m = await import("./plugins.ts");
    return { help: m.PLUGINS_HELP, run: m.pluginsCommand };
  },
  submit: async () => {
    const m = await import("./submit.ts");
    return { help: m.SUBMIT_HELP, run: m.submitCommand };
  },
  worker: async () => {
    const m = await import("./worker.ts");
    return { help: m.WORKER_HELP, run: m.workerCommand };
  },
  approvals: async () => {
    const m = await import("./approvals.ts");
    return { help: m.APPROVALS_HELP, run: m.approvalsCommand };
  },
  serve: async () => {
    const m = await import("./serve.ts");
    return { help: m.SERVE_HELP, run: m.serveCommand };
  },
  mcp: async () => {
    const m = await import("./mcp.ts");
    return { help: m.MCP_HELP, run: m.mcpCommand };
  },
};

/** The command named `name`, loaded; undefined for an unknown name. */
function command(name: string): Promise<Command> | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name]!() : undefined;
}

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
      const cmd = command(rest[0]);
      if (!cmd) throw unknownCommand(rest[0]);
      io.out((await cmd).help);
      return 0;
    }
    const cmd = command(first);
    if (!cmd) throw unknownCommand(first);
    return await (await cmd).run(rest, io);
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
