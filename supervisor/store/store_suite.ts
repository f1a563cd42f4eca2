/**
 * The tests every {@linkcode RunStore} backend passes alike (SQLite in
 * `store_test.ts`, PostgreSQL in `postgres_test.ts`): runs and events, leases
 * and fencing, reaping, the queue, and plugin state, each on a fresh store.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { IronclawError } from "../../manifests/errors.ts";
import { EXIT_CODES } from "../outcome.ts";
import { currentOwner } from "./owner.ts";
import { MAX_STATE_VALUE_BYTES } from "./plugin_state.ts";
import { RunWriter } from "./run_writer.ts";
import type { QueuedRun, RunStore } from "./store.ts";

/** A new, empty place for a store: open it as often as needed (each open is another connection). */
export interface StorePlace {
  /** Opens a store on this place. */
  open(): Promise<RunStore>;
  /** Removes the place. */
  remove(): Promise<void>;
}

/** Options of {@linkcode storeSuite}. */
export interface StoreSuiteOptions {
  /** Makes a new, empty place for each case. */
  fresh(): Promise<StorePlace>;
}

type Case = (open: () => Promise<RunStore>) => Promise<void>;

/**
 * A run as the tests create it: not to be retried.
 *
 * @param id Its id.
 * @param agent Its agent; default "a".
 * @param started Its start time; default now.
 * @returns The run, for `createRun` or `enqueueRun`.
 */
export function newRun(id: string, agent = "a", started = new Date().toISOString()): QueuedRun {
  return { id, agent, manifest: "/m/agent.toml", task: "t", started, retries: 0 };
}

const owner = currentOwner();

async function writer(store: RunStore, id: string, errors: IronclawError[] = []): Promise<RunWriter> {
  const lease = await RunWriter.createRun(store, newRun(id));
  return new RunWriter(store, lease, { onError: (e) => errors.push(e) });
}

/** Opens stores on a fresh place for one case, and closes and removes them after it. */
async function onFresh(options: StoreSuiteOptions, fn: Case): Promise<void> {
  const place = await options.fresh();
  const opened: RunStore[] = [];
  try {
    await fn(async () => {
      const store = await place.open();
      opened.push(store);
      return store;
    });
  } finally {
    for (const s of opened) await s.close();
    await place.remove();
  }
}

const refusesTakenIds: Case = async (open) => {
  const store = await open();
  const w = await writer(store, "r1");
  w.append({ type: "x" });
  await assert.rejects(() => store.createRun(newRun("r1", "other"), { owner, leaseMs: 1000 }), {
    code: "ERR_RUN_EXISTS",
  });
  await assert.rejects(() => store.enqueueRun(newRun("r1", "other")), { code: "ERR_RUN_EXISTS" });
  assert.equal(await w.close("ok", 0), null);
  const { summary, events } = await store.showRun("r1");
  assert.deepEqual([summary.agent, summary.state, summary.exitCode], ["a", "ok", 0]);
  assert.deepEqual(events.map((e) => e.seq), [0]);
  await assert.rejects(() => store.showRun("nope"), { code: "ERR_NOT_FOUND" });
  await store.createRun(newRun("r2"), { owner, leaseMs: 1000 });
  await assert.rejects(() => store.showRun("r"), { code: "ERR_USAGE" });
  assert.equal((await store.showRun("r1")).summary.id, "r1", "an exact id wins over a prefix");
};

const batchesEvents: Case = async (open) => {
  const store = await open();
  const w = await writer(store, "r2");
  w.append({ type: "first" });
  assert.equal((await store.eventsAfter("r2", -1)).length, 0, "written at once, not batched");
  for (let i = 0; i < 999; i++) w.append({ type: "n", i, seq: 12345 });
  await w.close("ok", 0); // no wait for the timer: close writes what is buffered
  const other = await open(); // another connection sees it
  const { events, summary } = await other.showRun("r2");
  assert.equal(summary.state, "ok");
  assert.deepEqual(events.map((e) => e.seq), [...Array(1000).keys()], "a forged seq does not win");
  assert.deepEqual(events[1], { seq: 1, ms: events[1]!.ms, type: "n", i: 0 });
  assert.deepEqual((await other.eventsAfter("r2", 997)).map((e) => e.seq), [998, 999]);
};

