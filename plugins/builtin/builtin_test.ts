import assert from "node:assert/strict";
import { join } from "node:path";
import { testContext } from "../testing.ts";
import calculator, { evaluate } from "./calculator/mod.ts";
import kv from "./kv-memory/mod.ts";
import http from "./http-json/mod.ts";

Deno.test("calculator evaluates arithmetic and refuses the rest", async (t) => {
  const cases: [string, number][] = [
    ["1 + 2 * 3", 7],
    ["(1 + 2) * 3", 9],
    ["2 ^ 3 ^ 2", 512],
    ["-2 ^ 2", -4],
    ["10 % 4", 2],
    ["sqrt(16) + abs(-2)", 6],
    ["max(1, 5, 3)", 5],
    ["round(pi * 100) / 100", 3.14],
    ["1.5e3", 1500],
  ];
  for (const [text, value] of cases) await t.step(text, () => assert.equal(evaluate(text), value));
  for (const bad of ["1 +", "2 ** 3", "alert(1)", "constructor", "1; 2", "(1", "x"]) {
    await t.step(`refuses ${bad}`, () => assert.throws(() => evaluate(bad)));
  }
  await t.step("the tool rounds to its precision and refuses infinities", async () => {
    const { context } = testContext({ config: { precision: 3 } });
    assert.deepEqual(await calculator.tools.evaluate!({ expression: "2 / 3" }, context), { value: 0.667 });
    await assert.rejects(
      async () => await calculator.tools.evaluate!({ expression: "1 / 0" }, context),
      /finite/,
    );
  });
});

Deno.test("kv-memory keeps values in its store, and imports an old memory.json once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "memory.json"), '{"old":1,"a":"stale"}');
    const { context, stored } = testContext({ config: { max_keys: 3, max_value_bytes: 100 }, dataDir: dir });
    stored.set("a", JSON.stringify("newer"));
    assert.deepEqual(await kv.tools.get!({ key: "a" }, context), { value: "newer" });
    assert.deepEqual(await kv.tools.get!({ key: "old" }, context), { value: 1 });
    await assert.rejects(Deno.stat(join(dir, "memory.json")), Deno.errors.NotFound);
    await kv.tools.set!({ key: "a", value: [1, 2] }, context);
    await kv.tools.set!({ key: "__proto__", value: "safe" }, context);
    assert.deepEqual(await kv.tools.get!({ key: "a" }, context), { value: [1, 2] });
    assert.deepEqual(await kv.tools.get!({ key: "__proto__" }, context), { value: "safe" });
    assert.deepEqual(await kv.tools.get!({ key: "none" }, context), { value: null });
    await assert.rejects(async () => await kv.tools.set!({ key: "c", value: 1 }, context), /max_keys/);
    await assert.rejects(
      async () => await kv.tools.set!({ key: "a", value: "x".repeat(200) }, context),
      /max_value_bytes/,
    );
    assert.deepEqual(await kv.tools.list!({}, context), { keys: ["__proto__", "a", "old"] });
    assert.deepEqual(await kv.tools.delete!({ key: "a" }, context), { deleted: true });
    assert.deepEqual(await kv.tools.delete!({ key: "a" }, context), { deleted: false });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("http-json goes through the gate, only to its configured hosts", async () => {
  const { context, calls } = testContext({
    config: { hosts: ["api.example.com"], max_body_bytes: 1000 },
    gate: { "http.fetch": () => ({ status: 200, headers: {}, body: '{"ok":true}' }) },
  });
  assert.deepEqual(await http.tools.get!({ url: "https://api.example.com/v1/x" }, context), {
    status: 200,
    json: { ok: true },
  });
  await http.tools.post!({ url: "https://api.example.com/v1/y", body: { a: 1 } }, context);
  assert.deepEqual(calls.map((c) => [c.args.method ?? "GET", c.args.url]), [
    ["GET", "https://api.example.com/v1/x"],
    ["POST", "https://api.example.com/v1/y"],
  ]);
  assert.equal(calls[1]?.args.body, '{"a":1}');
  await assert.rejects(
    async () => await http.tools.get!({ url: "https://evil.example/" }, context),
    /not in this plugin's hosts/,
  );
  assert.equal(calls.length, 2, "a refused host never reaches the gate");
});
