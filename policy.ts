/**
 * IronClaw's policy half, pure (no I/O): parse agent manifests and runtime
 * configs, resolve a manifest into a frozen Policy, and turn the Policy into
 * the sandbox's Deno flags or a Worker's permissions, each with the manifest
 * line behind it.
 *
 * @example Resolve a manifest's Policy and its sandbox flags
 * ```ts
 * import { defaultRuntimeConfig, parseManifest, resolvePolicy, toDenoFlags } from "./policy.ts";
 *
 * const manifest = parseManifest(
 *   `[agent]
 * name = "notes-summarizer"
 * kind = "wasm"
 * module = "agent.wasm"
 *
 * [capabilities.fs]
 * read = ["notes"]
 * `,
 *   { path: "/srv/agents/notes/agent.toml" },
 * );
 * const flags = toDenoFlags(resolvePolicy(manifest, defaultRuntimeConfig("/srv")));
 * if (!flags.includes("--allow-read=/srv/agents/notes/notes,/srv/agents/notes/agent.wasm")) {
 *   throw new Error(flags.join(" "));
 * }
 * ```
 *
 * @module
 */

export * from "./manifests/mod.ts";
export * from "./capabilities/mod.ts";