const listsAndPrunes: Case = async (open) => {
  const store = await open();
  const old = new Date(Date.now() - 10 * 86400e3).toISOString();
  for (const [id, agent, started] of [["o1", "a", old], ["n1", "a", undefined], ["n2", "b", undefined]]) {
    const lease = await store.createRun(newRun(id!, agent, started), { owner, leaseMs: 60000 });
    if (id !== "n2") await store.closeRun(lease, { state: "ok", exitCode: 0, events: [] });
  }
  assert.deepEqual((await store.listRuns({ agent: "a" })).map((r) => r.id), ["n1", "o1"]);
  assert.deepEqual((await store.listRuns({ state: "running" })).map((r) => r.id), ["n2"]);
  assert.deepEqual((await store.listRuns({ since: new Date(Date.now() - 86400e3) })).length, 2);
  assert.deepEqual((await store.listRuns({ limit: 1 })).length, 1);
  // A page after a run: the runs after it in the list's order; after a run no longer there, none.
  const all = (await store.listRuns()).map((r) => r.id);
  assert.deepEqual((await store.listRuns({ before: all[0]! })).map((r) => r.id), all.slice(1));
  assert.deepEqual((await store.listRuns({ before: all[1]!, limit: 5 })).map((r) => r.id), all.slice(2));
  assert.deepEqual((await store.listRuns({ agent: "a", before: "n1" })).map((r) => r.id), ["o1"]);
  assert.deepEqual(await store.listRuns({ before: "gone" }), []);
  const pruned = await store.prune(new Date(Date.now() - 86400e3));
  assert.deepEqual(pruned.map((r) => r.id), ["o1"]);
  assert.deepEqual((await store.listRuns()).map((r) => r.id).sort(), ["n1", "n2"]);
};

const fencesStaleLeases: Case = async (open) => {
  const store = await open();
  const lease = await store.createRun(newRun("f"), { owner, leaseMs: 60000 });
  const forged = { id: "f", fence: lease.fence + 1 };
  for (
    const write of [
      () => store.appendEvents(forged, [{ seq: 0, type: "x" }]),
      () => store.renewLease(forged, 1000),
      () => store.markEffect(forged),
      () => store.releaseRun(forged),
      () => store.closeRun(forged, { state: "ok", exitCode: 0, events: [] }),
      () => store.appendEvents({ id: "none", fence: 1 }, [{ seq: 0, type: "x" }]),
    ]
  ) {
    await assert.rejects(write, { code: "ERR_LOST" });
  }
  await store.renewLease(lease, -1000); // expired
  assert.deepEqual(await store.reapLost(), ["f"]);
  const other = await open();
  await assert.rejects(() => store.appendEvents(lease, [{ seq: 0, type: "late" }]), { code: "ERR_LOST" });
  await assert.rejects(() => store.closeRun(lease, { state: "ok", exitCode: 0, events: [] }), {
    code: "ERR_LOST",
  });
  const { summary, events } = await other.showRun("f");
  assert.deepEqual([summary.state, summary.exitCode], ["lost", EXIT_CODES.lost]);
  assert.deepEqual(events.map((e) => e.type), ["end"]);
};

const reapsLost: Case = async (open) => {
  const child = new Deno.Command("true").spawn();
  await child.status;
  const store = await open();
  const lease = await store.createRun(newRun("dead"), {
    owner: { ...owner, pid: child.pid },
    leaseMs: 60000,
  });
  await store.createRun(newRun("expired"), { owner, leaseMs: -1000 });
  const live = await writer(store, "live");
  assert.deepEqual((await store.reapLost()).sort(), ["dead", "expired"]);
  assert.deepEqual(await store.reapLost(), [], "reaped once");
  const { events } = await store.showRun("dead");
  assert.equal(events.at(-1)?.type, "end");
  assert.equal((events.at(-1)?.error as { code: string }).code, "ERR_LOST");
  await assert.rejects(() => store.appendEvents(lease, [{ type: "late", seq: 5 }]), { code: "ERR_LOST" });
  assert.equal(await live.close("ok", 0), null, "a live run is not taken");
};

