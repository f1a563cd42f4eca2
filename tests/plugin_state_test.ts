/**
 * Plugin state in the run store, through real sandboxes and real SQLite:
 * concurrent runs of one agent never lose an acknowledged kv-memory write
 * (F4), compare-and-set races end at the exact total, and a plugin's state is
 * its own.
 */

import assert from "node:assert/strict";
import { pluginAgent, probeCalls } from "./_sandbox.ts";

const KEYS = 120;

Deno.test("F4: two runs of one agent setting 120 distinct kv-memory keys each at once keep all 240", async () => {
  await using agent = await pluginAgent(["kv-memory"], { extra: "[limits]\nmax_tool_calls = 500\n" });
  const sets = (run: string) =>
    Array.from({ length: KEYS }, (_, i): [string, unknown] => [
      "tool.call",
      { name: "kv-memory.set", input: { key: `${run}.${i}`, value: { run, i } } },
    ]);
  const [a, b] = await Promise.all([probeCalls(agent, sets("a")), probeCalls(agent, sets("b"))]);
  for (const { replies } of [a, b]) {
    assert.equal(replies.length, KEYS);
    for (const r of replies) assert.deepEqual(r.ok, { output: { ok: true } }, JSON.stringify(r));
  }
  const reads = [
    ["tool.call", { name: "kv-memory.list", input: {} }],
    ["tool.call", { name: "kv-memory.get", input: { key: "a.7" } }],
    ["tool.call", { name: "kv-memory.get", input: { key: `b.${KEYS - 1}` } }],
  ] as [string, unknown][];
  const { replies } = await probeCalls(agent, reads);
  const keys = (replies[0]?.ok as { output: { keys: string[] } }).output.keys;
  const expected = ["a", "b"].flatMap((r) => Array.from({ length: KEYS }, (_, i) => `${r}.${i}`)).sort();
  assert.equal(keys.length, 2 * KEYS, `kept ${keys.length} of ${2 * KEYS}`);
  assert.deepEqual(keys, expected);
  assert.deepEqual(replies[1]?.ok, { output: { value: { run: "a", i: 7 } } });
  assert.deepEqual(replies[2]?.ok, { output: { value: { run: "b", i: KEYS - 1 } } });
});

Deno.test("a cas race: two runs bumping one counter with cas retries end at the exact total", async () => {
  await using agent = await pluginAgent(["counter"]);
  const bumps = Array.from({ length: 5 }, (): [string, unknown] => [
    "tool.call",
    { name: "counter.bump", input: { n: 20 } },
  ]);
  const runs = await Promise.all([probeCalls(agent, bumps), probeCalls(agent, bumps)]);
  let tries = 0;
  for (const { replies } of runs) {
    for (const r of replies) tries += (r.ok as { output: { tries: number } }).output.tries;
  }
  const { replies } = await probeCalls(agent, [["tool.call", { name: "counter.peek", input: {} }]]);
  assert.deepEqual(replies[0]?.ok, { output: { count: 200, keys: ["count"], other: null } });
  assert.ok(tries >= 200, `${tries} tries`);
});

Deno.test("a plugin's state is its own: not another plugin's, not another agent's; values are capped", async () => {
  await using agent = await pluginAgent(["kv-memory", "counter"]);
  const { replies } = await probeCalls(agent, [
    ["tool.call", { name: "kv-memory.set", input: { key: "count", value: 99 } }],
    ["tool.call", { name: "counter.peek", input: { key: "count" } }],
    ["tool.call", { name: "counter.put", input: { key: "big", value: "x".repeat(200) } }],
    ["tool.call", { name: "counter.put", input: { key: "k".repeat(300), value: 1 } }],
    ["tool.call", { name: "kv-memory.get", input: { key: "count" } }],
  ]);
  assert.deepEqual(replies[1]?.ok, { output: { count: null, keys: [], other: null } });
  const big = (replies[2]?.ok as { output: { code: string; name: string; hint: string } }).output;
  assert.equal(big.code, "ERR_LIMIT");
  assert.equal(big.name, "PluginGateError");
  assert.match(big.hint, /max_value_bytes/);
  assert.equal((replies[3]?.ok as { output: { code: string } }).output.code, "ERR_INVALID_ARGS");
  assert.deepEqual(replies[4]?.ok, { output: { value: 99 } });
  // Another agent with the same plugins, in the same state folder, sees none of it.
  await using other = await pluginAgent(["kv-memory"]);
  await Deno.writeTextFile(
    other.manifest,
    (await Deno.readTextFile(other.manifest)).replace('name = "probe"', 'name = "other"'),
  );
  other.config = agent.config; // the first agent's state folder
  const seen = await probeCalls(other, [["tool.call", { name: "kv-memory.list", input: {} }]]);
  assert.deepEqual(seen.replies[0]?.ok, { output: { keys: [] } });
});
