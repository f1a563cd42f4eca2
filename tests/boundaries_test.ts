import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { checkBoundaries, importsOf } from "./boundaries.ts";
import { ROOT } from "./_cli.ts";

Deno.test("the repository keeps to its boundaries", async () => {
  assert.deepEqual(await checkBoundaries(ROOT), []);
});

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