const queues: Case = async (open) => {
  const store = await open();
  await store.enqueueRun(newRun("q1", "a"));
  await store.enqueueRun(newRun("q2", "b"));
  const queued = await store.showRun("q1");
  assert.deepEqual([queued.summary.state, queued.summary.attempts], ["queued", 0]);
  assert.deepEqual(queued.events, [{ seq: 0, ms: 0, type: "state", state: "queued" }]);
  assert.equal(await store.claimRun({ owner, leaseMs: 60000, agents: [] }), null);
  assert.equal(await store.claimRun({ owner, leaseMs: 60000, agents: ["c"] }), null);
  const b = await store.claimRun({ owner, leaseMs: 60000, agents: ["b", "c"] });
  assert.deepEqual([b?.summary.id, b?.summary.state, b?.attempt, b?.firstSeq], ["q2", "running", 1, 1]);
  assert.ok(b!.queuedMs >= 0);
  const a = await store.claimRun({ owner, leaseMs: 60000 });
  assert.equal(a?.summary.id, "q1");
  assert.equal(await store.claimRun({ owner, leaseMs: 60000 }), null, "nothing left");
  await store.releaseRun(a!.lease);
  await assert.rejects(() => store.appendEvents(a!.lease, [{ seq: 1, type: "x" }]), { code: "ERR_LOST" });
  assert.deepEqual([(await store.showRun("q1")).summary.state], ["queued"]);
  const again = await store.claimRun({ owner, leaseMs: 60000 });
  assert.deepEqual([again?.summary.id, again?.attempt], ["q1", 1], "a release does not count an attempt");
  assert.notEqual(again!.lease.fence, a!.lease.fence);
  await store.markEffect(again!.lease);
  const w = new RunWriter(store, again!.lease, { onError: (e) => assert.fail(e), firstSeq: again!.firstSeq });
  w.append({ type: "run" });
  assert.equal(await w.close("ok", 0), null);
  const done = await store.showRun("q1");
  assert.deepEqual([done.summary.state, done.events.map((e) => e.seq)], ["ok", [0, 1]]);
};

const cancelsQueued: Case = async (open) => {
  const store = await open();
  await store.enqueueRun(newRun("x"));
  await store.enqueueRun(newRun("y"));
  assert.equal(await store.cancelQueued("x"), true);
  const x = await store.showRun("x");
  assert.deepEqual([x.summary.state, x.summary.exitCode, x.summary.attempts], ["interrupted", 130, 0]);
  assert.ok(x.summary.ended !== null);
  assert.deepEqual(x.events.map((e) => [e.seq, e.type]), [[0, "state"], [1, "end"]]);
  assert.deepEqual(
    [x.events[1]?.state, x.events[1]?.exitCode, (x.events[1]?.error as { code: string }).code],
    ["interrupted", EXIT_CODES.interrupted, "ERR_INTERRUPTED"],
  );
  assert.equal(await store.cancelQueued("x"), false, "an ended run is not cancelled twice");
  assert.equal(await store.cancelQueued("nope"), false);
  const y = await store.claimRun({ owner, leaseMs: 60000 });
  assert.equal(y?.summary.id, "y", "a cancelled run is never claimed");
  assert.equal(await store.cancelQueued("y"), false, "a running run is not changed");
  assert.equal((await store.showRun("y")).summary.state, "running");
  // Claims and cancels on two connections: each run is taken or cancelled, never both.
  const other = await open();
  const ids = Array.from({ length: 12 }, (_, i) => `r${String(i).padStart(2, "0")}`);
  for (const id of ids) await store.enqueueRun(newRun(id));
  const [claimed, cancelled] = await Promise.all([
    (async () => {
      const mine: string[] = [];
      for (
        let c = await other.claimRun({ owner, leaseMs: 60000 });
        c;
        c = await other.claimRun({ owner, leaseMs: 60000 })
      ) {
        mine.push(c.summary.id);
      }
      return mine;
    })(),
    (async () => {
      const mine: string[] = [];
      for (const id of [...ids].reverse()) if (await store.cancelQueued(id)) mine.push(id);
      return mine;
    })(),
  ]);
  assert.deepEqual([...claimed, ...cancelled].sort(), ids);
  for (const id of cancelled) assert.equal((await store.showRun(id)).summary.state, "interrupted");
  for (const id of claimed) assert.equal((await store.showRun(id)).summary.state, "running");
};

