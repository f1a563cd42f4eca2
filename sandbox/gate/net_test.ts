import assert from "node:assert/strict";
import { type NetIo, netOps } from "./net.ts";
import { contextOf, outcomeOf, policyOf } from "./_testing.ts";
import type { SecretValue } from "../../protocol/protocol.ts";
import { MAX_HTTP_BYTES } from "./family.ts";

const GRANTS =
  `[capabilities.net]\nallow = ["api.example.com", "rebind.example", "nxdomain.example", "10.0.0.7:9"]\n`;
const SECRET: SecretValue = {
  name: "k",
  value: "s3cret",
  hosts: ["api.example.com"],
  header: "authorization",
  format: "Bearer {value}",
};

/** A network in memory: names resolve from a table, every request is recorded and answered by `answer`. */
function fakeNet(answer: (url: URL) => Response = () => new Response("ok")) {
  const requests: { url: string; init: RequestInit; address: string | null }[] = [];
  const names: Record<string, string[]> = {
    "api.example.com": ["93.184.216.34"],
    "rebind.example": ["93.184.216.34", "10.0.0.7"],
  };
  const io: NetIo = {
    fetch: (url, init, pin) => {
      requests.push({ url: url.href, init, address: pin.address });
      return Promise.resolve(answer(url));
    },
    resolveHost: (host) => names[host] ? Promise.resolve(names[host]) : Promise.reject(new Error("NXDOMAIN")),
  };
  return { io, requests };
}

Deno.test("netOps() http.fetch reaches granted hosts only", async (t) => {
  await t.step("allowed: the secret goes in at egress and is redacted from the answer", async () => {
    const { io, requests } = fakeNet(() => new Response("echo s3cret", { headers: { "x-echo": "s3cret" } }));
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [SECRET] });
    const r = await outcomeOf(ops["http.fetch"], {
      url: "https://api.example.com/v1",
      method: "post",
      body: "b",
    });
    assert.deepEqual(r, {
      ok: true,
      value: {
        status: 200,
        headers: { "content-type": "text/plain;charset=UTF-8", "x-echo": "[redacted]" },
        body: "echo [redacted]",
      },
      rule: "net:api.example.com/",
    });
    const sent = requests[0]!;
    assert.equal(sent.init.method, "POST");
    assert.equal(sent.init.redirect, "manual");
    assert.equal(sent.init.body, "b");
    assert.equal((sent.init.headers as Headers).get("authorization"), "Bearer s3cret");
  });
  await t.step("denied: a host, a scheme, a private address, a name that does not resolve", async () => {
    const { io, requests } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    const cases = [
      ["https://other.example/", "net"],
      ["ftp://api.example.com/", "net.scheme"],
      ["http://rebind.example/", "net.private"],
      ["http://nxdomain.example/", "net.dns"],
    ];
    for (const [url, rule] of cases) {
      const r = await outcomeOf(ops["http.fetch"], { url });
      assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED", url);
      assert.equal(r.rule, rule, url);
    }
    assert.equal(requests.length, 0);
  });
  await t.step(
    "a refusal's hint says where the grant goes: the manifest, or for a plugin also its plugin.toml",
    async () => {
      const { io } = fakeNet();
      const agent = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
      const plugin = netOps(contextOf(policyOf(GRANTS), { actor: "docs" }), io, {
        secrets: [],
        actor: "docs",
      });
      for (const url of ["https://other.example/", "http://rebind.example/"]) {
        const a = await outcomeOf(agent["http.fetch"], { url });
        assert.match(!a.ok ? a.hint : "", /\[capabilities\.net\] allow in the manifest/, url);
        assert.doesNotMatch(!a.ok ? a.hint : "", /plugin/, url);
        const p = await outcomeOf(plugin["http.fetch"], { url });
        assert.match(!p.ok ? p.hint : "", /\[permissions\.net\] of plugin "docs" \(its plugin\.toml\)/, url);
      }
    },
  );
  await t.step("an address granted itself may be private", async () => {
    const { io } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    const r = await outcomeOf(ops["http.fetch"], { url: "http://10.0.0.7:9/" });
    assert.equal(r.ok && r.rule, "net:10.0.0.7:9/");
  });
});

