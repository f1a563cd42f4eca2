/**
 * The program op: `proc.run`. Only with `dangerous = true` and the program
 * granted; it runs the path the name resolved to when the Policy was made (the
 * sandbox has no PATH), with no shell, an empty environment, in the manifest's
 * folder, its output capped.
 *
 * @module
 */

import { matchProgram } from "../../capabilities/commands.ts";
import { readCapped } from "./_stream.ts";
import { denied, invalid, io } from "./errors.ts";
import { type Args, type FamilyOps, type GateContext, MAX_PROC_BYTES, OP_TIMEOUT_MS } from "./family.ts";

/** How a program is started (a subset of `Deno.CommandOptions`). */
export interface ProcSpawnOptions {
  /** Its arguments. */
  args: string[];
  /** Always: the program sees no environment. */
  clearEnv: true;
  /** Whether it gets standard input. */
  stdin: "null" | "piped";
  /** Always piped. */
  stdout: "piped";
  /** Always piped. */
  stderr: "piped";
  /** Its working folder. */
  cwd: string;
  /** Aborts it. */
  signal: AbortSignal;
}

/** A started program (a subset of `Deno.ChildProcess`). */
export interface ProcChild {
  /** Its standard input (only when piped). */
  readonly stdin: WritableStream<Uint8Array>;
  /** Its standard output. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Its standard error. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Settles when it exits. */
  readonly status: Promise<{ code: number }>;
}

/** The process calls `proc.run` makes (Deno's, or a test's fakes). */
export interface ProcIo {
  /** Like `new Deno.Command(program, options).spawn()`. */
  spawn(program: string, options: ProcSpawnOptions): ProcChild;
}

/** The real process calls. */
export const DENO_PROC: ProcIo = { spawn: (program, options) => new Deno.Command(program, options).spawn() };

/**
 * The program op of one gate.
 *
 * @param ctx The gate's Policy, checks and grants.
 * @param proc The process calls.
 * @returns The handler of `proc.run`.
 */
export function procOps(ctx: GateContext, proc: ProcIo = DENO_PROC): FamilyOps<"proc"> {
  return {
    "proc.run": {
      precheck: (args) => void procGrant(ctx, args),
      run: async (args) => {
        const { cmd, argv, program, rule } = procGrant(ctx, args);
        const child = io(() =>
          proc.spawn(program, {
            args: argv,
            clearEnv: true,
            stdin: args.stdin === undefined ? "null" : "piped",
            stdout: "piped",
            stderr: "piped",
            cwd: ctx.policy.baseDir,
            signal: AbortSignal.timeout(OP_TIMEOUT_MS),
          }), cmd);
        if (args.stdin !== undefined) {
          const w = child.stdin.getWriter();
          await w.write(new TextEncoder().encode(args.stdin as string)).catch(() => {});
          await w.close().catch(() => {});
        }
        const [stdout, stderr, status] = await Promise.all([
          readCapped(child.stdout, MAX_PROC_BYTES, true),
          readCapped(child.stderr, MAX_PROC_BYTES, true),
          child.status,
        ]);
        const dec = new TextDecoder();
        return { value: { code: status.code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) }, rule };
      },
    },
  };
}

/** The checks of proc.run that need no waiting: the arguments and the grant. */
function procGrant(
  ctx: GateContext,
  args: Args,
): { cmd: string; argv: string[]; program: string; rule: string } {
  const cmd = args.cmd;
  if (typeof cmd !== "string" || cmd.length === 0) {
    throw invalid('"cmd" must be a program name', 'pass {"cmd": "git", "args": ["status"]}');
  }
  const argv = args.args ?? [];
  if (!Array.isArray(argv) || argv.some((a) => typeof a !== "string")) {
    throw invalid('"args" must be an array of strings', "pass each argument as its own string");
  }
  if (args.stdin !== undefined && typeof args.stdin !== "string") {
    throw invalid('"stdin" must be a string', "pass the input as text");
  }
  // The sandbox has no PATH: a granted name runs the path it resolved to when the Policy was made.
  const grant = ctx.mine(ctx.policy.run.programs).find((p) => matchProgram([p], cmd));
  const program = grant?.path ?? cmd;
  let rule = "unchecked";
  if (ctx.checks) {
    if (!grant || !ctx.policy.run.dangerous) {
      throw denied(`Running "${cmd}" is not granted`, {
        hint: `add "${cmd}" to [capabilities.run] allow (with dangerous = true) in the manifest`,
        rule: "run",
      });
    }
    rule = `run:${grant.name}`;
  }
  return { cmd, argv: argv as string[], program, rule };
}