const claimsOnce: Case = async (open) => {
  const first = await open();
  const ids = Array.from({ length: 20 }, (_, i) => `c${String(i).padStart(2, "0")}`);
  for (const id of ids) await first.enqueueRun(newRun(id));
  const stores = [first, ...await Promise.all([open(), open(), open()])];
  const taken = await Promise.all(stores.map(async (store) => {
    const mine: string[] = [];
    for (;;) {
      const claimed = await store.claimRun({ owner, leaseMs: 60000 });
      if (!claimed) return mine;
      mine.push(claimed.summary.id);
      assert.equal(claimed.attempt, 1);
    }
  }));
  assert.deepEqual(taken.flat().sort(), ids, "every run claimed exactly once");
  assert.deepEqual((await first.listRuns({ state: "queued" })).length, 0);
};

const requeues: Case = async (open) => {
  const store = await open();
  await store.enqueueRun({ ...newRun("rq"), retries: 1 });
  const one = await store.claimRun({ owner, leaseMs: -1000 });
  assert.equal(one?.attempt, 1);
  assert.deepEqual(await store.reapLost(), ["rq"]);
  const back = await store.showRun("rq");
  assert.equal(back.summary.state, "queued");
  assert.deepEqual(back.events.map((e) => [e.seq, e.type]), [[0, "state"], [1, "requeued"]]);
  assert.equal(back.events[1]?.attempt, 1);
  await assert.rejects(() => store.markEffect(one!.lease), { code: "ERR_LOST" });
  const two = await store.claimRun({ owner, leaseMs: -1000 });
  assert.deepEqual([two?.summary.id, two?.attempt, two?.firstSeq], ["rq", 2, 2]);
  assert.equal(two?.summary.attempts, 2);
  assert.deepEqual(await store.reapLost(), ["rq"]);
  const spent = await store.showRun("rq");
  assert.deepEqual([spent.summary.state, spent.events.at(-1)?.type], ["lost", "end"], "retries used up");
  await store.enqueueRun({ ...newRun("fx"), retries: 1 });
  const fx = await store.claimRun({ owner, leaseMs: 60000 });
  await store.markEffect(fx!.lease);
  await store.renewLease(fx!.lease, -1000);
  assert.deepEqual(await store.reapLost(), ["fx"]);
  assert.equal(
    (await store.showRun("fx")).summary.state,
    "lost",
    "a run that made a side effect is not retried",
  );
};

const wakesWorkers: Case = async (open) => {
  const [idle, submitter] = [await open(), await open()];
  await idle.waitForWork(1); // the first wait sets up what it needs (PostgreSQL: its LISTEN)
  const aborted = AbortSignal.abort();
  let t0 = performance.now();
  await idle.waitForWork(10_000, aborted);
  assert.ok(performance.now() - t0 < 5_000, "an aborted wait returns at once");
  t0 = performance.now();
  const waiting = idle.waitForWork(10_000);
  const enqueued = new Promise((r) => setTimeout(r, 50)).then(() => submitter.enqueueRun(newRun("w1")));
  await Promise.all([waiting, enqueued]);
  assert.ok(performance.now() - t0 < 5_000, "woken by the enqueue, well before the timeout");
  assert.equal((await idle.claimRun({ owner, leaseMs: 60000 }))?.summary.id, "w1");
};

const A = { plugin: "kv", agent: "a" };

