/** Secrets: injected by the gate at egress to their hosts only, redacted from what comes back, never in the record. */

import assert from "node:assert/strict";
import {
  agentDir,
  countingServer,
  type LoopbackServer,
  PROBE,
  probeCalls,
  recordText,
  run,
  withConfig,
} from "./_sandbox.ts";

/** A loopback server that answers with the Authorization header it got, in the body and a header. */
function echoServer() {
  return countingServer((req) => {
    const auth = req.headers.get("authorization");
    return new Response(`you sent: ${auth}`, { headers: { "x-echo": auth ?? "" } });
  });
}

/** The Authorization header of each request a server got. */
const auths = (server: LoopbackServer) => server.headers.map((h) => h.get("authorization"));

Deno.test("a granted secret goes to its host only, and never back to the agent or into the record", async () => {
  const VALUE = `s3cr3t-${crypto.randomUUID()}`;
  await using bound = echoServer();
  await using other = echoServer();
  await using agent = await agentDir(
    PROBE,
    `[capabilities.net]\nallow = ["127.0.0.1:${bound.port}", "127.0.0.1:${other.port}"]\n[capabilities.secrets]\nuse = ["svc"]\n`,
  );
  await withConfig(
    agent,
    `[runtime]\nstate_dir = "state"\n[secrets.svc]\nenv = "IRONCLAW_TEST_SECRET"\nhosts = ["127.0.0.1:${bound.port}"]\n`,
  );
  Deno.env.set("IRONCLAW_TEST_SECRET", VALUE);
  try {
    const { replies, ran } = await probeCalls(agent, [
      ["http.fetch", { url: `http://127.0.0.1:${bound.port}/` }],
      ["http.fetch", { url: `http://127.0.0.1:${other.port}/` }],
      ["env.get", { name: "IRONCLAW_TEST_SECRET" }],
    ]);
    assert.deepEqual(auths(bound), [`Bearer ${VALUE}`]);
    assert.deepEqual(auths(other), [null]);
    const first = replies[0]?.ok as { body: string; headers: Record<string, string> };
    assert.equal(first.body, "you sent: Bearer [redacted]");
    assert.equal(first.headers["x-echo"], "Bearer [redacted]");
    assert.equal(replies[2]?.error?.code, "ERR_CAPABILITY_DENIED");
    const record = await recordText(agent, ran.outcome.id);
    assert.ok(!record.includes(VALUE), "the secret is in the record");
  } finally {
    Deno.env.delete("IRONCLAW_TEST_SECRET");
  }
});

Deno.test("a granted secret without a value stops the run before it starts", async () => {
  await using agent = await agentDir(PROBE, `[capabilities.secrets]\nuse = ["svc"]\n`);
  await withConfig(
    agent,
    `[runtime]\nstate_dir = "state"\n[secrets.svc]\nenv = "IRONCLAW_TEST_UNSET_SECRET"\nhosts = ["api.example.com"]\n`,
  );
  await assert.rejects(() => run(agent, "{}"), /ERR_SECRET_MISSING|has no value/);
});
