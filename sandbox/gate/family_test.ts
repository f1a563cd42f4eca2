import assert from "node:assert/strict";
import { GATE_OP_NAMES } from "../../protocol/gate_ops.ts";
import { familyHandlers } from "./families.ts";
import { grantsOf } from "./family.ts";
import { contextOf, policyOf } from "./_testing.ts";

Deno.test("familyHandlers() has one handler per op of GATE_OPS, with a precheck for each op it can check", () => {
  const handlers = familyHandlers(contextOf(policyOf()), { emit: () => {} });
  assert.deepEqual(Object.keys(handlers).sort(), [...GATE_OP_NAMES].sort());
  // Waiting ops, for guests that cannot wait; file ops, so a call that needs approval is asked after its grants.
  const prechecked = GATE_OP_NAMES.filter((op) => handlers[op].precheck !== undefined).sort();
  assert.deepEqual(prechecked, ["fs.list", "fs.read", "fs.write", "http.fetch", "proc.run"]);
});

Deno.test("grantsOf() gives the agent the manifest's grants, and a plugin its own besides", () => {
  const grants = [
    { id: 1, from: [{ source: "manifest" }] },
    { id: 2, from: [{ source: "plugin calc" }] },
    { id: 3, from: [{ source: "plugin other" }, { source: "manifest" }] },
  ];
  const ids = (actor: string | null) => grantsOf(grants, actor).map((g) => g.id);
  assert.deepEqual(ids(null), [1, 3]);
  assert.deepEqual(ids("calc"), [1, 2, 3]);
  assert.deepEqual(ids("other"), [1, 3]);
});
