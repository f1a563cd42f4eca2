import assert from "node:assert/strict";
import {
  checkSameOrigin,
  cookieValue,
  CSRF_HEADER,
  isCrossSite,
  sessionCookie,
  SessionTable,
} from "./session.ts";

Deno.test("cookieValue() finds one cookie among others, and none in a missing header", () => {
  assert.equal(cookieValue("a=1; ironclaw_session=abc; b=2", "ironclaw_session"), "abc");
  assert.equal(cookieValue("xironclaw_session=abc", "ironclaw_session"), null);
  assert.equal(cookieValue(null, "ironclaw_session"), null);
});

Deno.test("sessionCookie() is HttpOnly, SameSite=Strict, Path=/; signing out expires it", () => {
  assert.match(
    sessionCookie("id"),
    /^ironclaw_session=id; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/,
  );
  assert.match(sessionCookie(null), /^ironclaw_session=; .*Max-Age=0$/);
});

Deno.test("SessionTable keeps hashes of random ids; a closed or unknown id finds nothing", async () => {
  const table = new SessionTable();
  const { id, session } = await table.open();
  assert.match(id, /^[A-Za-z0-9_-]{43}$/);
  const req = (cookie: string) => new Request("http://127.0.0.1:1/v1/runs", { headers: { cookie } });
  assert.deepEqual(await table.find(req(`ironclaw_session=${id}`)), session);
  assert.equal(await table.find(req(`ironclaw_session=${id}x`)), null);
  await table.close(req(`ironclaw_session=${id}`));
  assert.equal(await table.find(req(`ironclaw_session=${id}`)), null);
});

Deno.test("checkSameOrigin() takes only the server's own origin with the session's CSRF value", async () => {
  const { session } = await new SessionTable().open();
  const req = (headers: Record<string, string>) =>
    new Request("http://127.0.0.1:7341/v1/approvals/x", { method: "POST", headers });
  const own = { host: "127.0.0.1:7341", origin: "http://127.0.0.1:7341", [CSRF_HEADER]: session.csrf };
  checkSameOrigin(req(own), session);
  checkSameOrigin(req({ ...own, "sec-fetch-site": "same-origin" }), session);
  const refused: Record<string, string>[] = [
    { ...own, origin: "http://127.0.0.1:9999" }, // another port: same site, another origin
    { ...own, origin: "null" },
    { host: own.host, [CSRF_HEADER]: session.csrf }, // no Origin
    { ...own, "sec-fetch-site": "same-site" },
    { ...own, "sec-fetch-site": "cross-site" },
    { host: own.host, origin: own.origin }, // no CSRF value
    { ...own, [CSRF_HEADER]: session.csrf.slice(1) + "x" },
  ];
  for (const headers of refused) {
    assert.throws(
      () => checkSameOrigin(req(headers), session),
      (e) => isCrossSite(e),
      JSON.stringify(headers),
    );
  }
});
