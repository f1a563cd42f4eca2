/**
 * Finding symbolic links in granted folders that lead out of the grants.
 * Deno's permission flags check the path asked for, not where its links lead,
 * so such a link would let the sandbox process past its flags: a run refuses
 * to start while one exists. (Guests cannot make links: the gate has no op for
 * it and the WASI guard refuses path_symlink.)
 *
 * @module
 */

import { join } from "node:path";
import type { PathGrant, Policy } from "../capabilities/policy.ts";
import { isWithin } from "../capabilities/paths.ts";
import { InvalidDocumentError, type Issue } from "../manifests/errors.ts";

/** The most entries looked at in all granted folders together. */
export const MAX_SCAN_ENTRIES = 50_000;

/** A link that leads out of the grants. */
export interface EscapingLink {
  /** The link. */
  path: string;
  /** Where it leads (its real path, or its target as written when it dangles). */
  target: string;
  /** The grant it was found in. */
  grant: PathGrant;
}

/**
 * Walks the granted folders (not following links) and lists every link whose
 * real target lies outside every grant, or that dangles.
 *
 * @param policy The run's Policy.
 * @returns The escaping links; stops looking after {@linkcode MAX_SCAN_ENTRIES} entries.
 */
export function findEscapingLinks(policy: Policy): EscapingLink[] {
  const grants = [...policy.fs.read, ...policy.fs.write];
  const inside = (p: string) => grants.some((g) => isWithin(g.path, p));
  const found: EscapingLink[] = [];
  let seen = 0;
  const walk = (dir: string, grant: PathGrant, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return; // not a folder, or gone
    }
    for (const e of entries) {
      if (++seen > MAX_SCAN_ENTRIES) return;
      const path = join(dir, e.name);
      if (e.isSymlink) {
        let target: string;
        try {
          target = Deno.realPathSync(path);
        } catch {
          target = Deno.readLinkSync(path);
          found.push({ path, target, grant });
          continue;
        }
        if (!inside(target)) found.push({ path, target, grant });
      } else if (e.isDirectory && depth < 32) {
        walk(path, grant, depth + 1);
      }
    }
  };
  for (const grant of grants) {
    try {
      const info = Deno.lstatSync(grant.path);
      if (info.isDirectory) walk(grant.path, grant, 0);
    } catch { /* not made yet */ }
  }
  return found;
}

/**
 * Throws when a granted folder holds a link out of the grants, naming the
 * manifest line of the grant.
 *
 * @param policy The run's Policy.
 * @throws {InvalidDocumentError} `ERR_PATH_SYMLINK`, one issue a link.
 */
export function refuseEscapingLinks(policy: Policy): void {
  const links = findEscapingLinks(policy);
  if (links.length === 0) return;
  const issues: Issue[] = links.slice(0, 20).map((l) => ({
    code: "ERR_PATH_SYMLINK",
    message: `"${l.path}" is a symbolic link out of the granted folders, to "${l.target}"`,
    hint: "remove the link, or grant the folder it leads to",
    pos: l.grant.from[0] ?? { file: policy.manifestFile, line: 1, column: 1, key: "" },
  }));
  throw new InvalidDocumentError(issues);
}
