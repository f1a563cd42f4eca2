/**
 * Human approvals (`[approvals]`) against real sandboxes and a real run store: a gate call that needs approval
 * waits for a decision made through another connection to the store (as `ironclaw approvals` makes it), is
 * bound to the digest of the exact call, expires at timeout_s, may be remembered for the run, pauses the wall
 * time while it waits, and never stores a secret.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AgentDir,
  agentDir,
  countingServer,
  pluginAgent,
  PROBE,
  PROBE_C,
  probeCalls,
  recordText,
  run,
  withConfig,
} from "./_sandbox.ts";
import { SqliteRunStore } from "../supervisor/store/mod.ts";
import type { Approval, DecideApproval } from "../supervisor/store/mod.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import { ROOT, runCli, TEST_STATE_HOME } from "./_cli.ts";
import { loopAgent } from "./_loops.ts";
import { approvalPromptText, parseApprovalAnswer, terminalPrompt } from "../cli/_approval_prompt.ts";

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

  await t.step("denied: the guest sees ERR_APPROVAL_DENIED and nothing is written", async () => {
    await using agent = await agentDir(PROBE, approvals(["fs.write"]));
    const d = decider(agent, () => ({ decision: "deny", by: "bob" }));
    const { replies, ran } = await probeCalls(agent, [write("out/a.txt", "nope")]);
    await d.stop();
    assert.equal(replies[0]?.error?.code, "ERR_APPROVAL_DENIED");
    assert.match(replies[0]!.error!.message, /denied "fs.write".*by "bob"/);
    assert.ok(replies[0]!.error!.hint.length > 0);
    await assert.rejects(Deno.stat(join(agent.dir, "out/a.txt")), Deno.errors.NotFound);
    const [decided] = ofType(ran.events, "approval-decided");
    assert.deepEqual([decided?.decision, decided?.by], ["denied", "bob"]);
    const gate = ran.events.find((e) => e.type === "gate" && e.op === "fs.write");
    assert.deepEqual([gate?.decision, gate?.code, gate?.rule], ["deny", "ERR_APPROVAL_DENIED", "approval"]);
  });
  await t.step("no decision within timeout_s: denied as expired, nothing written", async () => {
    await using agent = await agentDir(PROBE, approvals(["fs.write"], 1));
    const { replies, ran } = await probeCalls(agent, [write("out/a.txt", "late")]);
    assert.equal(replies[0]?.error?.code, "ERR_APPROVAL_DENIED");
    assert.match(replies[0]!.error!.message, /within 1 s/);
    await assert.rejects(Deno.stat(join(agent.dir, "out/a.txt")), Deno.errors.NotFound);
    const [decided] = ofType(ran.events, "approval-decided");
    assert.deepEqual([decided?.decision, decided?.by], ["expired", "timeout"]);
    const store = SqliteRunStore.open(agent.config.runtime.state_dir);
    try {
      assert.deepEqual((await store.listApprovals({ runId: ran.outcome.id })).map((a) => a.state), [
        "expired",
      ]);
    } finally {
      await store.close();
    }
  });
  await t.step("a call outside the grants is refused without asking anyone", async () => {
    await using agent = await agentDir(PROBE, approvals(["fs.write"]));
    const { replies, ran } = await probeCalls(agent, [write("notes/a.txt", "x"), ["fs.read", {
      path: "notes/a.txt",
    }]]);
    assert.equal(replies[0]?.error?.code, "ERR_CAPABILITY_DENIED");
    assert.deepEqual(replies[1], { ok: { data: "note a\n" } });
    assert.deepEqual(ofType(ran.events, "approval-requested"), []);
  });
  await t.step('remember = "run": an identical write is not asked again, a different one is', async () => {
    await using agent = await agentDir(PROBE, approvals(["fs.write"]));
    const d = decider(
      agent,
      (_a, n) => ({
        decision: n === 1 ? "approve" : "deny",
        by: "ann",
        ...(n === 1 ? { remember: "run" as const } : {}),
      }),
    );
    const { replies, ran } = await probeCalls(agent, [
      write("out/a.txt", "same"),
      write("out/a.txt", "same"),
      write("out/a.txt", "other"),
    ]);
    const seen = await d.stop();
    assert.deepEqual(replies.slice(0, 2), [{ ok: { bytes: 4 } }, { ok: { bytes: 4 } }]);
    assert.equal(replies[2]?.error?.code, "ERR_APPROVAL_DENIED", "another digest is asked, and denied");
    assert.equal(seen.length, 2, "two approvals were asked for, not three");
    assert.notEqual(seen[0]!.digest, seen[1]!.digest);
    assert.equal(await Deno.readTextFile(join(agent.dir, "out/a.txt")), "same");
    const decided = ofType(ran.events, "approval-decided");
    assert.deepEqual(decided.map((e) => [e.decision, e.remembered]), [
      ["approved", false],
      ["approved", true],
      ["denied", false],
    ]);
  });
  await t.step(
    "the wall time pauses while waiting: timeout_s = 3 and a decision after ~4 s end ok",
    async () => {
      await using agent = await agentDir(PROBE, approvals(["fs.write"]) + "[limits]\ntimeout_s = 3\n");
      const d = decider(agent, () => ({ decision: "approve", by: "ann" }), { delayMs: 4000 });
      const { replies, ran } = await probeCalls(agent, [write("out/a.txt", "slow")]);
      await d.stop();
      assert.equal(ran.outcome.state, "ok");
      assert.deepEqual(replies, [{ ok: { bytes: 4 } }]);
      const [decided] = ofType(ran.events, "approval-decided");
      assert.ok(Number(decided?.waitedMs) >= 3500, `waited ${decided?.waitedMs} ms`);
    },
  );
});

Deno.test("approvals in worker mode: the relay's own wall-time timer pauses too", async () => {
  await using agent = await agentDir(PROBE, approvals(["fs.write"]) + "[limits]\ntimeout_s = 3\n");
  const d = decider(agent, () => ({ decision: "approve", by: "ann" }), { delayMs: 5500 });
  const { replies, ran } = await probeCalls(agent, [write("out/a.txt", "slow")], { sandboxMode: "worker" });
  await d.stop();
  assert.equal(ran.outcome.state, "ok");
  assert.deepEqual(replies, [{ ok: { bytes: 4 } }]);
  assert.ok(!ran.events.some((e) => e.type === "sandbox-error"), "the sandbox's own timer did not fire");
});

Deno.test("approvals: a secret value never reaches the stored or recorded arguments", async () => {
  const VALUE = `s3cr3t-${crypto.randomUUID()}`;
  await using server = countingServer();
  await using agent = await agentDir(
    PROBE,
    `[capabilities.net]\nallow = ["127.0.0.1:${server.port}"]\n[capabilities.secrets]\nuse = ["svc"]\n` +
      approvals(["http.fetch:POST"]),
  );
  await withConfig(
    agent,
    `[runtime]\nstate_dir = "state"\n[secrets.svc]\nenv = "IRONCLAW_TEST_APPROVAL_SECRET"\nhosts = ["127.0.0.1:${server.port}"]\n`,
  );
  Deno.env.set("IRONCLAW_TEST_APPROVAL_SECRET", VALUE);
  try {
    const d = decider(agent, () => ({ decision: "approve", by: "ann" }));
    const { replies, ran } = await probeCalls(agent, [
      ["http.fetch", { url: `${server.origin}/get?q=${VALUE}` }],
      ["http.fetch", {
        url: `${server.origin}/post?token=${VALUE}`,
        method: "POST",
        headers: { "x-copy": VALUE },
        body: VALUE,
      }],
    ]);
    const seen = await d.stop();
    assert.ok(replies.every((r) => r.ok), JSON.stringify(replies));
    assert.deepEqual(server.hits, ["GET /get", "POST /post"]);
    assert.equal(seen.length, 1, "only the POST needs approval");
    assert.equal(seen[0]!.args.url, `${server.origin}/post?token=[redacted]`);
    const store = SqliteRunStore.open(agent.config.runtime.state_dir);
    try {
      assert.ok(!JSON.stringify(await store.listApprovals()).includes(VALUE), "the secret is in the store");
    } finally {
      await store.close();
    }
    // The task itself holds the value here (the test gave it to the guest): the approval events must not.
    const events = ran.events.filter((e) => e.type.startsWith("approval-"));
    assert.equal(events.length, 2);
    assert.ok(!JSON.stringify(events).includes(VALUE), "the secret is in the approval events");
    assert.ok((await recordText(agent, ran.outcome.id)).includes("token=[redacted]"));
  } finally {
    Deno.env.delete("IRONCLAW_TEST_APPROVAL_SECRET");
  }
});

Deno.test("ironclaw approvals list, approve and deny decide the calls of a running ironclaw run", async () => {
  await using agent = await agentDir(PROBE, approvals(["fs.write"]));
  await withConfig(agent, `[runtime]\nstate_dir = "state"\n`);
  const config = join(agent.dir, "ironclaw.toml");
  const task = JSON.stringify({ calls: [write("out/a.txt", "first"), write("out/b.txt", "second")] });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      join(ROOT, "mod.ts"),
      "run",
      agent.manifest,
      "--config",
      config,
      "--task",
      task,
    ],
    cwd: agent.dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_STATE_HOME: TEST_STATE_HOME },
  }).spawn();
  const pending = async (): Promise<Approval> => {
    for (let i = 0; i < 240; i++) {
      const listed = await runCli(["approvals", "list", "--state", "pending", "--json", "--config", config]);
      assert.equal(listed.code, 0, listed.stderr);
      const [first] = JSON.parse(listed.stdout) as Approval[];
      if (first) return first;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error("no approval was asked for");
  };
  try {
    const first = await pending();
    assert.deepEqual([first.op, first.args.path, first.agent], ["fs.write", "out/a.txt", "probe"]);
    const text = await runCli(["approvals", "list", "--config", config]);
    assert.match(text.stdout, new RegExp(`${first.id}\\s+pending\\s+probe\\s+fs\\.write`));
    const approved = await runCli(["approvals", "approve", first.id, "--config", config], {
      env: { USER: "ann" },
    });
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`${first.id} approved \\(fs\\.write, by ann\\)`));
    const again = await runCli(["approvals", "deny", first.id, "--config", config]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ERR_ALREADY_DECIDED/);
    const second = await pending();
    assert.equal(second.args.path, "out/b.txt");
    const denied = await runCli(["approvals", "deny", second.id, "--json", "--config", config]);
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal((JSON.parse(denied.stdout) as Approval).state, "denied");
    const out = await child.output();
    const replies = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(replies[0], { ok: { bytes: 5 } });
    assert.equal(replies[1].error.code, "ERR_APPROVAL_DENIED");
    assert.equal(await Deno.readTextFile(join(agent.dir, "out/a.txt")), "first");
    await assert.rejects(Deno.stat(join(agent.dir, "out/b.txt")), Deno.errors.NotFound);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
  }
  const unknown = await runCli(["approvals", "approve", "ap_nope", "--config", config]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /ERR_NOT_FOUND/);
  const usage = await runCli(["approvals", "deny", "x", "--remember", "run", "--config", config]);
  assert.equal(usage.code, 2);
});

Deno.test("the approval prompt reads approve, deny and remember, and stops once decided elsewhere", async () => {
  const approval: Approval = {
    id: "ap_0123456789abcdef",
    runId: "r",
    agent: "probe",
    op: "fs.write",
    args: { path: "out/a.txt", data: "<2 chars>" },
    digest: "ab".repeat(32),
    state: "pending",
    requested: new Date().toISOString(),
    decided: null,
    decidedBy: null,
    remember: null,
  };
  assert.deepEqual(parseApprovalAnswer(" A ", "ann"), { decision: "approve", by: "ann" });
  assert.deepEqual(parseApprovalAnswer("r", "ann"), { decision: "approve", by: "ann", remember: "run" });
  assert.deepEqual(parseApprovalAnswer("deny", "ann"), { decision: "deny", by: "ann" });
  assert.equal(parseApprovalAnswer("maybe", "ann"), null);
  const text = approvalPromptText(approval);
  for (const part of [approval.id, "fs.write", "out/a.txt", approval.digest]) assert.ok(text.includes(part));
  let written = "";
  let push: (line: string) => void = () => {};
  const lines = () =>
    new ReadableStream<string>({
      start(controller) {
        push = (line) => controller.enqueue(line);
      },
    });
  const prompt = terminalPrompt((t) => written += t, { lines, by: "ann" });
  const first = prompt(approval, new AbortController().signal);
  await new Promise((r) => setTimeout(r, 10));
  push("what");
  await new Promise((r) => setTimeout(r, 10));
  push("r");
  assert.deepEqual(await first, { decision: "approve", by: "ann", remember: "run" });
  assert.match(written, /please answer a, d or r/);
  const elsewhere = new AbortController();
  const second = prompt(approval, elsewhere.signal);
  await new Promise((r) => setTimeout(r, 10));
  elsewhere.abort();
  assert.equal(await second, null);
  assert.match(written, /decided elsewhere/);
});

Deno.test("a WASI preview1 guest's own writes are refused when fs.write needs approval", async () => {
  await using agent = await agentDir(PROBE_C, approvals(["fs.write"]));
  const ran = await run(agent, ["write /out/r.txt", "read /notes/a.txt"].join("\n"));
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  const out = (ran.outcome.output ?? "").split("\n").filter((l) => l !== "");
  assert.match(out[0]!, /^ERR/);
  assert.equal(out[1], "OK /notes/a.txt note a");
  await assert.rejects(Deno.stat(join(agent.dir, "out/r.txt")), Deno.errors.NotFound);
  const refused = ran.events.find((e) => e.type === "gate" && e.rule === "approval");
  assert.equal(refused?.code, "ERR_APPROVAL_DENIED");
});

Deno.test("a ReAct loop's write_file tool waits for approval like any gate call", async () => {
  await using agent = await loopAgent({
    kind: "react",
    turns: [
      {
        reply: {
          content: "",
          toolCalls: [{ name: "write_file", arguments: { path: "out/a.txt", content: "from the loop" } }],
        },
      },
      {
        expect: { lastRole: "tool", contains: "ERR_APPROVAL_DENIED" },
        reply: { content: "The write was denied." },
      },
    ],
    extra: approvals(["fs.write"]),
  });
  const d = decider(agent, () => ({ decision: "deny", by: "ann" }));
  const ran = await run(agent, "go");
  const seen = await d.stop();
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  assert.equal(ran.outcome.output, "The write was denied.");
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.args.path, "out/a.txt");
  await assert.rejects(Deno.stat(join(agent.dir, "out/a.txt")), Deno.errors.NotFound);
});

Deno.test("a plugin's own gate calls wait for approval too", async () => {
  await using agent = await pluginAgent(["granty"], { extra: approvals(["fs.read"]) });
  const d = decider(agent, () => ({ decision: "approve", by: "ann" }));
  const { replies } = await probeCalls(agent, [["tool.call", { name: "granty.peek", input: {} }]]);
  const seen = await d.stop();
  assert.deepEqual(replies[0]?.ok, {
    output: { direct: "plugin's private data\n", throughGate: { data: "plugin's private data\n" } },
  });
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.op, "fs.read");
  assert.match(String(seen[0]!.args.path), /granty\/private\/data\.txt$/);
});

Deno.test("ironclaw check shows what needs approval, and refuses an unknown op with the closest one", async () => {
  await using agent = await agentDir(PROBE, approvals(["fs.write", "http.fetch:post"], 120));
  const text = await runCli(["check", agent.manifest]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Approvals\n {2}fs\.write, http\.fetch:POST: a person approves each call/);
  assert.match(text.stdout, /within 120 s is a denial/);
  const json = await runCli(["check", agent.manifest, "--json"]);
  assert.deepEqual(JSON.parse(json.stdout).approvals, {
    require: ["fs.write", "http.fetch:POST"],
    timeout_s: 120,
  });
  await Deno.writeTextFile(
    agent.manifest,
    (await Deno.readTextFile(agent.manifest)).replace("fs.write", "fs.writ"),
  );
  const bad = await runCli(["check", agent.manifest]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown op "fs\.writ" in \[approvals\] require/);
  assert.match(bad.stderr, /did you mean "fs\.write"\?/);
});

Deno.test({
  name: "ironclaw run on a terminal asks, and the answer typed there decides",
  ignore: Deno.build.os !== "linux" || !(await Deno.stat("/usr/bin/script").then(() => true, () => false)),
  fn: async () => {
    await using agent = await agentDir(PROBE, approvals(["fs.write"]));
    await withConfig(agent, `[runtime]\nstate_dir = "state"\n`);
    const config = join(agent.dir, "ironclaw.toml");
    const task = JSON.stringify({ calls: [write("out/a.txt", "typed")] });
    const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const command = [Deno.execPath(), "run", "-A", "--quiet", join(ROOT, "mod.ts"), "run", agent.manifest]
      .concat(["--config", config, "--task", task]).map(quote).join(" ");
    // script(1) gives the CLI a pseudo-terminal: its stdin and stderr are terminals, as a person's would be.
    const child = new Deno.Command("/usr/bin/script", {
      args: ["-qfec", command, "/dev/null"],
      cwd: agent.dir,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      env: { NO_COLOR: "1", XDG_STATE_HOME: TEST_STATE_HOME, USER: "tty-user" },
    }).spawn();
    const writer = child.stdin.getWriter();
    const reader = child.stdout.getReader();
    let text = "";
    try {
      while (!text.includes("[a]pprove, [d]eny, or [r]emember for the run?")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the CLI ended without asking:\n${text}`);
        text += new TextDecoder().decode(value);
      }
      assert.match(text, /asks to fs\.write/);
      assert.match(text, /digest {2}[0-9a-f]{64}/);
      await writer.write(new TextEncoder().encode("a\r"));
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } finally {
      await writer.close().catch(() => {});
      await reader.cancel().catch(() => {});
      await child.status;
    }
    assert.equal(await Deno.readTextFile(join(agent.dir, "out/a.txt")), "typed");
    const store = SqliteRunStore.open(agent.config.runtime.state_dir);
    try {
      const [decided] = await store.listApprovals();
      assert.deepEqual([decided?.state, decided?.decidedBy], ["approved", "tty-user"]);
    } finally {
      await store.close();
    }
  },
});

Deno.test("ironclaw check shows a WASI guest's preopens read-only when fs.write needs approval", async () => {
  await using agent = await agentDir(PROBE_C, approvals(["fs.write"]));
  const text = await runCli(["check", agent.manifest]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /read-only \(fs\.write needs approval\)/);
  assert.doesNotMatch(text.stdout, /read-write/);
});
