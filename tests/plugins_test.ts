/**
 * Plugins in real sandboxes: tools reached through the gate, their code
 * confined by the sandbox's flags and limits, their grants attributed and never
 * leaking into runs that do not use them.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { toDenoFlags } from "../capabilities/deno_flags.ts";
import { loadPolicy } from "../supervisor/load.ts";
import {
  countingServer,
  evilCall,
  evilTries,
  pluginAgent,
  probeCalls,
  run,
  TEST_PLUGINS,
} from "./_sandbox.ts";
import { code, loopAgent } from "./_loops.ts";

Deno.test("a component reaches a plugin tool through tool.call; input is checked first", async () => {
  await using agent = await pluginAgent(["calculator"]);
  const { replies, ran } = await probeCalls(agent, [
    ["tool.call", { name: "calculator.evaluate", input: { expression: "2 ^ 10 - sqrt(16)" } }],
    ["tool.call", { name: "calculator.evaluate", input: { expr: "1" } }],
    ["tool.call", { name: "calculator.evaluate", input: { expression: "1 +" } }],
    ["tool.call", { name: "kv-memory.get", input: { key: "x" } }],
    ["tool.call", { name: "calculator.nope", input: {} }],
  ]);
  assert.deepEqual(replies[0]?.ok, { output: { value: 1020 } });
  assert.equal(replies[1]?.error?.code, "ERR_INVALID_ARGS");
  assert.match(replies[1]!.error!.message, /"expression" is missing/);
  assert.equal(replies[2]?.error?.code, "ERR_TOOL");
  assert.match(replies[2]!.error!.message, /Unexpected end/);
  assert.equal(replies[3]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.equal(replies[4]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.deepEqual(ran.events.filter((e) => e.type === "gate").map((e) => e.rule), [
    "plugin:calculator",
    "tool.input",
    "tool.error",
    "tool",
    "tool",
  ]);
});

Deno.test("kv-memory keeps values between runs of the same agent", async () => {
  await using agent = await pluginAgent(["kv-memory"]);
  const first = await probeCalls(agent, [["tool.call", {
    name: "kv-memory.set",
    input: { key: "seen", value: { n: 1 } },
  }]]);
  assert.deepEqual(first.replies[0]?.ok, { output: { ok: true } });
  const second = await probeCalls(agent, [
    ["tool.call", { name: "kv-memory.get", input: { key: "seen" } }],
    ["tool.call", { name: "kv-memory.list", input: {} }],
    // The agent itself cannot reach the plugin's folder through the gate.
    ["fs.read", { path: join(agent.dir, "state", "plugin-data", "kv-memory", "probe", "memory.json") }],
  ]);
  assert.deepEqual(second.replies[0]?.ok, { output: { value: { n: 1 } } });
  assert.deepEqual(second.replies[1]?.ok, { output: { keys: ["seen"] } });
  assert.equal(second.replies[2]?.error?.code, "ERR_CAPABILITY_DENIED");
});

Deno.test("ReAct and CodeAct see plugin tools next to the built-in ones", async (t) => {
  await t.step("ReAct", async () => {
    await using agent = await loopAgent({
      kind: "react",
      extra: `[plugins]\nuse = ["calculator"]\n`,
      turns: [
        {
          reply: {
            content: "",
            toolCalls: [{ name: "calculator__evaluate", arguments: { expression: "6 * 7" } }],
          },
        },
        { expect: { lastRole: "tool", contains: "42" }, reply: { content: "42" } },
      ],
    });
    const { outcome } = await run(agent, "go");
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
    assert.equal(outcome.output, "42");
  });
  await t.step("CodeAct", async () => {
    await using agent = await loopAgent({
      kind: "codeact",
      extra: `[plugins]\nuse = ["calculator"]\n`,
      turns: [
        {
          reply: code(
            "javascript",
            'const r = await tools.calculator__evaluate({ expression: "2 ^ 8" });\nconsole.log(r.value);',
          ),
        },
        { expect: { lastRole: "user", contains: "256" }, reply: { content: "256" } },
      ],
    });
    const { outcome } = await run(agent, "go");
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  });
});

Deno.test("a malicious plugin is stopped by the sandbox's flags and limits", async (t) => {
  await using server = countingServer();
  await using agent = await pluginAgent(["evil"]);
  const tries = evilTries(agent.dir, server.port);
  const { replies, ran } = await probeCalls(agent, [
    ...tries.map(([what, target]) => evilCall({ what, target })),
    evilCall({ what: "throw-number" }),
    evilCall({ what: "throw-object" }),
    evilCall({ what: "huge" }),
  ]);
  for (const [i, [what, target]] of tries.entries()) {
    await t.step(`${what} ${target.replace(agent.dir, "<agent>")}`, () => {
      const output = (replies[i]?.ok as { output: Record<string, string> })?.output;
      assert.ok(output?.refused, `${what} was not refused: ${JSON.stringify(replies[i])}`);
      assert.doesNotMatch(JSON.stringify(output), /the secret/);
    });
  }
  await t.step("no effect on the world", async () => {
    assert.deepEqual(server.hits, []);
    await assert.rejects(Deno.stat(join(agent.dir, "notes", "pwned.txt")), Deno.errors.NotFound);
    assert.ok(!JSON.stringify(ran.events).includes("the secret"));
  });
  await t.step("throwing non-errors and returning too much are typed tool errors", () => {
    const n = tries.length;
    assert.equal(replies[n]?.error?.code, "ERR_TOOL");
    assert.match(replies[n]!.error!.message, /not an Error: 42/);
    assert.equal(replies[n + 1]?.error?.code, "ERR_TOOL");
    assert.equal(replies[n + 2]?.error?.code, "ERR_LIMIT");
  });
  await t.step("a handler that never answers is cut off at step_timeout_s", async () => {
    await using hanging = await pluginAgent(["evil"], { extra: "[limits]\nstep_timeout_s = 1\n" });
    const { replies: r } = await probeCalls(hanging, [evilCall({ what: "hang" })]);
    assert.equal(r[0]?.error?.code, "ERR_LIMIT");
  });
  await t.step("a plugin that blocks forever ends the run at its wall-time limit", async () => {
    await using looping = await pluginAgent(["evil"], { extra: "[limits]\ntimeout_s = 1\n" });
    const ran2 = await run(looping, JSON.stringify({ calls: [evilCall({ what: "loop" })] }));
    assert.equal(ran2.outcome.state, "timeout");
  });
});

Deno.test("a plugin's grants are attributed to it and never leak", async (t) => {
  await using using = await pluginAgent(["granty"]);
  await using without = await pluginAgent([]);
  const privateDir = join(TEST_PLUGINS, "granty", "private");
  await t.step("check attributes the flag to the plugin", async () => {
    const policy = await loadPolicy(using.manifest, using.config);
    const flags = toDenoFlags(policy);
    assert.ok(flags.some((f) => f.startsWith("--allow-read=") && f.includes(privateDir)), flags.join(" "));
    const grant = policy.fs.read.find((g) => g.path === privateDir);
    assert.equal(grant?.from[0]?.source, "plugin granty");
  });
  await t.step("a run that does not use the plugin gets none of its grants", async () => {
    const policy = await loadPolicy(without.manifest, without.config);
    assert.ok(!toDenoFlags(policy).some((f) => f.includes(privateDir)));
    const { replies } = await probeCalls(without, [["fs.read", { path: join(privateDir, "data.txt") }]]);
    assert.equal(replies[0]?.error?.code, "ERR_CAPABILITY_DENIED");
  });
  await t.step("the plugin uses its grant; the agent cannot use it through the gate", async () => {
    const { replies } = await probeCalls(using, [
      ["tool.call", { name: "granty.peek", input: {} }],
      ["fs.read", { path: join(privateDir, "data.txt") }],
    ]);
    assert.deepEqual(replies[0]?.ok, {
      output: { direct: "plugin's private data\n", throughGate: { data: "plugin's private data\n" } },
    });
    assert.equal(replies[1]?.error?.code, "ERR_CAPABILITY_DENIED");
  });
});
