import assert from "node:assert/strict";
import { modelOps } from "./model.ts";
import { contextOf, outcomeOf, policyOf } from "./_testing.ts";

const MODEL = `[model]\nprovider = "ollama"\nname = "m"\n`;

Deno.test("modelOps() model.complete goes to the broker only with a [model] table", async (t) => {
  const asked: unknown[] = [];
  const complete = (request: Record<string, unknown>) => {
    asked.push(request);
    return Promise.resolve({ message: { role: "assistant", content: "hi", toolCalls: [] } });
  };
  await t.step("allowed", async () => {
    const ops = modelOps(contextOf(policyOf(MODEL)), { complete });
    const r = await outcomeOf(ops["model.complete"], { messages: [] });
    assert.equal(r.ok && r.rule, "model:ollama");
    assert.deepEqual(asked, [{ messages: [] }]);
  });
  await t.step("denied without [model], and without a broker", async () => {
    for (
      const ops of [
        modelOps(contextOf(policyOf()), { complete }),
        modelOps(contextOf(policyOf(MODEL)), { complete: undefined }),
      ]
    ) {
      const r = await outcomeOf(ops["model.complete"], { messages: [] });
      assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
      assert.equal(r.rule, "model");
    }
  });
  await t.step("the broker's model codes are kept, other failures are ERR_IO", async () => {
    const failing = (code: string) =>
      modelOps(contextOf(policyOf(MODEL)), {
        complete: () => Promise.reject(Object.assign(new Error("no"), { code, hint: "h" })),
      });
    const budget = await outcomeOf(failing("ERR_MODEL_BUDGET")["model.complete"], {});
    assert.equal(!budget.ok && budget.code, "ERR_MODEL_BUDGET");
    const other = await outcomeOf(failing("EOTHER")["model.complete"], {});
    assert.equal(!other.ok && other.code, "ERR_IO");
  });
  await t.step("the record keeps the request's size, not its text", () => {
    const ops = modelOps(contextOf(policyOf(MODEL)), { complete });
    const summary = ops["model.complete"].summarize!({
      messages: [{ role: "user", content: "private" }],
      tools: [{ name: "t" }],
    });
    assert.deepEqual(summary, { messages: 1, tools: ["t"] });
  });
});
