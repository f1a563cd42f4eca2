/**
 * `deno task bundle`: writes the sandbox bundle a published package ships
 * (`dist/sandbox.js`), which a remote or installed-from-JSR IronClaw runs as
 * its sandbox process. A checkout builds its own into the cache folder.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { bundleSandbox, SANDBOX_BUNDLE } from "./assets.ts";

if (import.meta.main) {
  const root = fileURLToPath(new URL("../", import.meta.url));
  const output = fileURLToPath(new URL(`../${SANDBOX_BUNDLE}`, import.meta.url));
  await bundleSandbox(root, output);
  const size = (await Deno.stat(output)).size;
  console.log(`wrote ${SANDBOX_BUNDLE} (${(size / 1024 / 1024).toFixed(2)} MiB)`);
}