const stateOps: Case = async (open) => {
  const store = await open();
  assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: false, value: null });
  assert.deepEqual(await store.pluginState(A, { op: "set", key: "x", value: { n: 1 } }), {});
  assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: true, value: { n: 1 } });
  await store.pluginState(A, { op: "set", key: "x.y", value: null });
  await store.pluginState(A, { op: "set", key: "z", value: [1] });
  await store.pluginState(A, { op: "set", key: "Z", value: 1 });
  await store.pluginState(A, { op: "delete", key: "Z" });
  assert.deepEqual(await store.pluginState(A, { op: "list" }), { keys: ["x", "x.y", "z"] });
  assert.deepEqual(await store.pluginState(A, { op: "list", prefix: "x" }), { keys: ["x", "x.y"] });
  assert.deepEqual(await store.pluginState(A, { op: "list", prefix: "%" }), { keys: [] });
  const cas = (key: string, expected: unknown, value: unknown) =>
    store.pluginState(A, { op: "cas", key, expected, value });
  // cas: on the JSON value; undefined is "absent"
  assert.deepEqual(await cas("x", { n: 2 }, 3), { done: false });
  assert.deepEqual(await cas("x", { n: 1 }, 3), { done: true });
  assert.deepEqual(await cas("x", undefined, 4), { done: false });
  assert.deepEqual(await cas("new", undefined, 4), { done: true });
  assert.deepEqual(await cas("x.y", undefined, 4), { done: false }, "null is not absent");
  assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: true, value: 3 });
  assert.deepEqual(await store.pluginState(A, { op: "delete", key: "x" }), { done: true });
  assert.deepEqual(await store.pluginState(A, { op: "delete", key: "x" }), { done: false });
  assert.deepEqual(await store.pluginState(A, { op: "get", key: "x" }), { found: false, value: null });
  await store.close();
  const again = await open(); // kept across openings
  assert.deepEqual(await again.pluginState(A, { op: "list" }), { keys: ["new", "x.y", "z"] });
};

const stateScopes: Case = async (open) => {
  const store = await open();
  await store.pluginState(A, { op: "set", key: "k", value: "a's" });
  await store.pluginState({ plugin: "other", agent: "a" }, { op: "set", key: "k", value: "other's" });
  await store.pluginState({ plugin: "kv", agent: "b" }, { op: "set", key: "k", value: "b's" });
  assert.deepEqual(await store.pluginState(A, { op: "get", key: "k" }), { found: true, value: "a's" });
  assert.deepEqual(await store.pluginState({ plugin: "kv", agent: "b" }, { op: "get", key: "k" }), {
    found: true,
    value: "b's",
  });
  await store.pluginState(A, { op: "delete", key: "k" });
  assert.deepEqual(await store.pluginState({ plugin: "other", agent: "a" }, { op: "list" }), { keys: ["k"] });
  assert.deepEqual(await store.pluginState({ plugin: "kv", agent: "c" }, { op: "list" }), { keys: [] });
};

const stateCaps: Case = async (open) => {
  const store = await open();
  const set = (key: string, value: unknown, maxValueBytes?: number) =>
    store.pluginState(
      A,
      maxValueBytes ? { op: "set", key, value, maxValueBytes } : { op: "set", key, value },
    );
  await set("k".repeat(256), 1);
  await assert.rejects(set("k".repeat(257), 1), { code: "ERR_INVALID_ARGS" });
  await assert.rejects(store.pluginState(A, { op: "get", key: "" }), { code: "ERR_INVALID_ARGS" });
  await assert.rejects(set("v", "x".repeat(100), 50), { code: "ERR_LIMIT", hint: /max_value_bytes/ });
  await assert.rejects(set("v", "x".repeat(MAX_STATE_VALUE_BYTES), 1e9), { code: "ERR_LIMIT" });
  await assert.rejects(
    store.pluginState(A, { op: "cas", key: "v", expected: undefined, value: "xx", maxValueBytes: 3 }),
    { code: "ERR_LIMIT" },
  );
  await assert.rejects(set("v", undefined), { code: "ERR_INVALID_ARGS" });
  await assert.rejects(store.pluginState(A, { op: "nope" } as never), { code: "ERR_INVALID_ARGS" });
  assert.deepEqual(await store.pluginState(A, { op: "list" }), { keys: ["k".repeat(256)] });
};

