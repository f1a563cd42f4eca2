/**
 * Human approvals (`[approvals]`) against real sandboxes and a real run store: a gate call that needs approval
 * waits for a decision made through another connection to the store (as `ironclaw approvals` makes it), is
 * bound to the digest of the exact call, expires at timeout_s, may be remembered for the run, pauses the wall
 * time while it waits, and never stores a secret.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type AgentDir, agentDir, PROBE, probeCalls } from "./_sandbox.ts";
import { SqliteRunStore } from "../supervisor/store/mod.ts";
import type { Approval, DecideApproval } from "../supervisor/store/mod.ts";
import type { RunEvent } from "../protocol/protocol.ts";

/** The manifest lines of a probe that needs approval for `require`. */
function approvals(require: string[], timeoutS = 30): string {
  return `[approvals]\nrequire = ${JSON.stringify(require)}\ntimeout_s = ${timeoutS}\n`;
}

/**
 * Decides the run's pending approvals from a second connection to its store, as the CLI would: each one seen is
 * passed to `decide`, which answers a decision (or null to leave it), after `delayMs`.
 */
function decider(
  agent: AgentDir,
  decide: (a: Approval, n: number) => DecideApproval | null,
  options: { delayMs?: number } = {},
): { stop(): Promise<Approval[]> } {
  let stopped = false;
  const seen: Approval[] = [];
  const loop = (async () => {
    const store = SqliteRunStore.open(agent.config.runtime.state_dir);
    try {
      while (!stopped) {
        for (const a of await store.listApprovals({ state: "pending" })) {
          if (seen.some((s) => s.id === a.id)) continue;
          seen.push(a);
          const d = decide(a, seen.length);
          if (!d) continue;
          if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
          await store.decideApproval(a.id, d);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await store.close();
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return seen;
    },
  };
}

const write = (path: string, data: string): [string, unknown] => ["fs.write", { path, data }];
const ofType = (events: RunEvent[], type: string) => events.filter((e) => e.type === type);

Deno.test("approvals: a write waits for a person's decision", async (t) => {
  await t.step("approved from another store connection: the write happens", async () => {
    await using agent = await agentDir(PROBE, approvals(["fs.write"]));
    const d = decider(agent, () => ({ decision: "approve", by: "ann" }));
    const { replies, ran } = await probeCalls(agent, [write("out/a.txt", "hello")]);
    const seen = await d.stop();
    assert.deepEqual(replies, [{ ok: { bytes: 5 } }]);
    assert.equal(await Deno.readTextFile(join(agent.dir, "out/a.txt")), "hello");
    const [asked] = ofType(ran.events, "approval-requested");
    const [decided] = ofType(ran.events, "approval-decided");
    assert.equal(seen.length, 1);
    assert.equal(asked?.approval, seen[0]!.id);
    assert.match(String(asked?.digest), /^[0-9a-f]{64}$/);
    assert.equal(asked?.digest, seen[0]!.digest);
    assert.deepEqual(asked?.args, { path: "out/a.txt", data: "<5 chars>" });
    assert.deepEqual(
      [decided?.approval, decided?.decision, decided?.by, decided?.digest, decided?.remembered],
      [seen[0]!.id, "approved", "ann", asked?.digest, false],
    );
  });
});
