import assert from "node:assert/strict";
import { pinnedFetch } from "./pinned_http.ts";
import { makeTestTls } from "../../tests/_tls.ts";

/** A loopback server that answers each connection with `answer` (raw bytes) after reading the request's head. */
function rawServer(answer: (head: string) => Uint8Array | string | null) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(65536);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        heads.push(text);
        const out = answer(text);
        if (out === null) return; // never answers
        await conn.write(typeof out === "string" ? new TextEncoder().encode(out) : out);
        conn.close();
      })().catch(() => {});
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    heads,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("pinnedFetch() connects to the given address, never resolving the URL's name", async (t) => {
  const seen: { host: string | null; method: string; body: string; auth: string | null }[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    seen.push({
      host: req.headers.get("host"),
      method: req.method,
      body: await req.text(),
      auth: req.headers.get("authorization"),
    });
    return new Response("hello", { headers: { "x-test": "1" } });
  });
  const port = server.addr.port;
  await t.step("http: the request goes to 127.0.0.1 for a name that resolves nowhere", async () => {
    const r = await pinnedFetch(new URL(`http://pinned.invalid:${port}/a/b?c=1`), {
      address: "127.0.0.1",
      method: "POST",
      headers: { authorization: "Bearer x", host: "evil.example" },
      body: "the body",
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-test"), "1");
    assert.equal(await r.text(), "hello");
    assert.deepEqual(seen.at(-1), {
      host: `pinned.invalid:${port}`,
      method: "POST",
      body: "the body",
      auth: "Bearer x",
    });
  });
  await t.step("without an address it connects by name (the process flags decide)", async () => {
    await assert.rejects(pinnedFetch(new URL(`http://pinned.invalid:${port}/`)));
  });
  await t.step("not http or https", async () => {
    await assert.rejects(pinnedFetch(new URL("ftp://x/")), TypeError);
  });
});

Deno.test("pinnedFetch() verifies TLS against the URL's host name while connecting to the address", async (t) => {
  const tls = await makeTestTls(["pinned.test"]);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key, onListen: () => {} },
    (req) => new Response(`tls to ${req.headers.get("host")}`),
  );
  const port = server.addr.port;
  await t.step("the certificate's name matches: the answer comes", async () => {
    const r = await pinnedFetch(new URL(`https://pinned.test:${port}/`), {
      address: "127.0.0.1",
      caCerts: [tls.ca],
    });
    assert.equal(await r.text(), `tls to pinned.test:${port}`);
  });
  await t.step("another name is refused by certificate verification", async () => {
    await assert.rejects(
      pinnedFetch(new URL(`https://other.test:${port}/`), { address: "127.0.0.1", caCerts: [tls.ca] }),
      /not valid for name|certificate/i,
    );
  });
  await t.step("an authority the client does not trust is refused", async () => {
    await assert.rejects(pinnedFetch(new URL(`https://pinned.test:${port}/`), { address: "127.0.0.1" }));
  });
});

Deno.test("pinnedFetch() reads every body framing, and returns redirects", async (t) => {
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/chunked") {
      const parts = ["one ", "two ", "three"];
      return new Response(
        new ReadableStream({
          pull(c) {
            const p = parts.shift();
            if (p === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(p));
          },
        }),
      );
    }
    if (path === "/redirect") return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
    if (path === "/empty") return new Response(null, { status: 204 });
    return new Response("x".repeat(100_000));
  });
  const url = (p: string) => new URL(`http://localhost:${server.addr.port}${p}`);
  const at = { address: "127.0.0.1" };
  await t.step("chunked", async () => {
    assert.equal(await (await pinnedFetch(url("/chunked"), at)).text(), "one two three");
  });
  await t.step("content-length, larger than one read", async () => {
    assert.equal((await (await pinnedFetch(url("/big"), at)).text()).length, 100_000);
  });
  await t.step("a redirect is returned, not followed", async () => {
    const r = await pinnedFetch(url("/redirect"), at);
    assert.equal(r.status, 302);
    assert.equal(r.headers.get("location"), "/elsewhere");
  });
  await t.step("204 and HEAD have no body", async () => {
    assert.equal((await pinnedFetch(url("/empty"), at)).body, null);
    const head = await pinnedFetch(url("/big"), { ...at, method: "HEAD" });
    assert.equal(head.body, null);
    assert.equal(head.headers.get("content-length"), "100000");
  });
  await t.step("read to the end of the connection, after a 100 Continue", async () => {
    await using raw = rawServer(() =>
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nall of it"
    );
    const r = await pinnedFetch(new URL(`http://raw.invalid:${raw.port}/`), at);
    assert.equal(r.headers.get("x-a"), "1");
    assert.equal(await r.text(), "all of it");
    assert.match(raw.heads[0]!, /^GET \/ HTTP\/1\.1\r\n/);
    assert.match(raw.heads[0]!, /\r\nconnection: close\r\n/);
  });
  await t.step("gzip is decoded", async () => {
    const zipped = new Uint8Array(
      await new Response(
        new Blob(["compressed text"]).stream().pipeThrough(new CompressionStream("gzip")),
      ).arrayBuffer(),
    );
    await using raw = rawServer(() => {
      const head = new TextEncoder().encode(
        `HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: ${zipped.length}\r\n\r\n`,
      );
      const out = new Uint8Array(head.length + zipped.length);
      out.set(head);
      out.set(zipped, head.length);
      return out;
    });
    const r = await pinnedFetch(new URL(`http://raw.invalid:${raw.port}/`), at);
    assert.equal(await r.text(), "compressed text");
    assert.equal(r.headers.get("content-encoding"), null);
  });
  await t.step("a body cut short, and an answer that is not HTTP, fail", async () => {
    await using short = rawServer(() => "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
    const r = await pinnedFetch(new URL(`http://raw.invalid:${short.port}/`), at);
    await assert.rejects(r.text());
    await using junk = rawServer(() => "SSH-2.0-OpenSSH\r\n\r\n");
    await assert.rejects(pinnedFetch(new URL(`http://raw.invalid:${junk.port}/`), at), /not HTTP/);
  });
});

Deno.test("pinnedFetch() gives up when its signal fires: a server that never answers", async () => {
  await using raw = rawServer(() => null);
  await assert.rejects(
    pinnedFetch(new URL(`http://raw.invalid:${raw.port}/`), {
      address: "127.0.0.1",
      signal: AbortSignal.timeout(200),
    }),
    (e: unknown) => e instanceof DOMException && e.name === "TimeoutError",
  );
});
