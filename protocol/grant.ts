/**
 * The narrowed grant: what the sandbox enforces, computed by the supervisor
 * from the Policy and the run's runtime paths and sent in the start message
 * instead of the whole Policy. It holds no manifest path, no line numbers of
 * grants, no warnings, no provider settings and no secrets' sources: a grant
 * names only who granted it (`manifest` or `plugin NAME`), which the gate's
 * per-plugin view needs.
 *
 * @module
 */

import type { NetGrant, PinnedAddresses } from "../capabilities/net.ts";
import type { ApprovalPolicy } from "../capabilities/approvals.ts";
import type {
  ModuleFormat,
  PluginTool,
  Policy,
  PolicyAgent,
  PolicyLimits,
  RuntimePaths,
} from "../capabilities/policy.ts";

/** Who granted something: `manifest`, or `plugin NAME`. */
export interface GrantSource {
  /** `manifest`, or `plugin NAME`. */
  readonly source: string;
}

/** A granted path, as the gate checks it. */
export interface EnforcedPath {
  /** Absolute, normalised, symlinks resolved where the path exists. */
  readonly path: string;
  /** Who granted it. */
  readonly from: readonly GrantSource[];
}

/** What the gate, the loops, the plugin host and the guests read of a run: a Policy satisfies it too. */
export interface EnforcedGrant {
  /** The parts of `[agent]` the sandbox uses. */
  readonly agent: Pick<PolicyAgent, "name" | "kind" | "module" | "language" | "instructions"> & {
    /** What the module is, when it was known at resolve time. */
    readonly moduleFormat: ModuleFormat | null;
  };
  /** The folder relative paths resolve against (and programs run in). */
  readonly baseDir: string;
  /** The model provider's name, or null without model access (calls are brokered by the supervisor). */
  readonly model: { readonly provider: string } | null;
  /** Granted paths; `hardlinks`: whether files with more than one hard link may be read and written. */
  readonly fs: {
    readonly read: readonly EnforcedPath[];
    readonly write: readonly EnforcedPath[];
    readonly hardlinks: boolean;
  };
  /** Granted network destinations. */
  readonly net: readonly (NetGrant & { readonly from: readonly GrantSource[] })[];
  /** Granted programs. */
  readonly run: {
    readonly dangerous: boolean;
    readonly programs: readonly {
      readonly name: string;
      readonly path: string | null;
      readonly from: readonly GrantSource[];
    }[];
  };
  /** Granted environment variable names or `PREFIX*`. */
  readonly env: readonly { readonly name: string; readonly from: readonly GrantSource[] }[];
  /** Plugins used: their folders (their code is imported), tools and config. */
  readonly plugins: readonly {
    readonly name: string;
    readonly dir: string;
    readonly tools: readonly PluginTool[];
    readonly config: Readonly<Record<string, unknown>>;
    /**
     * When its code is an MCP server: the longest one call may take, and a remote server's URL (null for a
     * local one, which the supervisor runs: its tools are `mcp.call` requests; a remote one is reached by the
     * plugin host through the gate); null for a `mod.ts` plugin.
     */
    readonly mcp: { readonly timeoutS: number; readonly url: string | null } | null;
  }[];
  /** Limits of the run. */
  readonly limits: PolicyLimits;
  /** The calls that wait for a person's decision (asked of the supervisor after their grants allowed them). */
  readonly approvals: ApprovalPolicy;
}

/** The start message's grant: what the sandbox enforces, and the runtime paths its Worker permissions add. */
export interface SandboxGrant extends EnforcedGrant {
  /** The runtime's own paths of the run (a Worker's permissions add them, as the process flags do). */
  readonly runtime: RuntimePaths;
  /**
   * The addresses the run pinned its granted host names to when it started: a Worker's net permissions list
   * them in place of the names, as the process flags do.
   */
  readonly pinned: PinnedAddresses;
}

/** Options of {@linkcode narrowGrant}. */
export interface NarrowGrantOptions {
  /** The run's pinned addresses; default none (no host name can be reached). */
  pinned?: PinnedAddresses;
}

/**
 * Narrows a Policy and the run's runtime paths to what the sandbox enforces:
 * every grant a Policy holds and the gate checks, each naming only who
 * granted it; none of the manifest's path, the grants' lines, the warnings,
 * the model provider's settings or the secrets' sources.
 *
 * @param policy The run's Policy.
 * @param runtime The runtime's own paths of the run.
 * @param options The run's pinned addresses.
 * @returns A new grant, deeply frozen, sharing nothing with the Policy.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "../capabilities/policy.ts";
 * import { narrowGrant } from "./grant.ts";
 * const text = `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n[capabilities.fs]\nread = ["notes"]\n`;
 * const policy = resolvePolicy(parseManifest(text, { path: "/srv/a/agent.toml" }), defaultRuntimeConfig("/srv"));
 * const grant = narrowGrant(policy, { read: [], write: [], moduleFormat: "component" });
 * if (JSON.stringify(grant.fs.read) !== '[{"path":"/srv/a/notes","from":[{"source":"manifest"}]}]') throw new Error();
 * if ("manifestFile" in grant || "warnings" in grant) throw new Error("not narrowed");
 * ```
 */
export function narrowGrant(
  policy: Policy,
  runtime: RuntimePaths,
  options: NarrowGrantOptions = {},
): SandboxGrant {
  const sources = (from: readonly GrantSource[]): GrantSource[] => from.map((o) => ({ source: o.source }));
  const path = (g: EnforcedPath): EnforcedPath => ({ path: g.path, from: sources(g.from) });
  const { agent } = policy;
  return deepFreeze({
    agent: {
      name: agent.name,
      kind: agent.kind,
      module: agent.module,
      moduleFormat: agent.moduleFormat,
      language: agent.language,
      instructions: agent.instructions,
    },
    baseDir: policy.baseDir,
    model: policy.model === null ? null : { provider: policy.model.provider },
    fs: { read: policy.fs.read.map(path), write: policy.fs.write.map(path), hardlinks: policy.fs.hardlinks },
    net: policy.net.map((g) => ({
      scheme: g.scheme,
      host: g.host,
      port: g.port,
      pathPrefix: g.pathPrefix,
      methods: g.methods === null ? null : [...g.methods],
      from: sources(g.from),
    })),
    run: {
      dangerous: policy.run.dangerous,
      programs: policy.run.programs.map((p) => ({ name: p.name, path: p.path, from: sources(p.from) })),
    },
    env: policy.env.map((e) => ({ name: e.name, from: sources(e.from) })),
    plugins: policy.plugins.map((p) => ({
      name: p.name,
      dir: p.dir,
      tools: structuredClone(p.tools),
      config: structuredClone(p.config),
      mcp: p.mcp ? { timeoutS: p.mcp.timeoutS, url: p.mcp.url } : null,
    })),
    limits: { ...policy.limits },
    approvals: {
      require: policy.approvals.require.map((r) => ({ ...r })),
      timeoutS: policy.approvals.timeoutS,
    },
    runtime: { read: [...runtime.read], write: [...runtime.write], moduleFormat: runtime.moduleFormat },
    pinned: Object.fromEntries(Object.entries(options.pinned ?? {}).map(([name, a]) => [name, [...a]])),
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
