/**
 * What a Policy grants, as plain data: the summary `ironclaw check --json`
 * prints under `grants` and `ironclaw serve` answers for each agent. Pure.
 *
 * @module
 */

import type { Policy } from "./policy.ts";

/** A Policy's grants as plain data (paths absolute, no origins). */
export interface GrantsSummary {
  /** Folders and files it may read. */
  read: string[];
  /** Folders and files it may write. */
  write: string[];
  /** Hosts and URL prefixes it may reach, with their methods (null: any). */
  net: { scheme: string | null; host: string; port: number | null; path: string; methods: string[] | null }[];
  /** Programs it may run. */
  run: { name: string; path: string | null }[];
  /** Environment variables it may read, by name. */
  env: string[];
  /** Secrets the gate adds to its requests, by name, with the hosts they go to. */
  secrets: { name: string; hosts: string[] }[];
  /** Its model and budget, or null. */
  model: {
    provider: string;
    type: string;
    name: string;
    max_calls: number;
    max_tokens: number;
  } | null;
  /** The plugins it may use, by name. */
  plugins: string[];
}

/**
 * Summarises what a Policy grants.
 *
 * @param policy The frozen Policy.
 * @returns Its grants as plain data.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { grantsSummary } from "./grants_summary.ts";
 *
 * const manifest = parseManifest(
 *   `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n[capabilities.net]\nallow = ["api.example.com"]\n`,
 *   { path: "/srv/a/agent.toml" },
 * );
 * const grants = grantsSummary(resolvePolicy(manifest, defaultRuntimeConfig("/srv")));
 * if (grants.net[0]?.host !== "api.example.com" || grants.model !== null) throw new Error("unexpected");
 * ```
 */
export function grantsSummary(policy: Policy): GrantsSummary {
  return {
    read: policy.fs.read.map((g) => g.path),
    write: policy.fs.write.map((g) => g.path),
    net: policy.net.map((g) => ({
      scheme: g.scheme,
      host: g.host,
      port: g.port,
      path: g.pathPrefix,
      methods: g.methods ? [...g.methods] : null,
    })),
    run: policy.run.programs.map((p) => ({ name: p.name, path: p.path })),
    env: policy.env.map((e) => e.name),
    secrets: policy.secrets.map((s) => ({ name: s.name, hosts: [...s.hosts] })),
    model: policy.model &&
      {
        provider: policy.model.provider,
        type: policy.model.type,
        name: policy.model.name,
        max_calls: policy.model.maxCalls,
        max_tokens: policy.model.maxTokens,
      },
    plugins: policy.plugins.map((p) => p.name),
  };
}
