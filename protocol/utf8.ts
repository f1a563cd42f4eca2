/**
 * The size of a string in UTF-8 bytes, without encoding it: the unit every
 * byte limit of a run (`max_output_kb`, the protocol's line cap) counts in.
 *
 * @module
 */

/**
 * How many bytes `text` takes in UTF-8, counted by walking its UTF-16 code
 * units (nothing is allocated): a unit below 0x80 is 1 byte, below 0x800 is 2,
 * a surrogate pair is 4, and any other unit 3 (a lone surrogate too, as the
 * replacement character `TextEncoder` writes for it).
 *
 * @param text The string.
 * @returns Its length in UTF-8 bytes.
 * @example
 * ```ts
 * import { utf8ByteLength } from "./utf8.ts";
 * if (utf8ByteLength("abc") !== 3) throw new Error("ASCII is one byte a character");
 * if (utf8ByteLength("é") !== 2) throw new Error("é is two bytes");
 * if (utf8ByteLength("€") !== 3) throw new Error("€ is three bytes");
 * if (utf8ByteLength("😀") !== 4) throw new Error("a surrogate pair is four bytes");
 * if (utf8ByteLength("\ud800") !== 3) throw new Error("a lone surrogate is the replacement character");
 * ```
 */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