Deno.test("netOps() http.fetch refuses malformed requests, and maps what goes wrong", async (t) => {
  await t.step("malformed: URL, method, headers, body", async () => {
    const { io } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    const url = "https://api.example.com/";
    for (
      const args of [{}, { url: "nope" }, { url, method: "G T" }, { url, headers: "x" }, {
        url,
        headers: { a: 1 },
      }, {
        url,
        body: 1,
      }]
    ) {
      const r = await outcomeOf(ops["http.fetch"], args);
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", JSON.stringify(args));
    }
  });
  await t.step("the precheck refuses what is not granted, without fetching", () => {
    const { io, requests } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    assert.throws(() => ops["http.fetch"].precheck!({ url: "https://other.example/" }), {
      code: "ERR_CAPABILITY_DENIED",
    });
    ops["http.fetch"].precheck!({ url: "https://api.example.com/" });
    assert.equal(requests.length, 0);
  });
  await t.step("a body over the cap, and a failing fetch", async () => {
    const big = fakeNet(() => new Response(new Uint8Array(MAX_HTTP_BYTES + 1)));
    const r = await outcomeOf(netOps(contextOf(policyOf(GRANTS)), big.io, { secrets: [] })["http.fetch"], {
      url: "https://api.example.com/",
    });
    assert.equal(!r.ok && r.code, "ERR_LIMIT");
    const down = fakeNet(() => {
      throw new TypeError("connection refused");
    });
    const d = await outcomeOf(netOps(contextOf(policyOf(GRANTS)), down.io, { secrets: [] })["http.fetch"], {
      url: "https://api.example.com/",
    });
    assert.equal(!d.ok && d.code, "ERR_IO");
  });
});

Deno.test("netOps() http.fetch connects to the address it checked, never to the name again", async (t) => {
  await t.step("a name: its first checked address", async () => {
    const { io, requests } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    const r = await outcomeOf(ops["http.fetch"], { url: "https://api.example.com/x" });
    assert.ok(r.ok);
    assert.deepEqual(requests.map((q) => [q.url, q.address]), [[
      "https://api.example.com/x",
      "93.184.216.34",
    ]]);
  });
  await t.step("an address granted itself: that address", async () => {
    const { io, requests } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    await outcomeOf(ops["http.fetch"], { url: "http://10.0.0.7:9/" });
    assert.equal(requests[0]?.address, "10.0.0.7");
  });
  await t.step("an answer that is not an address is not connected to", async () => {
    const { io, requests } = fakeNet();
    io.resolveHost = () => Promise.resolve(["api.example.com"]);
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    const r = await outcomeOf(ops["http.fetch"], { url: "https://api.example.com/" });
    assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
    assert.equal(requests.length, 0);
  });
  await t.step("the supervisor's refusal keeps its hint", async () => {
    const { io } = fakeNet();
    io.resolveHost = () =>
      Promise.reject(
        Object.assign(new Error("not pinned"), { code: "ERR_CAPABILITY_DENIED", hint: "add it" }),
      );
    const ops = netOps(contextOf(policyOf(GRANTS)), io, { secrets: [] });
    const r = await outcomeOf(ops["http.fetch"], { url: "https://api.example.com/" });
    assert.equal(!r.ok && r.hint, "add it");
  });
  await t.step("checks off (tests only): by name, for the process flags to decide", async () => {
    const { io, requests } = fakeNet();
    const ops = netOps(contextOf(policyOf(GRANTS), { checks: false }), io, { secrets: [] });
    await outcomeOf(ops["http.fetch"], { url: "https://api.example.com/" });
    assert.equal(requests[0]?.address, null);
  });
});
