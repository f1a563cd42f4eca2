/** The benches' copy of the hello example, so a bench never touches the example's own output folder. */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Copies examples/hello (its manifest, component and notes, and an empty `out/`) into `dir`.
 *
 * @param dir The folder to make; its parents must exist.
 * @returns The copy's manifest.
 */
export async function copyHello(dir: string): Promise<string> {
  await Deno.mkdir(join(dir, "notes"), { recursive: true });
  await Deno.mkdir(join(dir, "out"), { recursive: true });
  for (const f of Deno.readDirSync(join(ROOT, "examples/hello/notes"))) {
    await Deno.copyFile(join(ROOT, "examples/hello/notes", f.name), join(dir, "notes", f.name));
  }
  for (const f of ["agent.wasm", "agent.toml"]) {
    await Deno.copyFile(join(ROOT, "examples/hello", f), join(dir, f));
  }
  return join(dir, "agent.toml");
}
