import assert from "node:assert/strict";
import { type NetGrant, parseNetGrant } from "../capabilities/net.ts";
import { PROTOCOL_VERSION, type RunEvent } from "../protocol/protocol.ts";
import { RequestBroker, type RequestReply } from "./requests.ts";
import { dnsServer } from "../tests/_dns.ts";
import { pinGrantedHosts } from "./resolver.ts";

function grants(...entries: string[]): NetGrant[] {
  return entries.map((e) => {
    const g = parseNetGrant(e);
    if (!g.ok) throw new Error(e);
    return g.value;
  });
}

/** Asks one `dns.resolve` of a broker and waits for its reply; every event it records is kept. */
async function ask(broker: RequestBroker, replies: Map<number, RequestReply>, id: number, host: unknown) {
  broker.accept({ v: PROTOCOL_VERSION, type: "request", id, op: "dns.resolve", args: { host } });
  for (let i = 0; i < 100 && !replies.has(id); i++) await new Promise((r) => setTimeout(r, 1));
  return replies.get(id)!;
}

function broker(net: NetGrant[], pinned: Record<string, string[]>) {
  const replies = new Map<number, RequestReply>();
  const events: RunEvent[] = [];
  const b = new RequestBroker((id, reply) => replies.set(id, reply), (e) => events.push(e), { net, pinned });
  return { b, replies, events };
}

Deno.test("RequestBroker answers dns.resolve only for granted names, from the addresses pinned at the start", async (t) => {
  const net = grants("api.example.com:443", "*.wild.example", "192.0.2.9");
  const { b, replies, events } = broker(net, {
    "api.example.com": ["192.0.2.1", "2001:db8::1"],
    "gone.example": [],
  });
  await t.step("allowed: a granted name gets its pinned addresses, case and trailing dot aside", async () => {
    assert.deepEqual(await ask(b, replies, 1, "API.example.com."), {
      ok: true,
      result: { addresses: ["192.0.2.1", "2001:db8::1"] },
    });
    assert.deepEqual(events.at(-1), {
      type: "dns",
      host: "api.example.com",
      decision: "allow",
      addresses: ["192.0.2.1", "2001:db8::1"],
    });
  });
  await t.step("denied: a name not granted (a forged request) is refused without a lookup", async () => {
    const r = await ask(b, replies, 2, "c2VjcmV0.exfil.example");
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.match(!r.ok ? r.error.hint : "", /add "c2vjcmv0\.exfil\.example" to \[capabilities\.net\] allow/);
    assert.deepEqual(events.at(-1), {
      type: "dns",
      host: "c2vjcmv0.exfil.example",
      decision: "deny",
      code: "ERR_CAPABILITY_DENIED",
      message: !r.ok ? r.error.message : "",
    });
  });
  await t.step("denied: a name under a wildcard grant, which a run cannot pin", async () => {
    const r = await ask(b, replies, 3, "a.wild.example");
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.match(!r.ok ? r.error.message : "", /only by the wildcard "\*\.wild\.example"/);
    assert.match(!r.ok ? r.error.hint : "", /add "a\.wild\.example"/);
  });
  await t.step("denied: the wildcard's own name and an address are not names the grant pins", async () => {
    for (const [id, host] of [[4, "wild.example"], [5, "192.0.2.9"], [6, "constructor"]] as const) {
      const r = await ask(b, replies, id, host);
      assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED", host);
    }
  });
  await t.step("a granted name that did not resolve at the start stays unresolved", async () => {
    const r = await ask(b, replies, 7, "gone.example");
    assert.equal(!r.ok && r.error.code, "ERR_NOT_FOUND");
    assert.match(!r.ok ? r.error.message : "", /did not resolve when the run started/);
  });
  await t.step("malformed: no host", async () => {
    const r = await ask(b, replies, 8, 42);
    assert.equal(!r.ok && r.error.code, "ERR_INVALID_ARGS");
  });
  await t.step("every refusal is recorded", () => {
    const denied = events.filter((e) => e.type === "dns" && e.decision === "deny").map((e) => e.host);
    assert.deepEqual(denied, [
      "c2vjcmv0.exfil.example",
      "a.wild.example",
      "wild.example",
      "192.0.2.9",
      "constructor",
      "gone.example",
    ]);
  });
});

Deno.test("RequestBroker without pinned addresses resolves nothing at all", async () => {
  const { b, replies } = broker(grants("api.example.com"), {});
  const r = await ask(b, replies, 1, "api.example.com");
  assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
});

Deno.test("pinGrantedHosts() resolves each exact granted name once, at the configured name server", async (t) => {
  await using dns = await dnsServer(({ name, type }, n) => {
    if (name === "api.example.com") return n === 1 ? ["192.0.2.1", "2001:db8::1"] : ["127.0.0.1"];
    if (name === "v6only.example") return type === "AAAA" ? ["2001:db8::6"] : [];
    return null;
  });
  const nameServer = { ipAddr: "127.0.0.1", port: dns.port };
  const pinned = await pinGrantedHosts(
    grants(
      "api.example.com",
      "https://api.example.com/v1/",
      "v6only.example",
      "nxdomain.example",
      "*.wild.example",
      "192.0.2.9",
      "localhost:8080",
    ),
    { nameServer },
  );
  await t.step("names: their addresses, IPv4 first; a name that does not resolve: none", () => {
    assert.deepEqual(pinned, {
      "api.example.com": ["192.0.2.1", "2001:db8::1"],
      "v6only.example": ["2001:db8::6"],
      "nxdomain.example": [],
      "localhost": ["127.0.0.1", "::1"],
    });
    assert.ok(Object.isFrozen(pinned) && Object.isFrozen(pinned["api.example.com"]));
  });
  await t.step("each name asked once (A and AAAA); wildcards, addresses and localhost never", () => {
    const asked = dns.queries.map((q) => `${q.name} ${q.type}`).sort();
    assert.deepEqual(asked, [
      "api.example.com A",
      "api.example.com AAAA",
      "nxdomain.example A",
      "nxdomain.example AAAA",
      "v6only.example A",
      "v6only.example AAAA",
    ]);
  });
});
