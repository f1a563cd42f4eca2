/**
 * `toDenoFlags`: the exact permission flags of the sandbox process, each with
 * the reason it is there, computed from {@linkcode denoGrants} (which a
 * Worker's permissions read too).
 *
 * @module
 */

import { denoNetValues, type NetGrant, type PinnedAddresses } from "./net.ts";
import type { GrantOrigin, ModuleFormat, Policy, RuntimePaths } from "./policy.ts";

/** One flag of the sandbox command line and why it is there. */
export interface FlagExplanation {
  /** The flag as passed to `deno run`. */
  flag: string;
  /** In words. */
  why: string;
  /** The manifest or plugin lines that caused it; empty for flags that are always there. */
  from: readonly GrantOrigin[];
}

/** A permission kind the sandbox may be granted: the `--allow-<kind>` flags and the Worker permission keys. */
export type DenoGrantKind = "read" | "write" | "net" | "env" | "run";

/**
 * What the sandbox's Deno permissions are computed from: a Policy, or the
 * narrowed grant a sandbox receives (whose grants name only their source, `O`).
 */
export interface PermissionSource<O = GrantOrigin> {
  /** The agent's module, and its format when known at resolve time. */
  agent: { module: string | null; moduleFormat: ModuleFormat | null };
  /** Granted paths. */
  fs: {
    read: readonly { path: string; from: readonly O[] }[];
    write: readonly { path: string; from: readonly O[] }[];
  };
  /** Granted network destinations. */
  net: readonly (NetGrant & { from: readonly O[] })[];
  /** Granted environment variables. */
  env: readonly { name: string; from: readonly O[] }[];
  /** Granted programs. */
  run: { dangerous: boolean; programs: readonly { name: string; path: string | null; from: readonly O[] }[] };
}

/** Options of {@linkcode denoGrants}, {@linkcode explainDenoFlags} and {@linkcode toDenoFlags}. */
export interface DenoFlagsOptions {
  /**
   * The runtime's own paths of the run, granted besides the Policy's; their
   * module format replaces the Policy's. Default none (the Policy alone).
   */
  runtime?: RuntimePaths;
  /**
   * The addresses the run pinned its granted host names to when it started:
   * `--allow-net` then lists them in place of the names (so the sandbox can
   * resolve no name itself), and no wildcard. Default none: the names as
   * granted, which is what `ironclaw check` shows before a run resolves them.
   */
  pinned?: PinnedAddresses;
}

/** One grant of a Deno permission to the sandbox, and why it is there. */
export interface DenoGrant<O = GrantOrigin> {
  /** The permission, as Deno names it (`--allow-read`, a Worker's `read`). */
  kind: DenoGrantKind;
  /** What is granted: paths, `host[:port]` values, variable names or programs; never empty. */
  values: readonly string[];
  /** In words. */
  why: string;
  /** The manifest or plugin lines that caused it. */
  from: readonly O[];
}

/**
 * Every Deno permission the sandbox gets for a Policy, in command-line order:
 * the one computation that both {@linkcode explainDenoFlags} (process flags)
 * and `toWorkerPermissions` (a Worker's permissions) read, so the two walls
 * cannot drift apart. Model hosts are never granted: the parent brokers model
 * calls; `run` only when the Policy is dangerous; never `sys`, `ffi` or `import`.
 *
 * @typeParam O Where a grant came from: a Policy's {@linkcode GrantOrigin}, or a narrowed grant's source.
 * @param policy A resolved Policy, or a sandbox's narrowed grant.
 * @param options The runtime's own paths of the run.
 * @returns The grants, each with at least one value.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { denoGrants } from "./deno_flags.ts";
 * const m = parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, { path: "/srv/a/agent.toml" });
 * const grants = denoGrants(resolvePolicy(m, defaultRuntimeConfig("/srv")));
 * if (grants[0]?.kind !== "read" || grants[0].values[0] !== "/srv/a/a.wasm") throw new Error("unexpected");
 * ```
 */
