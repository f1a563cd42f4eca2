import assert from "node:assert/strict";
import {
  denoNetValue,
  denoNetValues,
  isPrivateAddress,
  matchNet,
  type NetEntryInput,
  type NetGrant,
  parseNetGrant,
  pinnableNames,
} from "./net.ts";

function grant(entry: NetEntryInput): NetGrant {
  const r = parseNetGrant(entry);
  if (!r.ok) throw new Error(`${JSON.stringify(entry)}: ${r.code} ${r.message}`);
  return r.value;
}

Deno.test("parseNetGrant() accepts hosts, ports, URLs and method tables", async (t) => {
  const cases: [string, NetEntryInput, string, Partial<NetGrant>][] = [
    ["host", "api.github.com", "api.github.com", { scheme: null, port: null, pathPrefix: "/" }],
    ["upper case host", "API.GitHub.com", "api.github.com", {}],
    ["trailing dot", "example.com.", "example.com", {}],
    ["host and port", "example.com:8443", "example.com:8443", { port: 8443 }],
    ["IPv4", "192.0.2.10", "192.0.2.10", {}],
    ["IPv6", "[2001:db8::1]:443", "[2001:db8::1]:443", { host: "2001:db8::1" }],
    ["wildcard subdomain", "*.example.com", "*.example.com", {}],
    ["https URL", "https://api.example.com/v1/", "api.example.com:443", {
      scheme: "https",
      pathPrefix: "/v1/",
    }],
    ["http URL with port", "http://127.0.0.1:11434/api", "127.0.0.1:11434", {
      scheme: "http",
      pathPrefix: "/api",
    }],
    ["url table", { url: "https://x.example/v1/", methods: ["GET", "POST"] }, "x.example:443", {
      methods: ["GET", "POST"],
    }],
    ["host table", { host: "x.example", methods: ["GET"] }, "x.example", { methods: ["GET"], scheme: null }],
  ];
  for (const [name, entry, flag, fields] of cases) {
    await t.step(name, () => {
      const g = grant(entry);
      assert.equal(denoNetValue(g), flag);
      for (const [k, v] of Object.entries(fields)) assert.deepEqual(g[k as keyof NetGrant], v, k);
    });
  }
});

Deno.test("parseNetGrant() refuses what a host cannot safely mean", async (t) => {
  const cases: [string, NetEntryInput, string][] = [
    ["star", "*", "ERR_NET_WILDCARD"],
    ["star top-level domain", "*.com", "ERR_NET_WILDCARD"],
    ["star in the middle", "api.*.example.com", "ERR_NET_WILDCARD"],
    ["star on an address", "*.0.0.1", "ERR_NET_WILDCARD"],
    ["Cyrillic homoglyph", "\u0430pi.github.com", "ERR_NET_NOT_ASCII"],
    ["Greek homoglyph", "g\u03bfogle.com", "ERR_NET_NOT_ASCII"],
    ["zero-width space", "git\u200bhub.com", "ERR_NET_NOT_ASCII"],
    ["empty", "", "ERR_NET_INVALID"],
    ["underscore", "bad_host.example", "ERR_NET_INVALID"],
    ["label too long", `${"a".repeat(64)}.example`, "ERR_NET_INVALID"],
    ["port zero", "example.com:0", "ERR_NET_PORT"],
    ["port too big", "example.com:70000", "ERR_NET_PORT"],
    ["port not a number", "example.com:http", "ERR_NET_PORT"],
    ["bare IPv6", "::1", "ERR_NET_INVALID"],
    ["bad IPv4", "256.1.1.1", "ERR_NET_INVALID"],
    ["octal-looking IPv4", "010.0.0.1", "ERR_NET_INVALID"],
    ["ftp", "ftp://files.example.com/", "ERR_NET_SCHEME"],
    ["file URL", "file:///etc/passwd", "ERR_NET_SCHEME"],
    ["user info", "https://user:pw@example.com/", "ERR_NET_INVALID"],
    ["query", "https://example.com/a?b=c", "ERR_NET_INVALID"],
    ["URL as host key", { host: "https://example.com/" }, "ERR_NET_INVALID"],
    ["host as url key", { url: "example.com" }, "ERR_NET_INVALID"],
  ];
  for (const [name, entry, code] of cases) {
    await t.step(name, () => {
      const r = parseNetGrant(entry);
      assert.equal(r.ok, false, `${JSON.stringify(entry)} should be refused`);
      if (!r.ok) {
        assert.equal(r.code, code);
        assert.ok(r.hint.length > 0);
      }
    });
  }
});

Deno.test("parseNetGrant() hints the punycode of an international name", () => {
  const r = parseNetGrant("b\u00fccher.example");
  assert.ok(!r.ok && r.hint.includes("xn--bcher-kva.example"));
});

