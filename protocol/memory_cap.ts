/**
 * Capping the linear memories a core WebAssembly module defines, by rewriting
 * the limits in its memory section (id 5). Deno's heap flag does not reach
 * WebAssembly memory; a memory's own maximum does.
 *
 * @module
 */

/** Bytes in one WebAssembly page. */
export const WASM_PAGE = 65536;

/** One memory a module defines. */
export interface DefinedMemory {
  /** Index in the module's memory space (imported memories come first). */
  index: number;
  /** Initial pages. */
  min: number;
  /** Maximum pages as declared, or null. */
  max: number | null;
}

function readLeb(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let byte: number;
  do {
    if (at >= b.length || shift > 35) throw new Error("A LEB128 number runs past the end of the module");
    byte = b[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function writeLeb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

function skipLimits(b: Uint8Array, at: number): number {
  const flags = b[at++]!;
  [, at] = readLeb(b, at);
  if (flags & 1) [, at] = readLeb(b, at);
  return at;
}

/**
 * Returns a copy of a core module in which every defined memory has a maximum
 * of at most `maxPages`. Imported memories are capped where they are defined.
 *
 * @param wasm A core WebAssembly module.
 * @param maxPages The cap, in 64 KiB pages.
 * @returns The capped module and its memories as declared.
 * @throws {Error} When the bytes are not a core module, or a memory needs more than the cap to start.
 * @example
 * ```ts
 * import { capMemories } from "./memory_cap.ts";
 * // (module (memory (export "m") 1)): one page, no maximum
 * const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 109, 2, 0]);
 * const { bytes } = capMemories(wasm, 2);
 * const m = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.m as WebAssembly.Memory;
 * m.grow(1);
 * let refused = false;
 * try {
 *   m.grow(1);
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("the cap did not hold");
 * ```
 */
export function capMemories(
  wasm: Uint8Array,
  maxPages: number,
): { bytes: Uint8Array<ArrayBuffer>; memories: DefinedMemory[] } {
  if (
    wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d ||
    wasm[4] !== 1
  ) {
    throw new Error("Not a core WebAssembly module");
  }
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  const memories: DefinedMemory[] = [];
  let imported = 0;
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at]!;
    const [size, bodyStart] = readLeb(wasm, at + 1);
    const end = bodyStart + size;
    if (end > wasm.length) throw new Error("A section runs past the end of the module");
    if (id === 2) {
      let q = bodyStart;
      let n: number;
      [n, q] = readLeb(wasm, q);
      for (let i = 0; i < n; i++) {
        let len: number;
        [len, q] = readLeb(wasm, q);
        q += len;
        [len, q] = readLeb(wasm, q);
        q += len;
        const kind = wasm[q++];
        if (kind === 0) [, q] = readLeb(wasm, q);
        else if (kind === 1) q = skipLimits(wasm, q + 1);
        else if (kind === 2) {
          imported++;
          q = skipLimits(wasm, q);
        } else if (kind === 3) q += 2;
        else if (kind === 4) [, q] = readLeb(wasm, q + 1);
        else throw new Error(`Unknown import kind ${kind}`);
      }
    }
    if (id === 5) {
      let q = bodyStart;
      let n: number;
      [n, q] = readLeb(wasm, q);
      const body: number[] = writeLeb(n);
      for (let i = 0; i < n; i++) {
        const flags = wasm[q++]!;
        if (flags & ~0x07) throw new Error(`Unknown memory flags 0x${flags.toString(16)}`);
        let min: number;
        let max: number | null = null;
        [min, q] = readLeb(wasm, q);
        if (flags & 1) [max, q] = readLeb(wasm, q);
        memories.push({ index: imported + i, min, max });
        if (min > maxPages) {
          throw new Error(
            `Memory ${imported + i} needs ${min} pages to start, more than the limit of ${maxPages}`,
          );
        }
        const capped = max === null ? maxPages : Math.min(max, maxPages);
        body.push(flags | 1, ...writeLeb(min), ...writeLeb(capped));
      }
      if (q !== end) throw new Error("The memory section's length is wrong");
      parts.push(new Uint8Array([5, ...writeLeb(body.length), ...body]));
    } else {
      parts.push(wasm.subarray(at, end));
    }
    at = end;
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, memories };
}
