import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { checkBoundaries, checkShapes, importsOf, MAX_FUNCTION_LINES, shapesOf } from "./boundaries.ts";
import { ROOT } from "./_cli.ts";

Deno.test("the repository keeps to its boundaries", async () => {
  assert.deepEqual(await checkBoundaries(ROOT), []);
});

Deno.test("the repository keeps to the shape rules (but for its listed allowances)", async () => {
  assert.deepEqual(await checkShapes(ROOT), []);
});

/** A function of `n` lines in all, its body filled with statements. */
const longFunction = (name: string, n: number): string =>
  `function ${name}(): void {\n${"  Math.random();\n".repeat(n - 2)}}\n`;

Deno.test("importsOf() finds static, re-exported and dynamic imports, not those in comments", () => {
  const source = `import { a } from "./a.ts";
import type { B } from "../b.ts";
export { c } from "./c.ts";
import "./side.ts";
const d = await import("./d.ts");
/** import { x } from "./in_doc.ts"; */
// import { y } from "./in_comment.ts";
`;
  assert.deepEqual(importsOf(source), ["./a.ts", "../b.ts", "./c.ts", "./side.ts", "./d.ts"]);
});

Deno.test("checkBoundaries() reports each kind of crossing", async () => {
  const root = await Deno.makeTempDir();
  const files: Record<string, string> = {
    "sandbox/a.ts": `import { s } from "../supervisor/s.ts";\n`,
    "supervisor/s.ts": `export const s = await import("../sandbox/b.ts");\n`,
    "sandbox/b.ts": `export const b = 1;\n`,
    "capabilities/p.ts": `import { q } from "../protocol/q.ts";\n`,
    "protocol/q.ts": `export { x } from "../manifests/_private.ts";\n`,
    "manifests/_private.ts": `export const x = 1;\n`,
    "manifests/ok.ts": `import { x } from "./_private.ts";\n`,
    "sandbox/b_test.ts": `import { s } from "../supervisor/s.ts";\n`,
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, dirname(path)), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    }
    const found = (await checkBoundaries(root)).map((v) => `${v.file} -> ${v.target}`).sort();
    assert.deepEqual(found, [
      "capabilities/p.ts -> protocol/q.ts",
      "protocol/q.ts -> manifests/_private.ts",
      "sandbox/a.ts -> supervisor/s.ts",
      "supervisor/s.ts -> sandbox/b.ts",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("shapesOf() measures functions in supervisor/ and sandbox/ only", async (t) => {
  const names = (file: string, source: string) => shapesOf(file, source).map((v) => `${v.name}:${v.line}`);
  await t.step("a function over the limit is reported, one at the limit is not", () => {
    const source = longFunction("ok", MAX_FUNCTION_LINES) + longFunction("long", MAX_FUNCTION_LINES + 1);
    assert.deepEqual(names("supervisor/a.ts", source), [`long:${MAX_FUNCTION_LINES + 1}`]);
    assert.deepEqual(names("sandbox/gate/a.ts", source), [`long:${MAX_FUNCTION_LINES + 1}`]);
    assert.deepEqual(names("capabilities/a.ts", source), []);
  });
  await t.step("methods, arrows and anonymous closures are measured and named", () => {
    const body = "    Math.random();\n".repeat(MAX_FUNCTION_LINES);
    const source = `class Box {\n  open(): void {\n${body}  }\n}\n` +
      `const run = () => {\n  [1].forEach(() => {\n${body}  });\n};\n`;
    const found = names("sandbox/a.ts", source);
    assert.deepEqual(found, [
      "Box.open:2",
      `run:${MAX_FUNCTION_LINES + 5}`,
      `run/<anonymous>:${MAX_FUNCTION_LINES + 6}`,
    ]);
  });
  await t.step("code inside a string literal does not count", () => {
    const source = `export const BOOTSTRAP = \`\n${longFunction("guest", 200)}\`;\n` +
      `export const PY = "def f(a, b, c, d):\\n    pass";\n`;
    assert.deepEqual(names("sandbox/codeact/a.ts", source), []);
  });
});

Deno.test("shapesOf() allows two required parameters plus an options object in exported functions", async (t) => {
  const cases: [string, boolean][] = [
    ["export function f(a: number, b: number): void {}", true],
    ["export function f(a: number, b: number, c?: number): void {}", true],
    ["export function f(a: number, b: number, c = 1): void {}", true],
    ["export function f(a: number, b: number, options: FOptions): void {}", true],
    ["export function f(a: number, b: number, o: { c: number }): void {}", true],
    ["export function f(a: number, b: number, { c }: { c: number }): void {}", true],
    ["export function f(this: Window, a: number, b: number): void {}", true],
    ["function f(a: number, b: number, c: number, d: number): void {}", true],
    ["export function f(a: number, b: number, c: number): void {}", false],
    ["export function f(a: number, b: number, c?: number, d?: number): void {}", false],
    ["export function f(a: number, b: number, ...rest: number[]): void {}", true],
    ["export function f(a: number, b: number, c: number, ...rest: number[]): void {}", false],
    ["export default function (a: number, b: number, c: number): void {}", false],
    ["export const f = (a: number, b: number, c: number): void => {};", false],
    ["export const f = function (a: number, b: number, c: number): void {};", false],
    ["function f(a: number, b: number, c: number): void {}\nexport { f as g };", false],
    ["export function f(a: number, b: number, c: number): void;", false],
  ];
  for (const [source, ok] of cases) {
    await t.step(`${ok ? "allows" : "reports"} ${source}`, () => {
      assert.equal(shapesOf("protocol/a.ts", source).length === 0, ok);
    });
  }
});

Deno.test("checkShapes() reports fixture files that break each rule, and skips tests and allowances", async () => {
  const root = await Deno.makeTempDir();
  const files: Record<string, string> = {
    "supervisor/long.ts": longFunction("tooLong", MAX_FUNCTION_LINES + 1),
    "manifests/params.ts": "export function tooMany(a: string, b: string, c: string): void {}\n",
    "sandbox/allowed.ts": "export function known(a: string, b: string, c: string): void {}\n",
    "sandbox/long_test.ts": longFunction("inTest", 200),
    "tests/helper.ts": "export function helper(a: string, b: string, c: string): void {}\n",
    "bench/b.ts": "export function bench(a: string, b: string, c: string): void {}\n",
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, dirname(path)), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    }
    const found = await checkShapes(root, { allow: [{ file: "sandbox/allowed.ts", name: "known" }] });
    assert.deepEqual(found.map((v) => `${v.file}:${v.line}: ${v.name}`), [
      "manifests/params.ts:1: tooMany",
      "supervisor/long.ts:1: tooLong",
    ]);
    assert.match(found[1]!.rule, new RegExp(`^${MAX_FUNCTION_LINES + 1} lines`));
    assert.match(found[0]!.rule, /^3 parameters \(3 required\)/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
