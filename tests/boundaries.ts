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
 * Two shape rules hold besides, read from the syntax tree (so code inside string literals, such as the QuickJS
 * and Python bootstrap sources, does not count):
 *
 * - In `supervisor/` and `sandbox/`, no function or method is longer than {@linkcode MAX_FUNCTION_LINES} lines.
 * - In every module of the package, no exported function takes more than two required parameters plus an
 *   options object: at most three parameters, and a third one is optional or an options object.
 *
 * It needs `--allow-read` only: no network, and no environment (see below for the compiler's).
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";
import process from "node:process";
import type ts from "typescript";

// The TypeScript compiler reads a few variables when it loads (TSC_WATCHFILE, NODE_ENV, ...), none of which
// matter to parsing one file. Without --allow-env those reads would throw, so they read as unset instead.
if (Deno.permissions.querySync({ name: "env" }).state !== "granted") {
  Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true });
}
const { default: tsc } = await import("typescript");

/** One import that breaks a rule. */
export interface Violation {
  /** The importing file, relative to the root. */
  file: string;
  /** The imported file, relative to the root. */
  target: string;
  /** The rule, in words. */
  rule: string;
}

/** One function that breaks a shape rule. */
export interface ShapeViolation {
  /** The file, relative to the root. */
  file: string;
  /** The function's name (`Class.method` for a method, `<anonymous>` when it has none). */
  name: string;
  /** The line the function starts on, from 1. */
  line: number;
  /** The rule, in words. */
  rule: string;
}

/** A known shape violation that the check lets pass, until the file that holds it is refactored. */
export interface Allowance {
  /** The file, relative to the root. */
  file: string;
  /** The function's name, as {@linkcode ShapeViolation.name} spells it. */
  name: string;
}

/** The longest a function or method in `supervisor/` or `sandbox/` may be, in lines. */
export const MAX_FUNCTION_LINES = 80;

/** The folders where {@linkcode MAX_FUNCTION_LINES} holds. */
const LENGTH_RULED = /^(supervisor|sandbox)\//;

/**
 * Shape violations that pass for now: each names the file and the function, and is removed when the function
 * is cut. Keep it short and keep the reason beside each entry.
 */
export const ALLOWED: readonly Allowance[] = [];

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
  for await (const { rel, source } of modules(root)) {
    for (const spec of importsOf(source)) {
      if (!spec.startsWith(".")) continue;
      const target = normalize(join(dirname(rel), spec));
      const rule = brokenRule(rel, target);
      if (rule) out.push({ file: rel, target, rule });
    }
  }
  return out;
}

/**
 * Checks every module under `root` against the shape rules.
 *
 * @param root The repository's root folder.
 * @param options `allow`: violations to let pass (default {@linkcode ALLOWED}).
 * @returns The violations not allowed, empty when the tree keeps to the rules.
 */
export async function checkShapes(
  root: string,
  options: { allow?: readonly Allowance[] } = {},
): Promise<ShapeViolation[]> {
  const allow = options.allow ?? ALLOWED;
  const out: ShapeViolation[] = [];
  for await (const { rel, source } of modules(root)) {
    for (const v of shapesOf(rel, source)) {
      if (!allow.some((a) => a.file === v.file && a.name === v.name)) out.push(v);
    }
  }
  return out;
}

/** The package's modules under `root` (not tests, benchmarks or examples), with their text. */
async function* modules(root: string): AsyncGenerator<{ rel: string; source: string }> {
  const visit = async function* (dir: string): AsyncGenerator<{ rel: string; source: string }> {
    const entries = [];
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isDirectory) {
        if (!/^(\.|node_modules$|dist$|tests$|bench$|examples$)/.test(rel)) yield* visit(path);
        continue;
      }
      if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
      yield { rel, source: await Deno.readTextFile(path) };
    }
  };
  yield* visit(root);
}

/**
 * The shape violations of one module: functions over {@linkcode MAX_FUNCTION_LINES} lines (in `supervisor/`
 * and `sandbox/` only) and exported functions with too many required parameters.
 *
 * @param file The module's path relative to the root (it decides whether the length rule holds).
 * @param source The module's text.
 * @returns The violations, in source order.
 */
export function shapesOf(file: string, source: string): ShapeViolation[] {
  const sf = tsc.createSourceFile(file, source, tsc.ScriptTarget.Latest, true, tsc.ScriptKind.TS);
  const out: ShapeViolation[] = [];
  const lineOf = (pos: number): number => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const exported = exportedNames(sf);
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node) && node.body) {
      const first = lineOf(node.getStart(sf));
      const lines = lineOf(node.getEnd()) - first + 1;
      if (LENGTH_RULED.test(file) && lines > MAX_FUNCTION_LINES) {
        out.push({
          file,
          name: nameOf(node),
          line: first,
          rule: `${lines} lines, over the ${MAX_FUNCTION_LINES} a function may have`,
        });
      }
    }
    if (isFunctionLike(node) && isExported(node, exported)) {
      const rule = paramRule(node);
      if (rule) out.push({ file, name: nameOf(node), line: lineOf(node.getStart(sf)), rule });
    }
    tsc.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

type FunctionLike =
  | ts.FunctionDeclaration
  | ts.MethodDeclaration
  | ts.ConstructorDeclaration
  | ts.GetAccessorDeclaration
  | ts.SetAccessorDeclaration
  | ts.FunctionExpression
  | ts.ArrowFunction;

