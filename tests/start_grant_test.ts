/**
 * What a sandbox is sent: the grant narrowed from the Policy, not the Policy.
 * A real child records the start message it received.
 */

import assert from "node:assert/strict";
import { agentDir, hostileRun, PROBE } from "./_sandbox.ts";
import { sandboxEntry } from "../supervisor/assets.ts";

Deno.test("the start message carries the narrowed grant: no manifest path, origins or warnings", async () => {
  await using agent = await agentDir(
    PROBE,
    `[capabilities.env]\nallow = ["TZ"]\n\n[limits]\ntimeout_s = 10\n`,
  );
  const outcome = await (await hostileRun(agent, "echo-start")).done;
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  const start = JSON.parse(outcome.output!);
  assert.equal(start.type, "start");
  const grant = start.policy;
  const text = JSON.stringify(grant);
  for (const absent of ["manifestFile", "warnings", "limitOrigins", "secrets", "line", "column", "file"]) {
    assert.ok(!text.includes(`"${absent}"`), `${absent} is not sent`);
  }
  assert.ok(!text.includes("agent.toml"), "the manifest's path is not sent");
  assert.deepEqual(grant.env, [{ name: "TZ", from: [{ source: "manifest" }] }]);
  assert.equal(grant.fs.read.length, 1);
  assert.deepEqual(grant.fs.read[0].from, [{ source: "manifest" }]);
  assert.deepEqual(grant.runtime.read, [sandboxEntry().dir]);
  assert.equal(grant.limits.timeoutS, 10);
});
