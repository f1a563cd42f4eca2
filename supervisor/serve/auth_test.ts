import assert from "node:assert/strict";
import { join } from "node:path";
import { bearerMatches, serveToken } from "./auth.ts";

Deno.test("bearerMatches() takes only Bearer <token>, exactly", async () => {
  const token = "a-token-of-enough-length";
  assert.equal(await bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(await bearerMatches(`bearer ${token}`, token), true, "the scheme is case-insensitive");
  for (const header of [null, "", token, `Basic ${token}`, `Bearer ${token}x`, `Bearer ${token.slice(1)}`]) {
    assert.equal(await bearerMatches(header, token), false, String(header));
  }
  assert.equal(await bearerMatches("Bearer ", ""), false, "no token never matches");
});

Deno.test("serveToken() makes the token file once, mode 0600, tightens a loose one, and checks a given token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-token-" });
  try {
    const state = join(dir, "state");
    const first = await serveToken(state);
    assert.equal(first.file, join(state, "serve.token"));
    assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await Deno.stat(first.file!)).mode! & 0o777, 0o600);
    await Deno.chmod(first.file!, 0o644);
    const again = await serveToken(state);
    assert.equal(again.token, first.token, "kept across starts");
    assert.equal((await Deno.stat(first.file!)).mode! & 0o777, 0o600);
    assert.deepEqual(await serveToken(state, { token: "x".repeat(16) }), {
      token: "x".repeat(16),
      file: null,
    });
    await assert.rejects(serveToken(state, { token: "short" }), { code: "ERR_USAGE" });
    await assert.rejects(serveToken(state, { token: "has a space in it ok" }), { code: "ERR_USAGE" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
