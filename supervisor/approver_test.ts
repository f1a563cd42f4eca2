import assert from "node:assert/strict";
import type { RunEvent } from "../protocol/protocol.ts";
import {
  approvalDigest,
  Approver,
  type ApproverOptions,
  canonicalJson,
  redactApprovalArgs,
} from "./approver.ts";
import { currentOwner } from "./store/owner.ts";
import { SqliteRunStore } from "./store/sqlite.ts";
import { WallClock } from "./wall_clock.ts";

async function fixture(options: Partial<ApproverOptions> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-approver-" });
  const store = SqliteRunStore.open(dir);
  const lease = await store.createRun(
    { id: "r1", agent: "a", manifest: "/m/agent.toml", task: "t", started: new Date().toISOString() },
    { owner: currentOwner(), leaseMs: 60_000 },
  );
  const events: RunEvent[] = [];
  const pauses: string[] = [];
  const abort = new AbortController();
  const approver = new Approver({
    store,
    lease,
    timeoutS: 5,
    secrets: ["hunter2"],
    emit: (e) => events.push(e),
    wall: { pause: () => pauses.push("pause"), resume: () => pauses.push("resume") },
    signal: abort.signal,
    pollMs: 20,
    ...options,
  });
  return {
    store,
    approver,
    events,
    pauses,
    abort,
    async [Symbol.asyncDispose]() {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Decides the first pending approval of the store as soon as one appears. */
async function decideFirst(store: SqliteRunStore, decision: "approve" | "deny", remember?: "run") {
  for (;;) {
    const [a] = await store.listApprovals({ state: "pending" });
    if (a) return await store.decideApproval(a.id, { decision, by: "t", ...(remember ? { remember } : {}) });
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("canonicalJson() and approvalDigest() bind the exact call, whatever the key order", async () => {
  assert.equal(
    canonicalJson({ z: [1, { b: null, a: "x" }], a: true }),
    '{"a":true,"z":[1,{"a":"x","b":null}]}',
  );
  const a = await approvalDigest("fs.write", { path: "a", data: "1" });
  assert.equal(a, await approvalDigest("fs.write", { data: "1", path: "a" }));
  assert.notEqual(a, await approvalDigest("fs.write", { path: "a", data: "2" }));
  assert.notEqual(a, await approvalDigest("fs.read", { path: "a", data: "1" }));
});

Deno.test("redactApprovalArgs() removes secret values everywhere, and contents", () => {
  const shown = redactApprovalArgs(
    { url: "https://h/?t=hunter2", headers: { "x-k": "Bearer hunter2" }, body: "hunter2", list: ["hunter2"] },
    ["hunter2"],
  );
  assert.ok(!JSON.stringify(shown).includes("hunter2"));
  assert.deepEqual(shown.headers, { "x-k": "Bearer [redacted]" });
  assert.equal(shown.body, "<7 chars>");
});

Deno.test("Approver", async (t) => {
  await t.step("approved: resolves, pauses and resumes the wall time, records both events", async () => {
    await using f = await fixture();
    const [result] = await Promise.all([
      f.approver.request({ op: "fs.write", args: { path: "a", data: "hunter2" } }),
      decideFirst(f.store, "approve"),
    ]);
    assert.equal(result.approved, true);
    assert.deepEqual(f.pauses, ["pause", "resume"]);
    assert.deepEqual(f.events.map((e) => e.type), ["approval-requested", "approval-decided"]);
    assert.ok(!JSON.stringify(f.events).includes("hunter2"));
  });
  await t.step("denied: ERR_APPROVAL_DENIED with a hint", async () => {
    await using f = await fixture();
    const [result] = await Promise.allSettled([
      f.approver.request({ op: "proc.run", args: { cmd: "ls" } }),
      decideFirst(f.store, "deny"),
    ]);
    assert.equal(result.status, "rejected");
    const e = (result as PromiseRejectedResult).reason as { code: string; hint: string };
    assert.equal(e.code, "ERR_APPROVAL_DENIED");
    assert.ok(e.hint.length > 0);
  });
  await t.step("remember = run: the same digest is not asked again", async () => {
    await using f = await fixture();
    await Promise.all([
      f.approver.request({ op: "fs.write", args: { path: "a" } }),
      decideFirst(f.store, "approve", "run"),
    ]);
    await f.approver.request({ op: "fs.write", args: { path: "a" } });
    assert.equal((await f.store.listApprovals()).length, 1);
    assert.equal(f.events.at(-1)?.remembered, true);
  });
  await t.step("the run ending while it waits expires the approval", async () => {
    await using f = await fixture();
    const asked = f.approver.request({ op: "fs.write", args: { path: "a" } });
    while ((await f.store.listApprovals()).length === 0) await new Promise((r) => setTimeout(r, 10));
    f.abort.abort();
    await assert.rejects(asked, { code: "ERR_APPROVAL_DENIED" });
    assert.deepEqual((await f.store.listApprovals()).map((a) => a.state), ["expired"]);
  });
  await t.step("the prompt and the store race: the prompt's decision wins when first", async () => {
    await using f = await fixture({ prompt: () => Promise.resolve({ decision: "deny", by: "tty" }) });
    await assert.rejects(f.approver.request({ op: "fs.write", args: { path: "a" } }), {
      code: "ERR_APPROVAL_DENIED",
    });
    assert.equal((await f.store.listApprovals())[0]?.decidedBy, "tty");
  });
  await t.step("the prompt is told to stop when the store decided first", async () => {
    let stopped = false;
    await using f = await fixture({
      prompt: (_a, signal) =>
        new Promise((resolve) => signal.addEventListener("abort", () => (stopped = true, resolve(null)))),
    });
    await Promise.all([
      f.approver.request({ op: "fs.write", args: { path: "a" } }),
      decideFirst(f.store, "approve"),
    ]);
    assert.equal(stopped, true);
  });
});

Deno.test("WallClock: a pause moves the deadline by its length, and nested pauses count once", async () => {
  const clock = new WallClock();
  let ended = false;
  clock.start(60, () => ended = true);
  const before = clock.deadline!;
  clock.pause();
  clock.pause();
  await new Promise((r) => setTimeout(r, 120));
  clock.resume();
  assert.equal(ended, false, "no end while paused");
  clock.resume();
  assert.ok(clock.deadline! - before >= 100, "the deadline moved by the pause");
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(ended, true);
  clock.stop();
});