export function denoGrants<O = GrantOrigin>(
  policy: PermissionSource<O>,
  options: DenoFlagsOptions = {},
): DenoGrant<O>[] {
  const runtime = options.runtime ?? { read: [], write: [], moduleFormat: policy.agent.moduleFormat };
  const out: DenoGrant<O>[] = [];
  if (runtime.read.length > 0) {
    out.push({
      kind: "read",
      values: runtime.read,
      why: "the runtime's own read-only assets",
      from: [],
    });
  }
  // Write implies read: the host gate must resolve symlinks under a write grant before it writes there.
  const readPaths: { path: string; from: readonly O[] }[] = [];
  for (const g of [...policy.fs.read, ...policy.fs.write]) {
    if (!readPaths.some((r) => r.path === g.path)) readPaths.push(g);
  }
  if (policy.agent.module !== null && !readPaths.some((g) => g.path === policy.agent.module)) {
    readPaths.push({ path: policy.agent.module, from: [] });
  }
  if (readPaths.length > 0) {
    const parts = ["[capabilities.fs] read"];
    if (policy.fs.write.length > 0) parts.push("write (which implies read)");
    if (policy.agent.module !== null) parts.push("the agent's module");
    out.push({
      kind: "read",
      values: readPaths.map((g) => g.path),
      why: parts.join(", "),
      from: readPaths.flatMap((g) => g.from),
    });
  }
  if (runtime.write.length > 0) {
    out.push({
      kind: "write",
      values: runtime.write,
      why: "the runtime's own files of this run (the pipes that carry a WASI guest's output)",
      from: [],
    });
  }
  const writePaths: { path: string; from: readonly O[] }[] = [...policy.fs.write];
  const preopenOnly = runtime.moduleFormat === "preview1"
    ? policy.fs.read.filter((r) => !writePaths.some((w) => w.path === r.path))
    : [];
  if (writePaths.length > 0) {
    out.push({
      kind: "write",
      values: writePaths.map((g) => g.path),
      why: "[capabilities.fs] write",
      from: writePaths.flatMap((g) => g.from),
    });
  }
  if (preopenOnly.length > 0) {
    out.push({
      kind: "write",
      values: preopenOnly.map((g) => g.path),
      why:
        "node:wasi needs write access to preopen a folder; these stay read-only for the WASI guest by the " +
        "gate's WASI guard alone (a component guest has no such flag)",
      from: preopenOnly.flatMap((g) => g.from),
    });
  }
  const netValues = [...new Set(policy.net.flatMap((g) => denoNetValues(g, options.pinned)))];
  if (netValues.length > 0) {
    out.push({
      kind: "net",
      values: netValues,
      why: "[capabilities.net] allow (the host gate narrows further: methods, paths, private addresses); " +
        (options.pinned
          ? "each host name as the addresses it resolved to when the run started, wildcards left out"
          : "a run lists the addresses each host name resolves to when it starts, in place of the name"),
      from: policy.net.flatMap((g) => g.from),
    });
  }
  if (policy.env.length > 0) {
    out.push({
      kind: "env",
      values: policy.env.map((e) => e.name),
      why: "[capabilities.env] allow",
      from: policy.env.flatMap((e) => e.from),
    });
  }
  if (policy.run.dangerous && policy.run.programs.length > 0) {
    out.push({
      kind: "run",
      values: policy.run.programs.map((p) => p.path ?? p.name),
      why: "[capabilities.run] allow with dangerous = true: these programs run unconfined",
      from: policy.run.programs.flatMap((p) => p.from),
    });
  }
  return out;
}

/**
 * Every flag of the sandbox process with its reason, in command-line order.
 * Always `--no-prompt`, `--cached-only` and `--no-config`; never `-A`, `--allow-all`,
 * `--allow-sys` or `--allow-ffi`; `--allow-run` only when the Policy is dangerous.
 * Model hosts are never in `--allow-net`: the parent brokers model calls.
 *
 * @param policy A resolved Policy.
 * @param options The runtime's own paths of the run.
 * @returns The flags with their reasons.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { explainDenoFlags } from "./deno_flags.ts";
 * const m = parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, { path: "/srv/a/agent.toml" });
 * const flags = explainDenoFlags(resolvePolicy(m, defaultRuntimeConfig("/srv")));
 * if (flags[0]?.flag !== "--no-prompt") throw new Error("unexpected");
 * ```
 */
export function explainDenoFlags(policy: Policy, options: DenoFlagsOptions = {}): FlagExplanation[] {
  return [
    { flag: "--no-prompt", why: "always: a permission not granted is refused, never asked for", from: [] },
    { flag: "--cached-only", why: "always: no code is downloaded, so no remote import can run", from: [] },
    {
      flag: "--no-config",
      why: "always: no deno.json near the agent can change imports or settings",
      from: [],
    },
    {
      flag: `--v8-flags=--max-old-space-size=${policy.limits.memoryMb}`,
      why: `JS heap capped at limits.memory_mb = ${policy.limits.memoryMb} MiB`,
      from: policy.limitOrigins.memoryMb ? [policy.limitOrigins.memoryMb] : [],
    },
    ...denoGrants(policy, options).map((g) => ({
      flag: `--allow-${g.kind}=${g.values.join(",")}`,
      why: g.why,
      from: g.from,
    })),
  ];
}

/**
 * The exact permission flags of the sandbox process for a Policy, and the
 * runtime's own paths of the run when given.
 *
 * @param policy A resolved Policy.
 * @param options The runtime's own paths of the run.
 * @returns The flags, in order.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { toDenoFlags } from "./deno_flags.ts";
 * const m = parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, { path: "/srv/a/agent.toml" });
 * const flags = toDenoFlags(resolvePolicy(m, defaultRuntimeConfig("/srv")));
 * if (flags.includes("-A") || !flags.includes("--allow-read=/srv/a/a.wasm")) throw new Error("unexpected");
 * const run = toDenoFlags(resolvePolicy(m, defaultRuntimeConfig("/srv")), {
 *   runtime: { read: ["/var/cache/x"], write: [], moduleFormat: "component" },
 * });
 * if (!run.includes("--allow-read=/var/cache/x")) throw new Error("unexpected");
 * ```
 */
export function toDenoFlags(policy: Policy, options: DenoFlagsOptions = {}): string[] {
  return explainDenoFlags(policy, options).map((f) => f.flag);
}
