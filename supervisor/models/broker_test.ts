import assert from "node:assert/strict";
import { createModelBroker, ModelBroker, type ModelBrokerOptions } from "./broker.ts";
import { ModelError } from "./errors.ts";
import type { ModelPolicy } from "../../capabilities/policy.ts";
import type { CompletionRequest } from "../../protocol/model_types.ts";
import { closedPort, DIALECTS, json, policyOf, serve } from "./_testing.ts";

const KEY = "sk-test-SECRET-4242";
const HI: CompletionRequest = { messages: [{ role: "user", content: "hi" }] };

/** A broker that reads KEY from TEST_KEY and records its sleeps instead of sleeping. */
function brokerOf(policy: ModelPolicy, options: ModelBrokerOptions = {}) {
  const slept: number[] = [];
  const broker = new ModelBroker(policy, {
    env: (name) => name === "TEST_KEY" ? KEY : undefined,
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    ...options,
  });
  return { broker, slept };
}

/** Asserts that `p` rejects with a ModelError of `code`, and that the key is nowhere in it. */
async function rejectsWith(p: Promise<unknown>, code: string): Promise<ModelError> {
  const e = await p.then(() => assert.fail("expected a rejection"), (e: unknown) => e);
  assert.ok(e instanceof ModelError, String(e));
  assert.equal(e.code, code, e.message);
  const cause = e.cause instanceof Error ? `${e.cause.message} ${e.cause.stack}` : String(e.cause);
  for (const text of [e.message, e.hint, e.stack ?? "", cause]) assert.ok(!text.includes(KEY), text);
  return e;
}

