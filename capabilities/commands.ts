/**
 * Subprocess and environment grants.
 *
 * @module
 */

import { posix } from "node:path";
import { type Checked, refuse } from "./result.ts";

/**
 * Programs that run arbitrary code given to them (shells, Deno, language
 * interpreters, launchers): granting one is granting everything, so they need
 * `allow_interpreters = true` besides `dangerous = true`.
 */
export const INTERPRETERS: ReadonlySet<string> = new Set([
  // shells
  "sh",
  "ash",
  "bash",
  "rbash",
  "dash",
  "zsh",
  "ksh",
  "mksh",
  "pdksh",
  "yash",
  "fish",
  "csh",
  "tcsh",
  "nu",
  "elvish",
  "xonsh",
  "busybox",
  "toybox",
  // language runtimes
  "deno",
  "node",
  "nodejs",
  "bun",
  "npx",
  "npm",
  "pnpm",
  "yarn",
  "python",
  "pypy",
  "perl",
  "ruby",
  "irb",
  "php",
  "lua",
  "luajit",
  "tclsh",
  "wish",
  "java",
  "jshell",
  "guile",
  "racket",
  "sbcl",
  "ghci",
  "runghc",
  "julia",
  "r",
  "rscript",
  "osascript",
  "powershell",
  "pwsh",
  "cmd",
  "awk",
  "gawk",
  "mawk",
  "nawk",
  "sed",
  "jq",
  // launchers: run another program they are given
  "env",
  "xargs",
  "nohup",
  "nice",
  "ionice",
  "timeout",
  "stdbuf",
  "chroot",
  "unshare",
  "nsenter",
  "setsid",
  "flock",
  "taskset",
  "chrt",
  "time",
  "watch",
  "parallel",
  "script",
  "expect",
  "strace",
  "ltrace",
  "gdb",
  "valgrind",
  "make",
  "sudo",
  "su",
  "doas",
  "runuser",
  "pkexec",
  "ssh",
  "systemd-run",
  "at",
  "batch",
  "screen",
  "tmux",
  "firejail",
  "bwrap",
  "find",
  "vim",
  "vi",
  "nvim",
  "emacs",
  "less",
  "more",
  "man",
  "git-shell",
]);

/**
 * Checks one program grant.
 *
 * @param program A program name or absolute path, as written.
 * @param allowInterpreters Whether the manifest gave the second opt-in.
 * @returns The program, or why it is refused.
 * @example
 * ```ts
 * import { checkProgramGrant } from "./commands.ts";
 * if (!checkProgramGrant("git", false).ok) throw new Error("git is fine");
 * const r = checkProgramGrant("/bin/bash", false);
 * if (r.ok || r.code !== "ERR_RUN_INTERPRETER") throw new Error("bash needs the second opt-in");
 * ```
 */
export function checkProgramGrant(program: string, allowInterpreters: boolean): Checked<string> {
  if (program.includes("\0") || program.includes(",") || /\s/.test(program)) {
    return refuse({
      code: "ERR_RUN_INVALID",
      message: `"${program}" is not a program name`,
      hint: 'write a name such as "git", without arguments',
    });
  }
  if (isInterpreter(program) && !allowInterpreters) {
    return refuse({
      code: "ERR_RUN_INTERPRETER",
      message: `"${program}" runs any code it is given, so granting it grants everything`,
      hint:
        "set allow_interpreters = true under [capabilities.run] only if you accept that, or grant the specific tool instead",
    });
  }
  if (program.startsWith("/") && posix.normalize(program) !== program) {
    return refuse({
      code: "ERR_RUN_INVALID",
      message: `"${program}" is not a normalised absolute path`,
      hint: `write "${posix.normalize(program)}"`,
    });
  }
  return { ok: true, value: program };
}

/**
 * Whether a program is a shell, an interpreter or a launcher, by its name:
 * case-insensitive, with version numbers and build suffixes (`python3.11`,
 * `bash-static`, `pypy3`) taken off.
 *
 * @param program A program name or path.
 * @returns Whether it runs code it is given.
 * @example
 * ```ts
 * import { isInterpreter } from "./commands.ts";
 * if (!isInterpreter("/bin/Bash") || !isInterpreter("python3.11") || isInterpreter("git")) throw new Error();
 * ```
 */
export function isInterpreter(program: string): boolean {
  const name = posix.basename(program).toLowerCase().replace(/\.exe$/, "");
  const stem = name.replace(/[-_.]?(static|dynamic|minimal)$/, "").replace(/[-_.]?\d+(\.\d+)*$/, "");
  return INTERPRETERS.has(name) || INTERPRETERS.has(stem);
}

/**
 * Whether `cmd` is one of the granted programs: the same name, or the same absolute path.
 *
 * @param programs Granted programs (names or absolute paths), and the paths they resolved to.
 * @param cmd The program asked for.
 * @returns Whether it may run.
 * @example
 * ```ts
 * import { matchProgram } from "./commands.ts";
 * const granted = [{ name: "git", path: "/usr/bin/git" }];
 * if (!matchProgram(granted, "git") || !matchProgram(granted, "/usr/bin/git")) throw new Error();
 * if (matchProgram(granted, "./git") || matchProgram(granted, "gitk")) throw new Error();
 * ```
 */
export function matchProgram(
  programs: readonly { name: string; path: string | null }[],
  cmd: string,
): boolean {
  return programs.some((p) => p.name === cmd || (p.path !== null && p.path === cmd));
}

/**
 * Whether an environment variable name is granted: exactly, or by a `PREFIX*` grant.
 *
 * @param patterns Granted names and prefixes.
 * @param name The variable asked for.
 * @returns Whether it may be read.
 * @example
 * ```ts
 * import { matchEnv } from "./commands.ts";
 * if (!matchEnv(["TZ", "APP_*"], "APP_MODE") || matchEnv(["TZ"], "PATH")) throw new Error();
 * ```
 */
export function matchEnv(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : p === name));
}

/**
 * Checks one environment grant against the variables the supervisor keeps for itself.
 *
 * @param pattern A name or `PREFIX*`, as written.
 * @param reserved Variables holding keys and secrets (from the runtime config).
 * @returns The grant, or why not.
 * @example
 * ```ts
 * import { checkEnvGrant } from "./commands.ts";
 * const r = checkEnvGrant("OPENAI_*", new Set(["OPENAI_API_KEY"]));
 * if (r.ok || r.code !== "ERR_ENV_SECRET") throw new Error("unexpected");
 * ```
 */
export function checkEnvGrant(pattern: string, reserved: ReadonlySet<string>): Checked<string> {
  if (pattern === "*") {
    return refuse({
      code: "ERR_ENV_WILDCARD",
      message: `"*" grants every variable`,
      hint: "list the variables the agent needs",
    });
  }
  for (const r of reserved) {
    if (matchEnv([pattern], r)) {
      return refuse({
        code: "ERR_ENV_SECRET",
        message: `"${pattern}" would expose "${r}", which holds a key or secret the supervisor brokers`,
        hint: "use [model] or [capabilities.secrets]: the agent never needs the key itself",
      });
    }
  }
  return pattern.endsWith("*")
    ? {
      ok: true,
      value: pattern,
      warning: `"${pattern}" grants every variable starting with "${pattern.slice(0, -1)}"`,
    }
    : { ok: true, value: pattern };
}
