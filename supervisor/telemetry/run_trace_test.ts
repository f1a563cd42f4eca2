import assert from "node:assert/strict";
import type { RunEvent } from "../../protocol/protocol.ts";
import { MAX_CHILD_SPANS, RunTrace } from "./run_trace.ts";
import type { SpanData } from "./otlp.ts";

const SECRET = "s3cr3t-value";

/** A trace fed `events` (stamped with `ms` as given), then finished. */
function traced(events: RunEvent[], options: { provider?: string } = {}) {
  const trace = new RunTrace({ provider: options.provider ?? null, secrets: [SECRET], taskBytes: 3 });
  for (const e of events) trace.observe(e);
  return trace.finish();
}

const RUN: RunEvent = { type: "run", seq: 0, ms: 0, id: "r1", agent: "a", kind: "wasm" };
const END: RunEvent = { type: "end", seq: 9, ms: 50, state: "ok", output: "hé", error: null, exitCode: 0 };
const attrsOf = (s: SpanData | undefined) => s?.attributes ?? {};

Deno.test("RunTrace keeps only a gate call's op, decision, rule, code, and its path or host", async (t) => {
  const cases: [string, RunEvent, Record<string, unknown>][] = [
    [
      "an allowed read: its path",
      {
        type: "gate",
        ms: 10,
        op: "fs.read",
        decision: "allow",
        rule: "fs.read notes",
        args: { path: "notes/a" },
      },
      { "ironclaw.gate.path": "notes/a", "ironclaw.gate.decision": "allowed" },
    ],
    [
      "a refused write, its arguments as JSON text: the path, never the data",
      {
        type: "gate",
        ms: 10,
        op: "fs.write",
        decision: "deny",
        rule: "fs.write",
        code: "ERR_CAPABILITY_DENIED",
        args: JSON.stringify({ path: "x", data: "content" }),
      },
      {
        "ironclaw.gate.path": "x",
        "ironclaw.gate.decision": "denied",
        "ironclaw.error.code": "ERR_CAPABILITY_DENIED",
      },
    ],
    [
      "refused arguments cut mid-way: nothing of them",
      {
        type: "gate",
        ms: 10,
        op: "fs.write",
        decision: "deny",
        rule: "fs.write",
        args: '{"path":"x","data":"con...',
      },
      { "ironclaw.gate.path": undefined },
    ],
    [
      "a fetch: the host, never the query or headers",
      {
        type: "gate",
        ms: 10,
        op: "http.fetch",
        decision: "allow",
        rule: "net",
        args: { url: "https://api.example:8443/p?k=v", headers: ["x-key"] },
      },
      { "ironclaw.gate.host": "api.example:8443" },
    ],
    [
      "a path holding a secret's value: redacted",
      {
        type: "gate",
        ms: 10,
        op: "fs.read",
        decision: "error",
        code: "ERR_NOT_FOUND",
        args: { path: `d/${SECRET}` },
      },
      { "ironclaw.gate.path": "d/[redacted]", "ironclaw.gate.decision": "error" },
    ],
  ];
  for (const [name, event, want] of cases) {
    await t.step(name, () => {
      const run = traced([RUN, event, END])!;
      const gate = run.spans[1];
      assert.equal(gate?.parentSpanId, run.spans[0]?.spanId);
      for (const [k, v] of Object.entries(want)) assert.equal(attrsOf(gate)[k], v, k);
      const keys = Object.keys(attrsOf(gate)).filter((k) => attrsOf(gate)[k] !== undefined);
      for (const k of keys) assert.match(k, /^ironclaw\.(gate\.(op|decision|rule|path|host)|error\.code)$/);
      assert.ok(!JSON.stringify(run).includes("content") && !JSON.stringify(run).includes("k=v"));
    });
  }
});

Deno.test("RunTrace times spans from the events' stamps and durations", () => {
  const run = traced([
    RUN,
    { type: "gate", ms: 20, op: "fs.read", decision: "allow", rule: "r", args: {}, us: 4000 },
    { type: "model", ms: 40, model: "m1", inputTokens: 5, outputTokens: 2, durationMs: 15, content: SECRET },
    END,
  ], { provider: "local" })!;
  const [root, gate, model] = run.spans;
  assert.equal(root!.endMs - root!.startMs, 50);
  assert.equal(gate!.endMs - root!.startMs, 20);
  assert.equal(gate!.endMs - gate!.startMs, 4);
  assert.equal(model!.name, "model local");
  assert.equal(model!.kind, "client");
  assert.equal(model!.endMs - model!.startMs, 15);
  assert.equal(attrsOf(model)["ironclaw.model.content_chars"], SECRET.length);
  assert.equal(attrsOf(root)["ironclaw.output.bytes"], 3);
  assert.ok(!JSON.stringify(run).includes(SECRET));
});

Deno.test("RunTrace: a failed model call and a failed run are errors; no end, no trace", () => {
  const failed = traced([
    RUN,
    { type: "model", ms: 5, error: "ERR_MODEL_HTTP", message: `server said ${SECRET}` },
    { ...END, state: "error", exitCode: 1, error: { code: "ERR_MODEL_HTTP", message: "m", hint: "h" } },
  ])!;
  assert.equal(failed.spans[0]!.error, "ERR_MODEL_HTTP");
  assert.equal(failed.spans[1]!.error, "ERR_MODEL_HTTP");
  assert.equal(failed.state, "error");
  assert.ok(!JSON.stringify(failed).includes(SECRET));
  assert.equal(traced([RUN]), null);
});

Deno.test("RunTrace exports at most MAX_CHILD_SPANS children and says how many it dropped; denials all count", () => {
  const deny: RunEvent = { type: "gate", ms: 1, op: "env.get", decision: "deny", rule: "env", args: {} };
  const run = traced([RUN, ...Array.from({ length: MAX_CHILD_SPANS + 3 }, () => deny), END])!;
  assert.equal(run.spans.length, MAX_CHILD_SPANS + 1);
  assert.equal(attrsOf(run.spans[0])["ironclaw.spans.dropped"], 3);
  assert.equal(run.denials.length, MAX_CHILD_SPANS + 3);
});

Deno.test("RunTrace: a CodeAct block is a span with its sizes, never its code or observation", () => {
  const block = (error: string | null): RunEvent => ({
    type: "code",
    ms: 30,
    step: 1,
    language: "javascript",
    code: `const k = "${SECRET}"; throw 1`,
    durationMs: 12.5,
    error,
    timedOut: false,
    outOfMemory: false,
    observation: `the observation ${SECRET}`,
  });
  const run = traced([RUN, block(null), block("Error: 1"), END])!;
  const [, ok, failed] = run.spans;
  assert.equal(ok!.name, "codeact javascript");
  assert.equal(ok!.error, null);
  assert.equal(failed!.error, "code failed");
  assert.equal(ok!.endMs - ok!.startMs, 12.5);
  assert.equal(attrsOf(ok)["ironclaw.code.chars"], `const k = "${SECRET}"; throw 1`.length);
  assert.ok(!JSON.stringify(run).includes(SECRET) && !JSON.stringify(run).includes("observation"));
});
