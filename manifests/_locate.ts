/**
 * Finds where each key and array element of a (valid) TOML document sits, so
 * that errors found after parsing can still name a line and column.
 *
 * The document has already been accepted by the TOML parser; this scanner only
 * walks it and records positions, so it may assume correct syntax.
 */

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
    const k = formatKeyPath(path);
    if (!found.has(k)) found.set(k, at);
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
      if (text[i] === "\\" && q === '"') {
        value += text[i + 1] ?? "";
        i += 2;
        continue;
      }
      if (text[i] === "\n") {
        value += "\n";
        newline();
        continue;
      }
      value += text[i];
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
        for (let n = 1; n <= key.length; n++) record([...path, ...key.slice(0, n)], at);
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
      for (let n = 1; n <= table.length; n++) record(table.slice(0, n), at);
    } else {
      const key = readKey();
      for (let n = 1; n <= key.length; n++) record([...table, ...key.slice(0, n)], at);
      i++; // '='
      readValue([...table, ...key]);
    }
    while (i < text.length && text[i] !== "\n") i++;
  }
  return found;
}
