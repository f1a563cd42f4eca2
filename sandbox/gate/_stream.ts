/** Reading a stream up to a cap. */

import { GateError } from "./errors.ts";

/**
 * Reads a stream whole, up to `max` bytes: past it, refused (`ERR_LIMIT`) or, with `truncate`, cut.
 *
 * @param stream The stream, or null for none.
 * @param max The most bytes.
 * @param truncate Cut at `max` instead of refusing.
 * @returns The bytes.
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array> | null,
  max: number,
  truncate = false,
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) {
      if (!truncate) {
        await stream.cancel().catch(() => {});
        throw new GateError("ERR_LIMIT", `The response is larger than ${max} bytes`, "ask for less", "size");
      }
      parts.push(chunk.subarray(0, Math.max(0, chunk.length - (size - max))));
      size = max;
      await stream.cancel().catch(() => {});
      break;
    }
    parts.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
