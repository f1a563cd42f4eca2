/**
 * A small HTTP/1.1 client that connects to the address it is given, not to
 * whatever the URL's name resolves to when it connects. The gate checks the
 * addresses of a name (resolved once, by the supervisor) and then connects to
 * one of them here, so no second lookup happens between the check and the
 * connection (DNS rebinding). For `https:` the TLS session still verifies the
 * server's certificate against the URL's host name (and sends it as SNI).
 *
 * One request per connection (`connection: close`); bodies framed by
 * `content-length`, `chunked`, or the end of the connection; gzip and deflate
 * decoded as `fetch` does; redirects are never followed (the answer is returned).
 *
 * @module
 */

/** Options of {@linkcode pinnedFetch}. */
export interface PinnedFetchOptions {
  /** The address to connect to (an IP the caller checked); default the URL's host, as given. */
  address?: string;
  /** The method; default `GET`. */
  method?: string;
  /** The request's headers (`host`, `connection` and framing headers are the client's own). */
  headers?: HeadersInit;
  /** The request's body. */
  body?: string | Uint8Array;
  /** Aborts the connection, the request and the reading of the answer's body. */
  signal?: AbortSignal;
  /** More certificate authorities to trust (PEM), for tests; the system's are trusted anyway. */
  caCerts?: string[];
}

/** The most bytes of a status line and headers (and of a chunk-size line). */
const MAX_HEAD_BYTES = 64 * 1024;
/** Headers the client sets itself: a caller's are dropped. */
const OWN_HEADERS = [
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "upgrade",
  "te",
];
const CRLF = new TextEncoder().encode("\r\n");
const CRLF2 = new TextEncoder().encode("\r\n\r\n");

/**
 * Makes one HTTP request over a connection to `options.address`, and answers
 * a `Response` whose body streams from that connection.
 *
 * @param url An `http:` or `https:` URL: its host is sent as `Host`, and for https verified in TLS.
 * @param options The address, method, headers, body, signal, extra CAs.
 * @returns The answer (redirects are not followed).
 * @throws {Deno.errors.NotCapable} When the process may not connect to the address.
 * @throws {TypeError} When the URL's scheme is not http or https.
 * @throws {Error} When the connection, TLS or the answer fails; the signal's reason when aborted.
 * @example
 * ```ts ignore
 * import { pinnedFetch } from "./pinned_http.ts";
 * const r = await pinnedFetch(new URL("https://example.com/"), { address: "93.184.215.14" });
 * console.log(r.status, await r.text());
 * ```
 */
export async function pinnedFetch(url: URL, options: PinnedFetchOptions = {}): Promise<Response> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`"${url.protocol}" URLs cannot be fetched`);
  }
  const { signal } = options;
  signal?.throwIfAborted();
  const conn = await openConnection(url, options);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener("abort", close);
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  signal?.addEventListener("abort", close, { once: true });
  try {
    const method = (options.method ?? "GET").toUpperCase();
    await writeAll(conn, requestBytes(url, method, options));
    const reader = new ConnReader(conn);
    const head = await readHead(reader);
    return toResponse(head, bodyOf(head, method, reader), { signal, close });
  } catch (e) {
    close();
    throw signal?.aborted ? signal.reason : e;
  }
}

/** A TCP connection to the address (default the URL's host), and TLS on it for https, verified against the URL's host. */
async function openConnection(url: URL, options: PinnedFetchOptions): Promise<Deno.Conn> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  const connecting = Deno.connect({ hostname: options.address ?? host, port });
  const tcp = await untilAborted(connecting, options.signal, (c) => c.close());
  if (url.protocol === "http:") return tcp;
  let tls: Deno.TlsConn;
  try {
    tls = await Deno.startTls(tcp, {
      hostname: host,
      alpnProtocols: ["http/1.1"],
      ...(options.caCerts ? { caCerts: options.caCerts } : {}),
    });
  } catch (e) {
    tcp.close();
    throw e;
  }
  try {
    await untilAborted(tls.handshake(), options.signal, () => {});
    return tls;
  } catch (e) {
    tls.close();
    throw e;
  }
}

/** Waits for `p`, or rejects with the signal's reason when it fires first (then `late` gets what `p` gives). */
function untilAborted<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  late: (value: T) => void,
): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      reject(signal.reason);
      p.then(late, () => {}).catch(() => {});
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** The request's bytes: request line, headers, blank line, body. */
function requestBytes(url: URL, method: string, options: PinnedFetchOptions): Uint8Array {
  if (!/^[A-Z]{1,16}$/.test(method)) throw new TypeError(`"${method}" is not an HTTP method`);
  const headers = new Headers(options.headers);
  for (const name of OWN_HEADERS) headers.delete(name);
  if (!headers.has("accept")) headers.set("accept", "*/*");
  if (!headers.has("accept-encoding")) headers.set("accept-encoding", "gzip, deflate");
  if (!headers.has("user-agent")) headers.set("user-agent", `Deno/${Deno.version.deno}`);
  const body = typeof options.body === "string" ? new TextEncoder().encode(options.body) : options.body;
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (body !== undefined || ["POST", "PUT", "PATCH"].includes(method)) {
    lines.push(`content-length: ${body?.length ?? 0}`);
  }
  lines.push("connection: close", "", "");
  const head = new TextEncoder().encode(lines.join("\r\n"));
  if (!body?.length) return head;
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) n += await conn.write(bytes.subarray(n));
}

/** The status line and headers of the answer. */
interface Head {
  status: number;
  statusText: string;
  headers: Headers;
}

