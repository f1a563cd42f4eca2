/**
 * The boundary check of `deno task ok` (`deno task boundaries`): the tree
 * shows the two processes, and imports keep to it.
 *
 * - `sandbox/` (the child) never imports `supervisor/` or `cli/` (the parent), and the parent never imports
 *   `sandbox/`: what crosses goes through `protocol/`.
 * - The pure folders (`manifests/`, `capabilities/`) import only each other; `protocol/` imports only them and
 *   itself; `plugins/` (the author's API) imports neither process.
 * - A `_name.ts` file is imported only from its own folder.
 *
 * Tests (`*_test.ts`, `tests/`) and benchmarks may import anything: they drive both sides.
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";

/** One import that breaks a rule. */
export interface Violation {
  /** The importing file, relative to the root. */
  file: string;
  /** The imported file, relative to the root. */
  target: string;
  /** The rule, in words. */
  rule: string;
}

/** What each top folder may import, besides itself. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  manifests: [],
  capabilities: ["manifests"],
  protocol: ["manifests", "capabilities"],
  plugins: ["manifests", "capabilities"],
  sandbox: ["manifests", "capabilities", "protocol", "plugins"],
  supervisor: ["manifests", "capabilities", "protocol", "plugins"],
  cli: ["manifests", "capabilities", "protocol", "plugins", "supervisor"],
};

const IMPORT =
  /(?:^|[\s;])(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s+["']([^"']+)["']/gm;

/**
 * The imports of one module's source (static, re-exports, and dynamic imports of string literals), without
 * those inside comments.
 *
 * @param source The module's text.
 * @returns The specifiers.
 */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...code.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/**
 * Checks every module under `root` against the rules.
 *
 * @param root The repository's root folder.
 * @returns The violations, empty when the tree keeps to the rules.
 */
export async function checkBoundaries(root: string): Promise<Violation[]> {
  const out: Violation[] = [];
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isDirectory) {
        if (!/^(\.|node_modules$|dist$|tests$|bench$|examples$)/.test(rel)) await visit(path);
        continue;
      }
      if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
      for (const spec of importsOf(await Deno.readTextFile(path))) {
        if (!spec.startsWith(".")) continue;
        const target = normalize(join(dirname(rel), spec));
        const rule = brokenRule(rel, target);
        if (rule) out.push({ file: rel, target, rule });
      }
    }
  };
  await visit(root);
  return out;
}

/** The rule an import breaks, or null. */
function brokenRule(file: string, target: string): string | null {
  const from = file.split("/")[0]!;
  const to = target.split("/")[0]!;
  const base = target.split("/").at(-1)!;
  if (base.startsWith("_") && dirname(target) !== dirname(file)) {
    return `"${target}" is private to its folder (its name starts with "_")`;
  }
  const allowed = MAY_IMPORT[from];
  if (!allowed || from === to || !(to in MAY_IMPORT)) return null;
  if (allowed.includes(to)) return null;
  return `${from}/ may not import ${to}/ (it may import ${
    allowed.map((a) => `${a}/`).join(", ") || "nothing else"
  })`;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? new URL("..", import.meta.url).pathname;
  const violations = await checkBoundaries(root);
  for (const v of violations) console.error(`${v.file}: imports ${v.target}: ${v.rule}`);
  if (violations.length > 0) {
    console.error(`${violations.length} import(s) cross the tree's boundaries`);
    Deno.exit(1);
  }
  console.log("boundaries: every import keeps to the tree");
}
