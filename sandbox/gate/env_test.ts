import assert from "node:assert/strict";
import { envOps } from "./env.ts";
import { contextOf, outcomeOf, policyOf } from "./_testing.ts";

Deno.test("envOps() env.get reads granted names only", async (t) => {
  const vars: Record<string, string> = { TZ: "UTC", APP_MODE: "x", HOME: "/home/u" };
  const env = { get: (name: string) => vars[name] };
  const ops = envOps(contextOf(policyOf(`[capabilities.env]\nallow = ["TZ", "APP_*", "UNSET"]\n`)), env);
  await t.step("allowed by name and by prefix", async () => {
    assert.deepEqual(await outcomeOf(ops["env.get"], { name: "TZ" }), {
      ok: true,
      value: { value: "UTC" },
      rule: "env:TZ",
    });
    assert.deepEqual(await outcomeOf(ops["env.get"], { name: "APP_MODE" }), {
      ok: true,
      value: { value: "x" },
      rule: "env:APP_MODE",
    });
  });
  await t.step("granted but unset is null", async () => {
    assert.deepEqual(await outcomeOf(ops["env.get"], { name: "UNSET" }), {
      ok: true,
      value: { value: null },
      rule: "env:UNSET",
    });
  });
  await t.step("denied, with a hint that names the grant", async () => {
    const r = await outcomeOf(ops["env.get"], { name: "HOME" });
    assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
    assert.match(!r.ok ? r.hint : "", /"HOME" to \[capabilities.env\] allow/);
  });
  await t.step("malformed names", async () => {
    for (const name of [undefined, 1, "", "A-B", "1A"]) {
      const r = await outcomeOf(ops["env.get"], { name });
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", String(name));
    }
  });
  await t.step("without checks", async () => {
    const open = envOps(contextOf(policyOf(), { checks: false }), env);
    assert.deepEqual(await outcomeOf(open["env.get"], { name: "HOME" }), {
      ok: true,
      value: { value: "/home/u" },
      rule: "unchecked",
    });
  });
});
