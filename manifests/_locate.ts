/**
 * Finds where each key and array element of a (valid) TOML document sits, so
 * that errors found after parsing can still name a line and column.
 *
 * The document has already been accepted by the TOML parser; this scanner only
 * walks it and records positions, so it may assume correct syntax.
 */

/** Keys deeper than this are not located (no schema is this deep; it bounds the work on hostile input). */
const MAX_DEPTH = 12;

/** A 1-based line and column. */
export interface LineCol {
  line: number;
  column: number;
}

/** Key path segments: table keys as strings, array indexes as numbers. */
export type KeyPath = readonly (string | number)[];

/** Formats a key path as `a.b[2].c`. */
export function formatKeyPath(path: KeyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += (out ? "." : "") + (/^[A-Za-z0-9_-]+$/.test(seg) ? seg : JSON.stringify(seg));
  }
  return out;
}

/** Maps each key path (formatted) to the position of its key, header or element. */
export function locateKeys(text: string): Map<string, LineCol> {
  const found = new Map<string, LineCol>();
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const arrayTableCounts = new Map<string, number>();
  let table: (string | number)[] = [];

  const here = (): LineCol => ({ line, column: i - lineStart + 1 });
  const record = (path: KeyPath, at: LineCol) => {
    if (path.length > MAX_DEPTH) return;
    const k = formatKeyPath(path);
    if (!found.has(k)) found.set(k, at);
  };
  /** Records every prefix of `base + key` longer than `base`, up to the depth any schema has. */
  const recordPrefixes = (base: KeyPath, key: readonly string[], at: LineCol) => {
    for (let n = 1; n <= key.length && base.length + n <= MAX_DEPTH; n++) {
      record([...base, ...key.slice(0, n)], at);
    }
  };
  const newline = () => {
    i++;
    line++;
    lineStart = i;
  };
  const skipSpace = (newlines: boolean) => {
    while (i < text.length) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\r") i++;
      else if (c === "#") { while (i < text.length && text[i] !== "\n") i++; }
      else if (c === "\n" && newlines) newline();
      else break;
    }
  };
  const readString = (): string => {
    const q = text[i]!;
    const triple = text.startsWith(q.repeat(3), i);
    const close = triple ? q.repeat(3) : q;
    i += close.length;
    let value = "";
    while (i < text.length && !text.startsWith(close, i)) {
      const c = text[i]!;
      if (c === "\\" && q === '"') {
        const e = text[i + 1] ?? "";
        if (e === "u" || e === "U") {
          const len = e === "u" ? 4 : 8;
          value += String.fromCodePoint(parseInt(text.slice(i + 2, i + 2 + len), 16) || 0xfffd);
          i += 2 + len;
        } else if (triple && /[ \t\r\n]/.test(e)) {
          // A line-ending backslash: skip it and all whitespace and newlines after it.
          i++;
          while (i < text.length && /[ \t\r\n]/.test(text[i]!)) {
            if (text[i] === "\n") newline();
            else i++;
          }
        } else {
          value +=
            ({ b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", e: "\x1b" } as Record<string, string>)[e] ?? e;
          i += 2;
        }
        continue;
      }
      if (c === "\n") {
        value += "\n";
        newline();
        continue;
      }
      value += c;
      i++;
    }
    i += close.length;
    if (triple) { while (text[i] === q) i++; }
    return value;
  };
  const readKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipSpace(false);
      const c = text[i];
      if (c === '"' || c === "'") parts.push(readString());
      else {
        const start = i;
        while (i < text.length && /[A-Za-z0-9_-]/.test(text[i]!)) i++;
        parts.push(text.slice(start, i));
      }
      skipSpace(false);
      if (text[i] === ".") {
        i++;
        continue;
      }
      return parts;
    }
  };
  const readValue = (path: (string | number)[]) => {
    skipSpace(false);
    const c = text[i];
    if (c === '"' || c === "'") {
      readString();
    } else if (c === "[") {
      i++;
      let index = 0;
      for (;;) {
        skipSpace(true);
        if (text[i] === "]" || i >= text.length) break;
        record([...path, index], here());
        readValue([...path, index]);
        skipSpace(true);
        if (text[i] === ",") {
          i++;
          index++;
        }
      }
      i++;
    } else if (c === "{") {
      i++;
      for (;;) {
        skipSpace(false);
        if (text[i] === "}" || i >= text.length) break;
        const at = here();
        const key = readKey();
        recordPrefixes(path, key, at);
        i++; // '='
        readValue([...path, ...key]);
        skipSpace(false);
        if (text[i] === ",") i++;
      }
      i++;
    } else {
      while (i < text.length && !/[,\]}\n#]/.test(text[i]!)) i++;
    }
  };

  while (i < text.length) {
    skipSpace(true);
    if (i >= text.length) break;
    const at = here();
    if (text[i] === "[") {
      const isArray = text[i + 1] === "[";
      i += isArray ? 2 : 1;
      const key = readKey();
      i += isArray ? 2 : 1;
      if (isArray) {
        const name = formatKeyPath(key);
        const n = arrayTableCounts.get(name) ?? 0;
        arrayTableCounts.set(name, n + 1);
        table = [...key, n];
      } else {
        table = key;
      }
      for (let n = 1; n <= Math.min(table.length, MAX_DEPTH); n++) record(table.slice(0, n), at);
    } else {
      const key = readKey();
      recordPrefixes(table, key, at);
      i++; // '='
      readValue([...table, ...key]);
    }
    while (i < text.length && text[i] !== "\n") i++;
  }
  return found;
}
