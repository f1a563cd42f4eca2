/**
 * The scale test of the queue on PostgreSQL (issue 11, item 6): a throwaway
 * server from Debian's package, three `ironclaw worker` processes and 30
 * queued runs, one worker SIGKILLed mid-run; the agent allows a retry, so
 * its run is queued again and ends `ok` on another worker. The same 30 runs
 * with one worker take longer than with three.
 */

import assert from "node:assert/strict";
import { postgresInstalled, startPostgres } from "./_postgres.ts";
import { killedWorkerScenario, oneWorkerMs } from "./queue_test.ts";

// In CI the PostgreSQL tests must run: a missing server fails them there rather than skipping them.
const ignore = !postgresInstalled() && !Deno.env.get("CI");

Deno.test({
  name:
    "the queue on PostgreSQL: 30 runs, three workers, one SIGKILLed mid-run (retried to ok); three beat one",
  ignore,
}, async () => {
  const server = await startPostgres();
  try {
    const three = await killedWorkerScenario({ url: await server.newDatabase(), retries: 1, runs: 30 });
    const one = await oneWorkerMs({ url: await server.newDatabase(), runs: 30 });
    console.log(`30 runs: three workers ${three.elapsedMs} ms (one of them killed), one worker ${one} ms`);
    assert.ok(three.elapsedMs < one, `three workers took ${three.elapsedMs} ms, one took ${one} ms`);
  } finally {
    await server.stop();
  }
});