for (const d of DIALECTS) {
  Deno.test(`ModelBroker against a local ${d.type} server`, async (t) => {
    const policy = (origin: string, extra: Partial<ModelPolicy> = {}) =>
      policyOf(d.type, { baseUrl: d.baseUrl(origin), apiKeyEnv: "TEST_KEY", ...extra });

    await t.step("a plain answer, with the key sent and usage counted", async () => {
      await using s = serve(() => json(d.answer("Hello!", 12, 3)));
      const { broker } = brokerOf(policy(s.origin));
      const r = await broker.complete(HI);
      assert.equal(r.message.content, "Hello!");
      assert.deepEqual(r.message.toolCalls, []);
      assert.deepEqual(r.usage, { inputTokens: 12, outputTokens: 3 });
      assert.equal(r.stopReason, "stop");
      assert.match(r.model, /^test-model/);
      assert.equal(s.seen[0]?.path, d.path);
      assert.equal(d.keyOf(s.seen[0]!.headers), KEY);
      assert.equal(s.seen[0]?.body.model, "test-model");
      assert.deepEqual(broker.usage(), {
        calls: 1,
        inputTokens: 12,
        outputTokens: 3,
        maxCalls: 20,
        maxTokens: 100_000,
      });
    });

    await t.step("401: ERR_MODEL_AUTH naming the variable, the echoed key redacted", async () => {
      await using s = serve((seen) =>
        json(d.error(401, `Incorrect API key provided: ${d.keyOf(seen.headers)}`), 401)
      );
      const e = await rejectsWith(brokerOf(policy(s.origin)).broker.complete(HI), "ERR_MODEL_AUTH");
      assert.equal(e.status, 401);
      assert.match(e.message, /Incorrect API key provided: \[redacted\]/);
      assert.match(e.hint, /set TEST_KEY \(the variable \[providers\.test-\w+\] api_key_env names\)/);
      assert.equal(s.seen.length, 1);
    });

    await t.step("a missing key: ERR_MODEL_AUTH at the first call, nothing sent", async () => {
      await using s = serve(() => json(d.answer("no", 1, 1)));
      const { broker } = brokerOf(policy(s.origin, { apiKeyEnv: "UNSET_KEY" }));
      const e = await rejectsWith(broker.complete(HI), "ERR_MODEL_AUTH");
      assert.match(e.message, /"UNSET_KEY" is not set/);
      assert.match(e.hint, /^set UNSET_KEY /);
      assert.equal(s.seen.length, 0);
    });

    await t.step("404, an unknown model: ERR_MODEL_NOT_FOUND", async () => {
      await using s = serve(() =>
        json(d.error(404, 'model "test-model" not found, try pulling it first'), 404)
      );
      const e = await rejectsWith(brokerOf(policy(s.origin)).broker.complete(HI), "ERR_MODEL_NOT_FOUND");
      assert.match(e.message, /does not know model "test-model" \(HTTP 404\)/);
    });

    await t.step("429 then success: retried after retry-after", async () => {
      await using s = serve((_, n) =>
        n === 1
          ? json(d.error(429, "Rate limit reached"), 429, { "retry-after": "7" })
          : json(d.answer("ok", 1, 1))
      );
      const { broker, slept } = brokerOf(policy(s.origin));
      assert.equal((await broker.complete(HI)).message.content, "ok");
      assert.deepEqual(slept, [7000]);
      assert.equal(s.seen.length, 2);
      assert.equal(broker.usage().calls, 1);
    });

    await t.step("a retry-after of an hour is capped at a minute", async () => {
      await using s = serve((_, n) =>
        n === 1 ? json(d.error(429, "slow down"), 429, { "retry-after": "3600" }) : json(d.answer("ok", 1, 1))
      );
      const { broker, slept } = brokerOf(policy(s.origin));
      await broker.complete(HI);
      assert.deepEqual(slept, [60_000]);
    });

    await t.step("a retry-after past the deadline: ERR_MODEL_RATE_LIMIT at once, no wait", async () => {
      await using s = serve((_, n) =>
        n === 1 ? json(d.error(429, "slow down"), 429, { "retry-after": "30" }) : json(d.answer("ok", 1, 1))
      );
      const { broker, slept } = brokerOf(policy(s.origin));
      const deadline = Date.now() + 10_000;
      const e = await rejectsWith(broker.complete(HI, undefined, { deadline }), "ERR_MODEL_RATE_LIMIT");
      assert.match(e.message, /retry-after of 30 s is past the run's remaining wall time of \d+ s/);
      assert.match(e.hint, /raise \[limits\] timeout_s/);
      assert.deepEqual(slept, []);
      assert.equal(s.seen.length, 1);
    });

    await t.step("a retry-after within the deadline is waited for", async () => {
      await using s = serve((_, n) =>
        n === 1 ? json(d.error(429, "slow down"), 429, { "retry-after": "3" }) : json(d.answer("ok", 1, 1))
      );
      const { broker, slept } = brokerOf(policy(s.origin));
      await broker.complete(HI, undefined, { deadline: Date.now() + 10_000 });
      assert.deepEqual(slept, [3000]);
    });

    await t.step("500 three times: ERR_MODEL_SERVER after backoff with jitter", async () => {
      await using s = serve(() => json(d.error(500, "Internal error"), 500));
      const { broker, slept } = brokerOf(policy(s.origin), { retries: 2 });
      const e = await rejectsWith(broker.complete(HI), "ERR_MODEL_SERVER");
      assert.equal(s.seen.length, 3);
      assert.match(e.message, /failed \(HTTP 500\): Internal error \(gave up after 2 retries\)$/);
      assert.equal(slept.length, 2);
      assert.ok(slept[0]! >= 500 && slept[0]! <= 750, String(slept));
      assert.ok(slept[1]! >= 1000 && slept[1]! <= 1500, String(slept));
    });

    await t.step("400: ERR_MODEL_REQUEST with the server's message, not retried", async () => {
      await using s = serve(() => json(d.error(400, "messages: field required"), 400));
      const e = await rejectsWith(brokerOf(policy(s.origin)).broker.complete(HI), "ERR_MODEL_REQUEST");
      assert.match(e.message, /refused the request \(HTTP 400\): messages: field required$/);
      assert.equal(s.seen.length, 1);
    });

    await t.step("a slow answer: ERR_MODEL_TIMEOUT", async () => {
      const release = Promise.withResolvers<void>();
      await using s = serve(async () => {
        await release.promise;
        return json(d.answer("late", 1, 1));
      });
      try {
        const e = await rejectsWith(
          brokerOf(policy(s.origin, { timeoutS: 0.05 })).broker.complete(HI),
          "ERR_MODEL_TIMEOUT",
        );
        assert.match(e.message, /gave no answer within 0\.05 s$/);
        assert.match(e.hint, /raise timeout_s in \[providers\.test-\w+\]/);
      } finally {
        release.resolve();
      }
    });

    await t.step("the caller's signal aborts the call with its reason", async () => {
      const release = Promise.withResolvers<void>();
      await using s = serve(async () => {
        await release.promise;
        return json(d.answer("late", 1, 1));
      });
      try {
        const abort = new AbortController();
        const call = brokerOf(policy(s.origin)).broker.complete(HI, abort.signal);
        abort.abort(new Error("run ended"));
        await assert.rejects(call, /run ended/);
      } finally {
        release.resolve();
      }
    });

    await t.step("a plain-text error page echoing the key: redacted", async () => {
      await using s = serve(() => new Response(`<html>Bad gateway for ${KEY}</html>`, { status: 502 }));
      const e = await rejectsWith(
        brokerOf(policy(s.origin), { retries: 0 }).broker.complete(HI),
        "ERR_MODEL_SERVER",
      );
      assert.match(e.message, /\(HTTP 502\): <html>Bad gateway for \[redacted\]<\/html>$/);
    });

    await t.step("malformed JSON: ERR_MODEL_RESPONSE", async () => {
      await using s = serve(() =>
        new Response(`{"choices": [`, { headers: { "content-type": "application/json" } })
      );
      const e = await rejectsWith(brokerOf(policy(s.origin)).broker.complete(HI), "ERR_MODEL_RESPONSE");
      assert.match(e.message, /answered with malformed JSON/);
    });

    await t.step("JSON of the wrong shape: ERR_MODEL_RESPONSE", async () => {
      await using s = serve(() => json({ result: "Hello!" }));
      const e = await rejectsWith(brokerOf(policy(s.origin)).broker.complete(HI), "ERR_MODEL_RESPONSE");
      assert.match(e.message, /answered with an unexpected shape: /);
      assert.match(e.hint, /check that base_url ".*" of \[providers\.test-\w+\] points to /);
    });

    await t.step("a refused connection: ERR_MODEL_UNREACHABLE", async () => {
      const baseUrl = d.baseUrl(`http://127.0.0.1:${closedPort()}`);
      const e = await rejectsWith(
        brokerOf(policyOf(d.type, { baseUrl, apiKeyEnv: "TEST_KEY" })).broker.complete(HI),
        "ERR_MODEL_UNREACHABLE",
      );
      assert.ok(e.hint.startsWith(`is the server running at "${baseUrl}"?`), e.hint);
    });

    await t.step("max_calls used up: ERR_MODEL_BUDGET before sending", async () => {
      await using s = serve(() => json(d.answer("ok", 1, 1)));
      const { broker } = brokerOf(policy(s.origin, { maxCalls: 1 }));
      await broker.complete(HI);
      const e = await rejectsWith(broker.complete(HI), "ERR_MODEL_BUDGET");
      assert.match(e.message, /calls are used up: 1 of 1$/);
      assert.match(e.hint, /max_calls/);
      assert.equal(s.seen.length, 1);
    });

    await t.step("max_tokens: answers capped to what is left, then ERR_MODEL_BUDGET", async () => {
      await using s = serve(() => json(d.answer("ok", 10, 15)));
      const { broker } = brokerOf(policy(s.origin, { maxTokens: 40 }));
      await broker.complete(HI);
      await broker.complete({ ...HI, maxTokens: 100 });
      assert.deepEqual(s.seen.map((r) => d.maxTokensOf(r.body)), [40, 15]);
      const e = await rejectsWith(broker.complete(HI), "ERR_MODEL_BUDGET");
      assert.match(e.message, /tokens are used up: 50 of 40$/);
      assert.equal(s.seen.length, 2);
      assert.deepEqual(broker.usage(), {
        calls: 2,
        inputTokens: 20,
        outputTokens: 30,
        maxCalls: 20,
        maxTokens: 40,
      });
    });
  });
}

Deno.test("ModelBroker keys", async (t) => {
  await t.step("OpenAI's own API and Anthropic need a key even when no variable is named", async () => {
    for (const type of ["openai", "anthropic"] as const) {
      const e = await rejectsWith(brokerOf(policyOf(type)).broker.complete(HI), "ERR_MODEL_AUTH");
      assert.match(e.hint, /^set api_key_env in \[providers\.test-\w+\]/);
    }
  });
  await t.step("a local OpenAI-compatible server and Ollama run without one", async () => {
    for (const d of DIALECTS.filter((d) => d.type !== "anthropic")) {
      await using s = serve(() => json(d.answer("ok", 1, 1)));
      const { broker } = brokerOf(policyOf(d.type, { baseUrl: d.baseUrl(s.origin) }));
      assert.equal((await broker.complete(HI)).message.content, "ok");
      assert.equal(s.seen[0]?.headers.get("authorization"), null);
    }
  });
});

Deno.test("createModelBroker() reads a scripted provider's transcript", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const transcript = `${dir}/demo.json`;
    await Deno.writeTextFile(
      transcript,
      JSON.stringify({ turns: [{ reply: { content: "scripted hello" } }] }),
    );
    await t.step("the answer is labelled as scripted", async () => {
      const broker = await createModelBroker(policyOf("scripted", { transcript }));
      const r = await broker.complete(HI);
      assert.equal(r.message.content, "scripted hello");
      assert.equal(r.model, "scripted:demo.json");
    });
    await t.step("a missing file: ERR_MODEL_SCRIPT naming it", async () => {
      const e = await rejectsWith(
        createModelBroker(policyOf("scripted", { transcript: `${dir}/nope.json` })),
        "ERR_MODEL_SCRIPT",
      );
      assert.match(e.message, /^Cannot read transcript ".*nope\.json"/);
    });
    await t.step("new ModelBroker() without the transcript: ERR_MODEL_SCRIPT", () => {
      assert.throws(() => new ModelBroker(policyOf("scripted", { transcript })), {
        code: "ERR_MODEL_SCRIPT",
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
