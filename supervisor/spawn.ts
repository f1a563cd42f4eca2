/**
 * Spawning the sandbox process: its argv as planned, a cleared environment,
 * its own Deno cache folder, and its own process group, so that killing it
 * ends everything it started.
 *
 * @module
 */

import { join } from "node:path";
import type { Policy } from "../capabilities/policy.ts";
import { SEED_MARK } from "./assets.ts";
import { SANDBOX_SUBCOMMAND } from "./sandbox_command.ts";

/** util-linux's setsid, to give each sandbox its own process group (null where it is missing). */
const SETSID: string | null = ["/usr/bin/setsid", "/bin/setsid"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? null;

/** Environment of the sandbox: nothing of the supervisor's but where Deno's cache is and the granted variables. */
function sandboxEnv(policy: Policy, denoDir: string): Record<string, string> {
  return {
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    DENO_DIR: denoDir,
    ...grantedEnv(policy.env.map((e) => e.name)),
  };
}

/**
 * The supervisor's variables a grant names, with their values: a name, or a prefix ending in `*`.
 *
 * @param names The granted names.
 * @returns The variables that are set.
 */
export function grantedEnv(names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    if (name.endsWith("*")) {
      const prefix = name.slice(0, -1);
      for (const [k, v] of Object.entries(Deno.env.toObject())) if (k.startsWith(prefix)) env[k] = v;
    } else {
      const v = Deno.env.get(name);
      if (v !== undefined) env[name] = v;
    }
  }
  return env;
}

/**
 * Starts a sandbox's own Deno cache folder from a copy of the warmed seed (only compiled code, a few MB),
 * so the run does not compile the bundle again; a copy, so nothing a run writes there reaches another.
 */
function seedDenoDir(seed: string, dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const entry of Deno.readDirSync(seed)) {
      if (entry.isFile && entry.name !== SEED_MARK) {
        Deno.copyFileSync(join(seed, entry.name), join(dir, entry.name));
      }
    }
  } catch { /* only a speed-up: the sandbox starts from whatever is there */ }
}

/** Options of {@linkcode SandboxProcess.spawn}. */
export interface SpawnOptions {
  /** The sandbox's own Deno cache folder (removed with the run). */
  denoDir: string;
  /** A warmed Deno cache folder to start it from, when there is one. */
  seed?: string;
}

/** A running sandbox process, killed at most once. */
export class SandboxProcess {
  readonly #child: Deno.ChildProcess;
  #killed = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
  }

  /**
   * Spawns the sandbox: the argv under setsid when it exists, the environment
   * cleared but for {@linkcode sandboxEnv}, the working directory the
   * manifest's folder, no stdin (the protocol has its own channel), stdout and stderr piped.
   *
   * @param argv The sandbox's argv, program first.
   * @param policy The run's Policy (granted variables, heap limit, folder).
   * @param options The sandbox's Deno cache folder and its seed.
   * @returns The process.
   * @throws {Error} When the program cannot be started.
   */
  static spawn(argv: readonly string[], policy: Policy, options: SpawnOptions): SandboxProcess {
    if (options.seed) seedDenoDir(options.seed, options.denoDir);
    // Under setsid the sandbox leads a new process group, so the programs it runs end with it.
    const spawned = SETSID ? [SETSID, ...argv] : argv;
    const child = new Deno.Command(spawned[0]!, {
      args: spawned.slice(1),
      clearEnv: true,
      env: {
        ...sandboxEnv(policy, options.denoDir),
        // A compiled binary takes no --v8-flags on its command line: its heap cap comes from the environment.
        ...(argv[1] === SANDBOX_SUBCOMMAND
          ? { DENO_V8_FLAGS: `--max-old-space-size=${policy.limits.memoryMb}` }
          : {}),
      },
      cwd: policy.baseDir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new SandboxProcess(child);
  }

  /** The process's id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The child process (its streams and status). */
  get child(): Deno.ChildProcess {
    return this.#child;
  }

  /** Whether {@linkcode SandboxProcess.kill} was called. */
  get killed(): boolean {
    return this.#killed;
  }

  /** Kills the sandbox and what it started, once. */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    this.killGroup();
  }

  /** Kills the sandbox and, when it leads its own process group, everything it started (again if need be). */
  killGroup(): void {
    try {
      if (SETSID) Deno.kill(-this.#child.pid, "SIGKILL");
      else this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}
