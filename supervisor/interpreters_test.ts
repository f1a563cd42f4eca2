import assert from "node:assert/strict";
import { PYODIDE_SPECIFIER as SANDBOX_PIN, pyodideAssetsDir } from "../sandbox/codeact/pyodide_session.ts";
import { PYODIDE_SPECIFIER, pyodideFolder } from "./interpreters.ts";

Deno.test("pyodideFolder() finds the Pyodide the sandbox's Python engine imports", async () => {
  assert.equal(PYODIDE_SPECIFIER, SANDBOX_PIN);
  const folder = await pyodideFolder();
  assert.equal(folder, pyodideAssetsDir());
  assert.ok((await Deno.stat(`${folder}/pyodide.asm.wasm`)).isFile);
});
