/**
 * Telling WebAssembly components from core modules by their first eight bytes.
 *
 * @module
 */

import type { ModuleFormat } from "../capabilities/policy.ts";

/**
 * What a WebAssembly binary is: `\0asm` then version 1 (a core module, run as
 * WASI preview1) or layer 1 version 0x0d (a component).
 *
 * @param head At least the first 8 bytes.
 * @returns The format, or undefined when the bytes are not WebAssembly.
 * @example
 * ```ts
 * import { moduleFormat } from "./module_format.ts";
 * const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * if (moduleFormat(core) !== "preview1") throw new Error();
 * ```
 */
export function moduleFormat(head: Uint8Array): ModuleFormat | undefined {
  if (head.length < 8 || head[0] !== 0 || head[1] !== 0x61 || head[2] !== 0x73 || head[3] !== 0x6d) {
    return undefined;
  }
  const version = [head[4], head[5], head[6], head[7]].join(",");
  if (version === "1,0,0,0") return "preview1";
  if (version === "13,0,1,0") return "component";
  return undefined;
}

/**
 * Reads the first bytes of a file and tells its format.
 *
 * @param path The module's path.
 * @returns The format, or undefined when the file is missing or not WebAssembly.
 */
export async function sniffModuleFormat(path: string): Promise<ModuleFormat | undefined> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const head = new Uint8Array(8);
    let n = 0;
    while (n < 8) {
      const r = await file.read(head.subarray(n));
      if (r === null) break;
      n += r;
    }
    return moduleFormat(head.subarray(0, n));
  } catch {
    return undefined;
  } finally {
    file?.close();
  }
}
