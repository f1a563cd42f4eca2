import assert from "node:assert/strict";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
import { InvalidDocumentError } from "../manifests/errors.ts";
import { approvalRuleNames, needsApproval } from "./approvals.ts";
import { resolvePolicy } from "./policy.ts";

const HEAD = `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`;

function resolve(approvals: string) {
  return resolvePolicy(
    parseManifest(HEAD + approvals, { path: "/srv/a/agent.toml" }),
    defaultRuntimeConfig("/srv"),
  );
}

function refusal(approvals: string) {
  try {
    resolve(approvals);
  } catch (e) {
    if (e instanceof InvalidDocumentError) return e.issues[0]!;
    throw e;
  }
  assert.fail("should be refused");
}

Deno.test("resolvePolicy() reads [approvals]", async (t) => {
  await t.step("absent: nothing needs approval, 300 s", () => {
    const p = resolve("");
    assert.deepEqual([p.approvals.require, p.approvals.timeoutS], [[], 300]);
  });
  await t.step("ops and http.fetch:METHOD", () => {
    const p = resolve(`[approvals]\nrequire = ["fs.write", "proc.run", "http.fetch:post"]\ntimeout_s = 5\n`);
    assert.deepEqual(approvalRuleNames(p.approvals.require), ["fs.write", "proc.run", "http.fetch:POST"]);
    assert.equal(p.approvals.timeoutS, 5);
  });
  await t.step("an unknown op is refused with the closest op", () => {
    const issue = refusal(`[approvals]\nrequire = ["fs.wrte"]\n`);
    assert.equal(issue.code, "ERR_VALUE");
    assert.equal(issue.hint, 'did you mean "fs.write"?');
    assert.equal(issue.pos.key, "approvals.require[0]");
  });
  await t.step("a method on an op other than http.fetch is refused", () => {
    assert.equal(refusal(`[approvals]\nrequire = ["fs.write:POST"]\n`).code, "ERR_VALUE");
  });
  await t.step("malformed entries and timeouts are refused by the schema", () => {
    assert.throws(() => resolve(`[approvals]\nrequire = ["rm -rf"]\n`), InvalidDocumentError);
    assert.throws(() => resolve(`[approvals]\ntimeout_s = 0\n`), InvalidDocumentError);
    assert.throws(() => resolve(`[approvals]\nwho = "me"\n`), InvalidDocumentError);
  });
});

Deno.test("needsApproval() matches ops, and methods of http.fetch", () => {
  const require = [{ op: "fs.write" }, { op: "http.fetch", method: "POST" }];
  const table: [string, Record<string, unknown>, boolean][] = [
    ["fs.write", { path: "a" }, true],
    ["fs.read", { path: "a" }, false],
    ["http.fetch", {}, false],
    ["http.fetch", { method: "GET" }, false],
    ["http.fetch", { method: "POST" }, true],
    ["http.fetch", { method: "post" }, true],
  ];
  for (const [op, args, expected] of table) assert.equal(needsApproval(require, { op, args }), expected, op);
  assert.equal(needsApproval([{ op: "http.fetch" }], { op: "http.fetch", args: { method: "DELETE" } }), true);
});