function isFunctionLike(node: ts.Node): node is FunctionLike {
  return tsc.isFunctionDeclaration(node) || tsc.isMethodDeclaration(node) ||
    tsc.isConstructorDeclaration(node) ||
    tsc.isGetAccessorDeclaration(node) || tsc.isSetAccessorDeclaration(node) ||
    tsc.isFunctionExpression(node) ||
    tsc.isArrowFunction(node);
}

/** The names a module exports through `export { a, b as c }` without a `from`. */
function exportedNames(sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  for (const stmt of sf.statements) {
    if (!tsc.isExportDeclaration(stmt) || stmt.moduleSpecifier || !stmt.exportClause) continue;
    if (!tsc.isNamedExports(stmt.exportClause)) continue;
    for (const el of stmt.exportClause.elements) names.add((el.propertyName ?? el.name).text);
  }
  return names;
}

const hasExport = (node: ts.Node): boolean =>
  tsc.canHaveModifiers(node) &&
  (tsc.getModifiers(node) ?? []).some((m) => m.kind === tsc.SyntaxKind.ExportKeyword);

/**
 * Whether a function is exported: `export function f`, `export default function`, `export const f = () => ...`,
 * or a top-level function or const named in an `export { ... }` clause.
 */
function isExported(node: FunctionLike, names: Set<string>): boolean {
  if (tsc.isFunctionDeclaration(node)) {
    return node.parent.kind === tsc.SyntaxKind.SourceFile &&
      (hasExport(node) || (node.name !== undefined && names.has(node.name.text)));
  }
  if (!tsc.isArrowFunction(node) && !tsc.isFunctionExpression(node)) return false;
  const decl = node.parent;
  if (tsc.isExportAssignment(decl)) return true;
  if (!tsc.isVariableDeclaration(decl) || decl.initializer !== node || !tsc.isIdentifier(decl.name)) {
    return false;
  }
  const stmt = decl.parent.parent;
  return tsc.isVariableStatement(stmt) && stmt.parent.kind === tsc.SyntaxKind.SourceFile &&
    (hasExport(stmt) || names.has(decl.name.text));
}

/** The parameter rule a function breaks, or null. */
function paramRule(node: FunctionLike): string | null {
  const params = node.parameters.filter((p) => !(tsc.isIdentifier(p.name) && p.name.text === "this"));
  const required = params.filter((p) => !p.questionToken && !p.initializer && !p.dotDotDotToken).length;
  const third = params[2];
  if (params.length > 3 || (third !== undefined && required > 2 && !isOptionsObject(third))) {
    return `${params.length} parameters (${required} required): at most two required plus an options object`;
  }
  return null;
}

/** Whether a parameter reads as an options object: destructured, typed as an object literal or `*Options`. */
function isOptionsObject(p: ts.ParameterDeclaration): boolean {
  if (tsc.isObjectBindingPattern(p.name)) return true;
  if (tsc.isIdentifier(p.name) && /^(options|opts)$/.test(p.name.text)) return true;
  const type = p.type;
  if (!type) return false;
  if (tsc.isTypeLiteralNode(type)) return true;
  return tsc.isTypeReferenceNode(type) && /Options$/.test(type.typeName.getText());
}

/** A readable name for a function: its own, its variable's, its property's, or `Class.method`. */
function nameOf(node: FunctionLike): string {
  const own = (n: ts.Node | undefined): string | undefined =>
    n && (tsc.isIdentifier(n) || tsc.isPrivateIdentifier(n) || tsc.isStringLiteral(n)) ? n.text : undefined;
  let name: string | undefined;
  if (tsc.isConstructorDeclaration(node)) name = "constructor";
  else name = own(node.name);
  const parent = node.parent;
  if (
    !name && (tsc.isVariableDeclaration(parent) || tsc.isPropertyAssignment(parent) ||
      tsc.isPropertyDeclaration(parent))
  ) {
    name = own(parent.name);
  }
  if (tsc.isClassLike(parent) || tsc.isPropertyDeclaration(parent)) {
    const cls = tsc.isClassLike(parent) ? parent : parent.parent;
    return `${own(cls.name) ?? "<class>"}.${name ?? "<anonymous>"}`;
  }
  if (name) return name;
  // An anonymous function is named after the function it is in, so an allowance can name it.
  for (let up: ts.Node | undefined = parent; up; up = up.parent) {
    if (isFunctionLike(up)) return `${nameOf(up)}/<anonymous>`;
  }
  return "<anonymous>";
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
  const all = await checkShapes(root, { allow: [] });
  const allowed = (v: ShapeViolation) => ALLOWED.some((a) => a.file === v.file && a.name === v.name);
  const shapes = all.filter((v) => !allowed(v));
  for (const v of shapes) console.error(`${v.file}:${v.line}: ${v.name}: ${v.rule}`);
  for (const a of ALLOWED.filter((a) => !all.some((v) => v.file === a.file && v.name === a.name))) {
    console.error(`note: ${a.file}: ${a.name} keeps to the rules now: remove it from ALLOWED`);
  }
  if (violations.length > 0) console.error(`${violations.length} import(s) cross the tree's boundaries`);
  if (shapes.length > 0) console.error(`${shapes.length} function(s) break the shape rules`);
  if (violations.length + shapes.length > 0) Deno.exit(1);
  console.log(
    `boundaries: every import keeps to the tree and every function to the shape rules (${ALLOWED.length} allowed)`,
  );
}
