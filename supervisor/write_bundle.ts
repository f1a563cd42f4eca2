/**
 * `deno task bundle`: writes the sandbox bundle a published package ships
 * (`dist/sandbox/`), which a remote or installed-from-JSR IronClaw runs as
 * its sandbox process. A checkout builds its own into the cache folder.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { BUNDLE_FILES, bundleSandbox, SANDBOX_BUNDLE } from "./assets.ts";

/** Writes `dist/sandbox/` of this checkout; only ever run as a script, so the checkout is a `file:` URL. */
async function writeBundle(): Promise<void> {
  const root = fileURLToPath(new URL("../", import.meta.url));
  const output = fileURLToPath(new URL(`../${SANDBOX_BUNDLE}`, import.meta.url));
  await bundleSandbox(root, output);
  const files = JSON.parse(await Deno.readTextFile(join(output, BUNDLE_FILES))) as string[];
  let size = 0;
  for (const f of files) size += (await Deno.stat(join(output, f))).size;
  console.log(`wrote ${SANDBOX_BUNDLE} (${files.length} files, ${(size / 1024 / 1024).toFixed(2)} MiB)`);
}

if (import.meta.main) await writeBundle();
