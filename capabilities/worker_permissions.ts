/**
 * `toWorkerPermissions`: the Deno permissions of the Worker that runs the
 * agent side of a sandbox in worker mode (a compiled binary's second wall),
 * exactly what `toDenoFlags` grants the sandbox process.
 *
 * @module
 */

import {
  type DenoFlagsOptions,
  type DenoGrantKind,
  denoGrants,
  type PermissionSource,
} from "./deno_flags.ts";

/**
 * A Worker's `deno.permissions` with every key spelled out: a key left out of
 * Deno's object inherits the parent thread's grant, so none is ever left out,
 * and no key is ever `true` or `"inherit"`. Assignable to
 * `Deno.PermissionOptionsObject`.
 */
export interface WorkerPermissions {
  /** Readable paths, or nothing. */
  read: string[] | false;
  /** Writable paths, or nothing. */
  write: string[] | false;
  /** `host[:port]` values, or nothing. */
  net: string[] | false;
  /** Variable names (a trailing `*` as in `--allow-env`), or nothing. */
  env: string[] | false;
  /** Programs, only for a dangerous Policy; else nothing. */
  run: string[] | false;
  /** Never: foreign code is not confined. */
  ffi: false;
  /** Never. */
  sys: false;
  /** Never: nothing is downloaded. */
  import: false;
}

/**
 * The Worker permissions for a Policy: the union of each kind's values of
 * {@linkcode denoGrants}, the same computation the process flags come from
 * (repeated `--allow-read` flags add up the same way), and `false` for every
 * kind the Policy does not grant.
 *
 * @param policy A resolved Policy, or a sandbox's narrowed grant.
 * @param options The runtime's own paths of the run.
 * @returns Every permission key, none inherited.
 * @example
 * ```ts
 * import { parseManifest } from "../manifests/agent_manifest.ts";
 * import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
 * import { resolvePolicy } from "./policy.ts";
 * import { toWorkerPermissions } from "./worker_permissions.ts";
 * const m = parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, { path: "/srv/a/agent.toml" });
 * const p = toWorkerPermissions(resolvePolicy(m, defaultRuntimeConfig("/srv")));
 * if (p.read === false || p.read[0] !== "/srv/a/a.wasm" || p.net !== false) throw new Error("unexpected");
 * ```
 */
export function toWorkerPermissions(
  policy: PermissionSource<unknown>,
  options: DenoFlagsOptions = {},
): WorkerPermissions {
  const grants = denoGrants(policy, options);
  const of = (kind: DenoGrantKind): string[] | false => {
    const values = [...new Set(grants.filter((g) => g.kind === kind).flatMap((g) => g.values))];
    return values.length > 0 ? values : false;
  };
  return {
    read: of("read"),
    write: of("write"),
    net: of("net"),
    env: of("env"),
    run: of("run"),
    ffi: false,
    sys: false,
    import: false,
  };
}