/** Reads the answer's head, skipping informational (1xx) answers. */
async function readHead(reader: ConnReader): Promise<Head> {
  for (;;) {
    const text = new TextDecoder().decode(await reader.readUntil(CRLF2, MAX_HEAD_BYTES));
    const [statusLine = "", ...lines] = text.split("\r\n");
    const m = statusLine.match(/^HTTP\/1\.[01] (\d{3})(?: (.*))?$/);
    if (!m) throw new Error(`The server's answer is not HTTP/1.x: "${statusLine.slice(0, 80)}"`);
    const status = Number(m[1]);
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0 || /^[ \t]/.test(line)) throw new Error(`A malformed header in the answer: "${line}"`);
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    if (status === 101) throw new Error("The server switched protocols, which is not supported");
    if (status >= 100 && status < 200) continue;
    if (status < 200 || status > 599) throw new Error(`The server answered the status ${status}`);
    return { status, statusText: m[2] ?? "", headers };
  }
}

/** The body's chunks, framed as the head says, or null for an answer without a body. */
function bodyOf(head: Head, method: string, reader: ConnReader): AsyncGenerator<Uint8Array> | null {
  if (method === "HEAD" || head.status === 204 || head.status === 304) return null;
  const te = head.headers.get("transfer-encoding");
  if (te !== null) {
    if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new Error(`The transfer encoding "${te}" is not supported`);
    return chunked(reader);
  }
  const cl = head.headers.get("content-length");
  if (cl !== null) {
    const values = new Set(cl.split(",").map((s) => s.trim()));
    const n = Number([...values][0]);
    if (values.size !== 1 || !/^\d+$/.test([...values][0]!) || !Number.isSafeInteger(n)) {
      throw new Error(`The content-length "${cl}" is not a length`);
    }
    return exactly(reader, n);
  }
  return untilClosed(reader);
}

async function* exactly(reader: ConnReader, length: number): AsyncGenerator<Uint8Array> {
  let left = length;
  while (left > 0) {
    const chunk = await reader.readSome(Math.min(left, 64 * 1024));
    if (chunk === null) throw new Error("The connection closed before the end of the body");
    left -= chunk.length;
    yield chunk;
  }
}

async function* chunked(reader: ConnReader): AsyncGenerator<Uint8Array> {
  for (;;) {
    const line = new TextDecoder().decode(await reader.readUntil(CRLF, MAX_HEAD_BYTES));
    const sizeText = line.split(";", 1)[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new Error(`A malformed chunk size: "${line}"`);
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Trailers, up to the blank line that ends the message.
      while ((await reader.readUntil(CRLF, MAX_HEAD_BYTES)).length > 0) { /* ignored */ }
      return;
    }
    yield* exactly(reader, size);
    if ((await reader.readUntil(CRLF, 2)).length !== 0) throw new Error("A chunk is longer than its size");
  }
}

async function* untilClosed(reader: ConnReader): AsyncGenerator<Uint8Array> {
  for (
    let chunk = await reader.readSome(64 * 1024);
    chunk !== null;
    chunk = await reader.readSome(64 * 1024)
  ) {
    yield chunk;
  }
}

/** The `Response`: the body streams from the connection, decoded, which is closed at its end or when cancelled. */
function toResponse(
  head: Head,
  chunks: AsyncGenerator<Uint8Array> | null,
  conn: { signal: AbortSignal | undefined; close: () => void },
): Response {
  let body: ReadableStream<Uint8Array> | null = null;
  if (chunks === null) conn.close();
  else {
    const { signal, close } = conn;
    body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await chunks.next();
          if (next.done) {
            close();
            controller.close();
          } else controller.enqueue(next.value);
        } catch (e) {
          close();
          controller.error(signal?.aborted ? signal.reason : e);
        }
      },
      cancel() {
        close();
      },
    });
    const encoding = head.headers.get("content-encoding")?.trim().toLowerCase();
    const format = encoding === "gzip" || encoding === "x-gzip"
      ? "gzip"
      : encoding === "deflate"
      ? "deflate"
      : null;
    if (format !== null) {
      body = body.pipeThrough(
        new DecompressionStream(format) as unknown as TransformStream<Uint8Array, Uint8Array>,
      );
      head.headers.delete("content-encoding");
      head.headers.delete("content-length");
    }
  }
  try {
    return new Response(body, { status: head.status, statusText: head.statusText, headers: head.headers });
  } catch {
    return new Response(body, { status: head.status, headers: head.headers });
  }
}

/** Reads a connection through a buffer: up to a delimiter, or what is there. */
class ConnReader {
  readonly #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads more into the buffer; false at the end of the connection. */
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    const joined = new Uint8Array(this.#buf.length + n);
    joined.set(this.#buf);
    joined.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = joined;
    return true;
  }

  /** The bytes before `delim` (which is consumed too), at most `max` of them. */
  async readUntil(delim: Uint8Array, max: number): Promise<Uint8Array> {
    let from = 0;
    for (;;) {
      const at = indexOf(this.#buf, delim, from);
      if (at >= 0) {
        const out = this.#buf.slice(0, at);
        this.#buf = this.#buf.slice(at + delim.length);
        return out;
      }
      if (this.#buf.length > max) throw new Error(`The answer's head is longer than ${max} bytes`);
      from = Math.max(0, this.#buf.length - delim.length + 1);
      if (!await this.#fill()) throw new Error("The connection closed in the middle of the answer");
    }
  }

  /** Up to `max` bytes: the buffer's first, else one read; null at the end of the connection. */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (this.#buf.length === 0 && !await this.#fill()) return null;
    const out = this.#buf.slice(0, max);
    this.#buf = this.#buf.slice(out.length);
    return out;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
