import assert from "node:assert/strict";
import type { Policy } from "../../capabilities/policy.ts";
import { toolOps } from "./tool.ts";
import { contextOf, outcomeOf, policyOf } from "./_testing.ts";

/** A Policy that uses the plugin "calc" with the tool "add" (as the plugin index would grant it). */
function withCalc(): Policy {
  const plugin = { name: "calc", tools: [{ name: "add", description: "Adds", input: {} }] };
  return { ...policyOf(), plugins: [plugin] } as unknown as Policy;
}

Deno.test("toolOps() tool.call runs tools of used plugins only", async (t) => {
  const ran: unknown[] = [];
  const run = (name: string, input: unknown) => {
    ran.push([name, input]);
    return Promise.resolve({ output: 3 });
  };
  const ops = toolOps(contextOf(withCalc()), { run });
  await t.step("allowed", async () => {
    const r = await outcomeOf(ops["tool.call"], { name: "calc.add", input: { a: 1, b: 2 } });
    assert.deepEqual(r, { ok: true, value: { output: 3 }, rule: "plugin:calc" });
    assert.deepEqual(ran, [["calc.add", { a: 1, b: 2 }]]);
  });
  await t.step("denied: a plugin not used, a tool it does not have, no plugin host", async () => {
    const cases = [
      [ops, "other.add", /add "other" to \[plugins\] use/],
      [ops, "calc.sub", /has tools "calc.add"/],
      [toolOps(contextOf(withCalc()), { run: undefined }), "calc.add", /has tools/],
    ] as const;
    for (const [o, name, hint] of cases) {
      const r = await outcomeOf(o["tool.call"], { name });
      assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED", name);
      assert.match(!r.ok ? r.hint : "", hint);
    }
    assert.equal(ran.length, 1);
  });
  await t.step("malformed names", async () => {
    for (const name of [undefined, "calc", "Calc.add", "calc.add.x"]) {
      const r = await outcomeOf(ops["tool.call"], { name });
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", String(name));
    }
  });
});
