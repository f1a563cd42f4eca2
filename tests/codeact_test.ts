/**
 * The CodeAct loop in real sandboxes: the model's code runs in QuickJS
 * (WebAssembly) inside the sandbox process, and code that attacks is contained.
 * Each run ends with a clear state.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { code, loopAgent, type Turn } from "./_loops.ts";
import { run } from "./_sandbox.ts";

/** One code step, then a final answer that the observation must make possible. */
function step(source: string, observed: string): Turn[] {
  return [
    { reply: code("javascript", source) },
    { expect: { lastRole: "user", contains: observed }, reply: { content: "done" } },
  ];
}

async function codeact(turns: Turn[], extra = "") {
  await using agent = await loopAgent({ kind: "codeact", turns, extra });
  const ran = await run(agent, "go");
  const observations = ran.events.filter((e) => e.type === "code").map((e) => String(e.observation));
  return {
    ...ran,
    observations,
    dir: agent.dir,
    secret: await Deno.readTextFile(join(agent.dir, "secret.txt")),
  };
}

Deno.test("CodeAct: variables persist across steps and tools are async functions", async () => {
  const { outcome, observations } = await codeact([
    {
      reply: code(
        "javascript",
        'const { data } = await tools.read_file({ path: "data/numbers.csv" });\nlet total = 0;',
      ),
    },
    {
      expect: { lastRole: "user", contains: "(no output)" },
      reply: code(
        "javascript",
        'for (const n of data.trim().split("\\n").slice(1)) total += Number(n);\nconsole.log("total", total);',
      ),
    },
    { expect: { lastRole: "user", contains: "total 6" }, reply: { content: "The total is 6." } },
  ]);
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  assert.equal(outcome.output, "The total is 6.");
  assert.equal(observations.length, 2);
});

Deno.test("CodeAct: code that attacks is contained", async (t) => {
  await t.step("probing globalThis finds no ambient authority", async () => {
    const { outcome, observations } = await codeact(step(
      'console.log(JSON.stringify(["Deno", "fetch", "process", "require", "setTimeout", "WebAssembly", "std", "os"].map((k) => typeof globalThis[k])));',
      '["undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined"]',
    ));
    assert.equal(outcome.state, "ok", observations.join("\n"));
  });
  await t.step("the Function constructor reaches only QuickJS's own global", async () => {
    const { outcome } = await codeact(step(
      'const g = Function("return this")();\nconsole.log(typeof g.Deno, typeof g.tools, g === globalThis);',
      "undefined object true",
    ));
    assert.equal(outcome.state, "ok");
  });
  await t.step("polluting prototypes of bridged results stays inside", async () => {
    const { outcome } = await codeact([
      {
        reply: code(
          "javascript",
          'const r = await tools.list_dir({ path: "data" });\nr.__proto__.polluted = true;\nObject.prototype.admin = true;\nconsole.log("polluted", ({}).admin);',
        ),
      },
      {
        expect: { lastRole: "user", contains: "polluted true" },
        reply: code(
          "javascript",
          'const again = await tools.read_file({ path: "data/numbers.csv" });\nconsole.log(typeof again.data);',
        ),
      },
      { expect: { lastRole: "user", contains: "string" }, reply: { content: "done" } },
    ]);
    assert.equal(outcome.state, "ok");
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });
  await t.step(
    "a tool that is not granted does not exist, and a denied call is an error with its hint",
    async () => {
      const { outcome, secret, events } = await codeact(step(
        'console.log(typeof tools.http_fetch, typeof tools.run_program);\ntry { await tools.read_file({ path: "../secret.txt" }); } catch (e) { console.log(String(e.message)); }',
        "undefined undefined",
      ));
      assert.equal(outcome.state, "ok");
      const denied = events.find((e) => e.type === "tool" && e.ok === false);
      assert.match(String(denied?.observation), /ERR_CAPABILITY_DENIED/);
      assert.ok(!JSON.stringify(events).includes(secret.trim()));
    },
  );
  await t.step("while(true) is stopped at the step deadline", async () => {
    const started = performance.now();
    const { outcome, events } = await codeact(
      step("while (true) {}", "was stopped after 1 s"),
      "[limits]\nstep_timeout_s = 1\n",
    );
    assert.equal(outcome.state, "ok");
    assert.equal(events.find((e) => e.type === "code")?.timedOut, true);
    assert.ok(performance.now() - started < 15_000);
  });
  await t.step("a memory bomb runs out of memory, and the run goes on", async () => {
    const { outcome, events } = await codeact(
      step("const keep = []; while (true) keep.push(new Array(100000).fill(1.5));", "ran out of memory"),
      "[limits]\nmemory_mb = 32\n",
    );
    assert.equal(outcome.state, "ok");
    assert.equal(events.find((e) => e.type === "code")?.outOfMemory, true);
  });
  await t.step("a flood of output is cut", async () => {
    const { outcome, observations } = await codeact(
      step('for (let i = 0; i < 100000; i++) console.log("flood " + i);', "truncated"),
    );
    assert.equal(outcome.state, "ok");
    assert.ok(observations[0]!.length < 20_000, `${observations[0]!.length} characters reached the model`);
  });
  await t.step("a thrown error is the observation", async () => {
    const { outcome } = await codeact(
      step('throw new RangeError("no such thing")', "RangeError: no such thing"),
    );
    assert.equal(outcome.state, "ok");
  });
});
