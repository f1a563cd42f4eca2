/**
 * `toDenoFlags`: the exact permission flags of the sandbox process, each with
 * the reason it is there.
 *
 * @module
 */

import { denoNetValue } from "./net.ts";
import type { GrantOrigin, Policy } from "./policy.ts";

/** One flag of the sandbox command line and why it is there. */
export interface FlagExplanation {
  /** The flag as passed to `deno run`. */
  flag: string;
  /** In words. */
  why: string;
  /** The manifest or plugin lines that caused it; empty for flags that are always there. */
  from: readonly GrantOrigin[];
}

/**
 * Every flag of the sandbox process with its reason, in command-line order.
 * Always `--no-prompt`, `--cached-only` and `--no-config`; never `-A`, `--allow-all`,
 * `--allow-sys` or `--allow-ffi`; `--allow-run` only when the Policy is dangerous.
 * Model hosts are never in `--allow-net`: the parent brokers model calls.
 *
 * @param policy A resolved Policy.
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
export function explainDenoFlags(policy: Policy): FlagExplanation[] {
  const out: FlagExplanation[] = [
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
  ];
  if (policy.runtimeRead.length > 0) {
    out.push({
      flag: `--allow-read=${policy.runtimeRead.join(",")}`,
      why: "the runtime's own read-only assets",
      from: [],
    });
  }
  // Write implies read: the host gate must resolve symlinks under a write grant before it writes there.
  const readPaths: { path: string; from: readonly GrantOrigin[] }[] = [];
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
      flag: `--allow-read=${readPaths.map((g) => g.path).join(",")}`,
      why: parts.join(", "),
      from: readPaths.flatMap((g) => g.from),
    });
  }
  if (policy.runtimeWrite.length > 0) {
    out.push({
      flag: `--allow-write=${policy.runtimeWrite.join(",")}`,
      why: "the runtime's own files of this run (the pipes that carry a WASI guest's output)",
      from: [],
    });
  }
  const writePaths: { path: string; from: readonly GrantOrigin[] }[] = [...policy.fs.write];
  const preopenOnly = policy.agent.moduleFormat === "preview1"
    ? policy.fs.read.filter((r) => !writePaths.some((w) => w.path === r.path))
    : [];
  if (writePaths.length > 0) {
    out.push({
      flag: `--allow-write=${writePaths.map((g) => g.path).join(",")}`,
      why: "[capabilities.fs] write",
      from: writePaths.flatMap((g) => g.from),
    });
  }
  if (preopenOnly.length > 0) {
    out.push({
      flag: `--allow-write=${preopenOnly.map((g) => g.path).join(",")}`,
      why:
        "node:wasi needs write access to preopen a folder; these stay read-only for the WASI guest by the " +
        "gate's WASI guard alone (a component guest has no such flag)",
      from: preopenOnly.flatMap((g) => g.from),
    });
  }
  if (policy.net.length > 0) {
    const hosts = [...new Set(policy.net.map(denoNetValue))];
    out.push({
      flag: `--allow-net=${hosts.join(",")}`,
      why: "[capabilities.net] allow (the host gate narrows further: methods, paths, private addresses)",
      from: policy.net.flatMap((g) => g.from),
    });
  }
  if (policy.env.length > 0) {
    out.push({
      flag: `--allow-env=${policy.env.map((e) => e.name).join(",")}`,
      why: "[capabilities.env] allow",
      from: policy.env.flatMap((e) => e.from),
    });
  }
  if (policy.run.dangerous && policy.run.programs.length > 0) {
    out.push({
      flag: `--allow-run=${policy.run.programs.map((p) => p.path ?? p.name).join(",")}`,
      why: "[capabilities.run] allow with dangerous = true: these programs run unconfined",
      from: policy.run.programs.flatMap((p) => p.from),
    });
  }
  return out;
}

/**
 * The exact permission flags of the sandbox process for a Policy.
 *
 * @param policy A resolved Policy.
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
 * ```
 */
export function toDenoFlags(policy: Policy): string[] {
  return explainDenoFlags(policy).map((f) => f.flag);
}
