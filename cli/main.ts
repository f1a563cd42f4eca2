/** The `ironclaw` command: dispatch to subcommands, help and version. */

import denoJson from "../deno.json" with { type: "json" };
import { CHECK_HELP, checkCommand } from "./check.ts";
import { type Io, processIo, reportError, UsageError } from "./_output.ts";
import { closeLogging } from "../runtime/logging.ts";
import { closest } from "../manifests/_schema.ts";

/** IronClaw's version, from `deno.json`. */
export const VERSION: string = denoJson.version;

const MAIN_HELP = `IronClaw ${VERSION}: run AI agents inside a permission-scoped Deno process and WebAssembly

Examples:
  ironclaw check examples/hello/agent.toml     Show what an agent may do, and the sandbox command
  ironclaw check agent.toml --json             The same, as JSON

Usage: ironclaw <command> [options]

Commands:
  check <agent.toml>    Validate a manifest; print grants, sandbox command and why each flag is there
  help [command]        Show help for a command

Options:
  --config <file>       Runtime config (default: ./ironclaw.toml, else built-in defaults)
  -h, --help            Show this help
  -V, --version         Show the version

Exit status: 0 success, 1 failure, 2 usage error or invalid manifest.
`;

const COMMANDS: Record<string, { help: string; run: (args: string[], io: Io) => Promise<number> }> = {
  check: { help: CHECK_HELP, run: checkCommand },
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