const stateRaces: Case = async (open) => {
  const stores = [await open(), await open()];
  await Promise.all(stores.map((store, n) =>
    Promise.all(
      Array.from({ length: 100 }, (_, i) => store.pluginState(A, { op: "set", key: `k${n}.${i}`, value: i })),
    )
  ));
  assert.equal(((await stores[0]!.pluginState(A, { op: "list" })) as { keys: string[] }).keys.length, 200);
  for (let round = 0; round < 10; round++) {
    const key = `race${round}`;
    const answers = await Promise.all(
      stores.map((s, n) => s.pluginState(A, { op: "cas", key, expected: undefined, value: n })),
    );
    assert.equal(answers.filter((a) => (a as { done: boolean }).done).length, 1, "exactly one cas wins");
  }
  const bump = async (store: RunStore) => {
    for (let i = 0; i < 25; i++) {
      for (;;) {
        const now = (await store.pluginState(A, { op: "get", key: "n" })) as { value: number | null };
        const op = {
          op: "cas",
          key: "n",
          expected: now.value ?? undefined,
          value: (now.value ?? 0) + 1,
        } as const;
        if (((await store.pluginState(A, op)) as { done: boolean }).done) break;
      }
    }
  };
  await Promise.all(stores.map(bump));
  assert.deepEqual(await stores[1]!.pluginState(A, { op: "get", key: "n" }), { found: true, value: 50 });
};

const stateKeyCap: Case = async (open) => {
  const stores = [await open(), await open()];
  const set = (store: RunStore, key: string) =>
    store.pluginState(A, { op: "set", key, value: 1, maxKeys: 25 }).then(() => "ok", (e) => e.code);
  // 2 x 20 new keys at once against a cap of 25: the count and the insert are one transaction.
  const answers = (await Promise.all(
    stores.map((store, n) => Promise.all(Array.from({ length: 20 }, (_, i) => set(store, `k${n}.${i}`)))),
  )).flat();
  assert.equal(answers.filter((a) => a === "ok").length, 25);
  assert.ok(answers.every((a) => a === "ok" || a === "ERR_LIMIT"), answers.join());
  assert.equal(((await stores[0]!.pluginState(A, { op: "list" })) as { keys: string[] }).keys.length, 25);
  // A full scope still takes new values for its keys, and a new key once one is deleted.
  const [kept] = ((await stores[1]!.pluginState(A, { op: "list" })) as { keys: string[] }).keys;
  assert.equal(await set(stores[1]!, kept!), "ok");
  await assert.rejects(
    stores[1]!.pluginState(A, { op: "cas", key: "new", expected: undefined, value: 1, maxKeys: 25 }),
    { code: "ERR_LIMIT", hint: /max_keys/ },
  );
  await stores[0]!.pluginState(A, { op: "delete", key: kept! });
  assert.equal(await set(stores[1]!, "new"), "ok");
};

const approvals: Case = async (open) => {
  const store = await open();
  const lease = await store.createRun(newRun("ra", "agent-a"), { owner, leaseMs: 60000 });
  const asked = await store.requestApproval(lease, {
    op: "fs.write",
    args: { path: "out/a.txt" },
    digest: "d1",
  });
  assert.match(asked.id, /^ap_[0-9a-f]{16}$/);
  assert.deepEqual(
    [
      asked.runId,
      asked.agent,
      asked.op,
      asked.args,
      asked.digest,
      asked.state,
      asked.decided,
      asked.remember,
    ],
    ["ra", "agent-a", "fs.write", { path: "out/a.txt" }, "d1", "pending", null, null],
  );
  const other = await open();
  assert.deepEqual((await other.listApprovals({ state: "pending" })).map((a) => a.id), [asked.id]);
  const decided = await other.decideApproval(asked.id, { decision: "approve", by: "ann", remember: "run" });
  assert.deepEqual([decided.state, decided.decidedBy, decided.remember], ["approved", "ann", "run"]);
  assert.equal((await store.getApproval(asked.id)).state, "approved", "the asker sees the decision");
  await assert.rejects(() => other.decideApproval(asked.id, { decision: "deny", by: "bob" }), {
    code: "ERR_ALREADY_DECIDED",
  });
  await assert.rejects(() => store.decideApproval("ap_nope", { decision: "deny", by: "x" }), {
    code: "ERR_NOT_FOUND",
  });
  await assert.rejects(() => store.getApproval("ap_nope"), { code: "ERR_NOT_FOUND" });
  await assert.rejects(() => store.decideApproval(asked.id, { decision: "deny", by: "x", remember: "run" }), {
    code: "ERR_USAGE",
  });
  const second = await store.requestApproval(lease, { op: "proc.run", args: { cmd: "ls" }, digest: "d2" });
  assert.equal((await store.expireApproval(second.id)).state, "expired");
  assert.equal((await store.expireApproval(asked.id)).state, "approved", "expiry leaves a decision alone");
  await assert.rejects(() => store.decideApproval(second.id, { decision: "approve", by: "x" }), {
    code: "ERR_ALREADY_DECIDED",
  });
  assert.deepEqual((await store.listApprovals({ runId: "ra" })).map((a) => a.state), ["approved", "expired"]);
  assert.deepEqual(await store.listApprovals({ runId: "nope" }), []);
  await store.closeRun(lease, { state: "ok", exitCode: 0, events: [] });
  await assert.rejects(
    () => store.requestApproval(lease, { op: "fs.write", args: {}, digest: "d3" }),
    { code: "ERR_LOST" },
    "a run no longer held cannot ask",
  );
};