Deno.test("parseNetGrant() warns on wildcards and private addresses", () => {
  for (const e of ["*.example.com", "127.0.0.1:8080", "10.0.0.5", "[::1]"]) {
    const r = parseNetGrant(e);
    assert.ok(r.ok && r.warning, e);
  }
});

Deno.test("matchNet() checks scheme, host, port, path and method", async (t) => {
  const grants = [
    grant({ url: "https://api.example.com/v1/", methods: ["GET"] }),
    grant("*.cdn.example"),
    grant("plain.example:8080"),
    grant("http://local.example/exact"),
  ];
  const cases: [string, string, string, boolean][] = [
    ["granted URL prefix and method", "https://api.example.com/v1/items", "GET", true],
    ["method not granted", "https://api.example.com/v1/items", "POST", false],
    ["path outside the prefix", "https://api.example.com/v2/items", "GET", false],
    ["dot-dot in the path is normalised by URL", "https://api.example.com/v1/../admin", "GET", false],
    ["scheme not granted", "http://api.example.com/v1/items", "GET", false],
    ["port not granted", "https://api.example.com:8443/v1/", "GET", false],
    ["host absent", "https://evil.example/v1/", "GET", false],
    ["suffix trick", "https://api.example.com.evil.example/v1/", "GET", false],
    ["user info", "https://u:p@api.example.com/v1/", "GET", false],
    ["wildcard subdomain", "https://img.cdn.example/a.png", "GET", true],
    ["wildcard does not grant the bare name", "https://cdn.example/", "GET", false],
    ["host grant with port", "http://plain.example:8080/x", "DELETE", true],
    ["host grant, other port", "http://plain.example/x", "GET", false],
    ["exact path", "http://local.example/exact", "GET", true],
    ["path segment boundary", "http://local.example/exactly", "GET", false],
    ["below exact path", "http://local.example/exact/more", "GET", true],
    ["not http", "ws://api.example.com/v1/", "GET", false],
  ];
  for (const [name, url, method, allowed] of cases) {
    await t.step(name, () => assert.equal(matchNet(grants, new URL(url), method) !== undefined, allowed));
  }
  await t.step(
    "no grants: nothing",
    () => assert.equal(matchNet([], new URL("https://a.example/"), "GET"), undefined),
  );
});

Deno.test("isPrivateAddress() knows the private, loopback and reserved ranges", () => {
  const priv = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "not-an-ip",
  ];
  const pub = [
    "8.8.8.8",
    "93.184.216.34",
    "172.32.0.1",
    "192.169.0.1",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
  ];
  for (const ip of priv) assert.equal(isPrivateAddress(ip), true, ip);
  for (const ip of pub) assert.equal(isPrivateAddress(ip), false, ip);
});

Deno.test("denoNetValues() and pinnableNames(): names are pinned, addresses kept, wildcards dropped", async (t) => {
  const pinned = { "a.example": ["192.0.2.1", "2001:db8::1"], "none.example": [] };
  const cases: [string, string, string[], string[]][] = [
    // [name, entry, values without pinning (check), values in a run]
    ["absent from the table: nothing", "other.example", ["other.example"], []],
    ["a name, any port", "a.example", ["a.example"], ["192.0.2.1", "[2001:db8::1]"]],
    ["a name with a port", "a.example:8443", ["a.example:8443"], ["192.0.2.1:8443", "[2001:db8::1]:8443"]],
    ["a URL grant: its port", "https://a.example/v1/", ["a.example:443"], [
      "192.0.2.1:443",
      "[2001:db8::1]:443",
    ]],
    ["a name that did not resolve", "none.example", ["none.example"], []],
    ["an IPv4 address, as granted", "192.0.2.9:80", ["192.0.2.9:80"], ["192.0.2.9:80"]],
    ["an IPv6 address, as granted", "[2001:db8::9]:80", ["[2001:db8::9]:80"], ["[2001:db8::9]:80"]],
    ["a wildcard", "*.a.example", ["*.a.example"], []],
  ];
  for (const [name, entry, check, run] of cases) {
    await t.step(name, () => {
      const g = grant(entry);
      assert.deepEqual(denoNetValues(g), check);
      assert.deepEqual(denoNetValues(g, pinned), run);
    });
  }
  await t.step("pinnableNames(): exact names once, no address, no wildcard", () => {
    const grants = ["a.example", "https://a.example/", "*.b.example", "10.0.0.1", "[::1]", "c.example:1"].map(
      grant,
    );
    assert.deepEqual(pinnableNames(grants), ["a.example", "c.example"]);
  });
  await t.step("a wildcard's warning says a run cannot reach it", () => {
    const r = parseNetGrant("*.example.com");
    assert.match(r.ok ? r.warning ?? "" : "", /which a run cannot reach.*list the exact names/);
  });
});
