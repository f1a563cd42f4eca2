import * as assert from "node:assert/strict";
import { join, relative } from "node:path";
import { ERROR_CODES, isErrorCode } from "../manifests/errors.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The file that holds the table; its own literals do not count as uses, except the one it raises. */
const TABLE = "manifests/errors.ts";

/** Every `"ERR_..."` literal in the non-test TypeScript sources, with the files that hold it. */
async function raisedCodes(): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const visit = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      const rel = relative(ROOT, path);
      if (e.isDirectory) {
        if (!e.name.startsWith(".") && e.name !== "node_modules" && rel !== "tests") await visit(path);
      } else if (
        e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts") && !e.name.endsWith(".d.ts")
      ) {
        const text = await Deno.readTextFile(path);
        for (const [, code] of text.matchAll(/"(ERR_[A-Z0-9_]*)"/g)) {
          found.set(code!, [...found.get(code!) ?? [], rel]);
        }
      }
    }
  };
  await visit(ROOT);
  return found;
}

Deno.test("ERROR_CODES is exactly the codes raised in the tree", async (t) => {
  const raised = await raisedCodes();
  await t.step("every code literal in a source is in the table", () => {
    const unknown = [...raised].filter(([code]) => !isErrorCode(code)).map(([c, files]) =>
      `${c} (${files[0]})`
    );
    assert.deepEqual(
      unknown,
      [],
      `add to ERROR_CODES in manifests/errors.ts, or use a code it has: ${unknown.join(", ")}`,
    );
  });
  await t.step("every code in the table is used outside the table", () => {
    const unused = Object.keys(ERROR_CODES).filter((code) => {
      const files = raised.get(code) ?? [];
      // InvalidDocumentError, in the table's own file, raises ERR_INVALID_DOCUMENT.
      return code === "ERR_INVALID_DOCUMENT" ? !files.includes(TABLE) : !files.some((f) => f !== TABLE);
    });
    assert.deepEqual(
      unused,
      [],
      `remove from ERROR_CODES in manifests/errors.ts, or raise: ${unused.join(", ")}`,
    );
  });
});