const approvalRace: Case = async (open) => {
  const store = await open();
  const lease = await store.createRun(newRun("rr"), { owner, leaseMs: 60000 });
  const deciders = [await open(), await open(), await open(), await open()];
  for (let round = 0; round < 5; round++) {
    const a = await store.requestApproval(lease, { op: "fs.write", args: { round }, digest: `d${round}` });
    const results = await Promise.allSettled(
      deciders.map((d, i) => d.decideApproval(a.id, { decision: i % 2 ? "deny" : "approve", by: `p${i}` })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assert.equal(won.length, 1, "exactly one decider wins");
    for (const r of results) {
      if (r.status === "rejected") assert.equal((r.reason as IronclawError).code, "ERR_ALREADY_DECIDED");
    }
    const final = await store.getApproval(a.id);
    assert.equal(final.decidedBy, (won[0] as PromiseFulfilledResult<{ decidedBy: string }>).value.decidedBy);
  }
};

/** The cases, by name. */
const CASES: Record<string, Case> = {
  "refuses a second run with the same id, keeps the first intact, and finds runs by prefix": refusesTakenIds,
  "batches events, keeps their order, and makes the end durable on close": batchesEvents,
  "lists with filters, newest first, and prunes old ended runs": listsAndPrunes,
  "refuses every write of a stale lease with ERR_LOST": fencesStaleLeases,
  "marks lost a run whose lease expired or whose owner process is gone, with an end event": reapsLost,
  "queues, claims (by agent), releases and marks effects": queues,
  "cancels a queued run at once, and never a running or ended one, nor one a claim takes": cancelsQueued,
  "four claimers on four connections take each of 20 runs exactly once": claimsOnce,
  "queues a lost run again while retries allow and it made no side effect": requeues,
  "waitForWork wakes on an enqueue from another connection, or on abort": wakesWorkers,
  "plugin state: get, set, delete, list, cas": stateOps,
  "plugin state is scoped by plugin and by agent": stateScopes,
  "plugin state caps keys and values with typed errors": stateCaps,
  "plugin state: concurrent writers on two connections lose nothing, and one cas wins": stateRaces,
  "plugin state: max_keys holds against concurrent writers of new keys": stateKeyCap,
  "approvals: request (fenced), list, decide once, expire, typed errors": approvals,
  "approvals: four deciders racing on one approval, exactly one wins": approvalRace,
};

/**
 * Runs the backend-independent store tests, each as a step on a fresh place.
 *
 * @param t The test's context.
 * @param options How to make a fresh place for a store.
 */
export async function storeSuite(t: Deno.TestContext, options: StoreSuiteOptions): Promise<void> {
  for (const [name, fn] of Object.entries(CASES)) {
    await t.step(name, () => onFresh(options, fn));
  }
}
