/**
 * Telemetry: real runs exported over OTLP/HTTP (JSON) to a loopback receiver: the run's span and its children,
 * the counters, no secret in any byte sent; nothing sent without `[telemetry]`; a receiver that fails or is
 * gone changes nothing about the run.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loopAgent } from "./_loops.ts";
import { type AgentDir, agentDir, countingServer, PROBE, recordText, withConfig } from "./_sandbox.ts";
import { runCli } from "./_cli.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent } from "../supervisor/run.ts";
import { showRun } from "../supervisor/records.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { RunOutcome } from "../supervisor/supervisor.ts";
import { startWorker } from "../supervisor/worker.ts";
import { openStore } from "../supervisor/store/mod.ts";
import { newRunId } from "../supervisor/records.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { startServer } from "../supervisor/serve/mod.ts";
import { queueSetup, slowModel, until } from "./_queue.ts";

/** One request an OTLP receiver got. */
interface Received {
  path: string;
  method: string;
  headers: Headers;
  body: string;
}

/** A loopback OTLP/HTTP receiver that keeps every request and answers `status` (200 by default). */
function otlpReceiver(status = 200) {
  const got: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    got.push({
      path: new URL(req.url).pathname,
      method: req.method,
      headers: req.headers,
      body: await req.text(),
    });
    return status === 200 ? Response.json({}) : new Response("no", { status });
  });
  return {
    got,
    origin: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** An OTLP `KeyValue` list as a plain object: string, int (as a number), bool. */
function attrs(list: { key: string; value: Record<string, unknown> }[]): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => {
    if ("intValue" in value) return [key, Number(value.intValue)];
    return [key, value.stringValue ?? value.boolValue ?? value.doubleValue];
  }));
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code?: number; message?: string };
}

/** Every span of the trace requests a receiver got. */
function spansOf(got: Received[]): Span[] {
  return got.filter((r) => r.path === "/v1/traces").flatMap((r) =>
    JSON.parse(r.body).resourceSpans.flatMap((rs: { scopeSpans: { spans: Span[] }[] }) =>
      rs.scopeSpans.flatMap((ss) => ss.spans)
    )
  );
}

/** The points of a counter in the last metrics request a receiver got, as `attribute value -> count`. */
function counter(got: Received[], name: string): Record<string, number> {
  const last = got.filter((r) => r.path === "/v1/metrics").at(-1);
  assert.ok(last, "no metrics request");
  const metrics = JSON.parse(last.body).resourceMetrics[0].scopeMetrics[0].metrics;
  const metric = metrics.find((m: { name: string }) => m.name === name);
  assert.ok(metric, `no metric ${name}`);
  assert.equal(metric.sum.isMonotonic, true);
  assert.equal(metric.sum.aggregationTemporality, 2);
  return Object.fromEntries(
    metric.sum.dataPoints.map((p: { attributes: Span["attributes"]; asInt: string }) => [
      Object.values(attrs(p.attributes))[0],
      Number(p.asInt),
    ]),
  );
}

/** Runs an agent through `runAgent`, as `ironclaw run` does, and waits for its end and its export. */
async function runExported(agent: AgentDir, task: string) {
  const policy = await loadPolicy(agent.manifest, agent.config, { home: "/nonexistent-home" });
  const events: RunEvent[] = [];
  const handle = await runAgent(policy, agent.config, { task, onEvent: (e) => events.push(e) });
  const outcome: RunOutcome = await handle.done;
  await handle.exported;
  return { outcome, events, exported: handle.exported };
}

const telemetryToml = (endpoint: string, extra = "") =>
  `[telemetry]\notlp_endpoint = "${endpoint}"\nservice_name = "ironclaw-test"\n${extra}`;

Deno.test("a run's trace and counters reach an OTLP receiver, with no secret in any byte", async (t) => {
  const id = crypto.randomUUID().slice(0, 8);
  const S = {
    task: `task-secret-${id}`,
    file: `file-secret-${id}`,
    header: `header-secret-${id}`,
    injected: `injected-secret-${id}`,
    model: `model-secret-${id}`,
  };
  await using receiver = otlpReceiver();
  await using echo = countingServer((req) => new Response(`you sent: ${req.headers.get("authorization")}`));
  const fetchTo = (url: string) => ({
    name: "http_fetch",
    arguments: { url, headers: { "x-api-key": S.header } },
  });
  await using agent = await loopAgent({
    kind: "react",
    extra: `[capabilities.net]\nallow = ["127.0.0.1:${echo.port}"]\n[capabilities.secrets]\nuse = ["svc"]\n`,
    turns: [
      {
        reply: {
          content: "",
          toolCalls: [{ name: "write_file", arguments: { path: "out/a.txt", content: S.file } }],
        },
        usage: { inputTokens: 11, outputTokens: 7 },
      },
      { reply: { content: "", toolCalls: [{ name: "read_file", arguments: { path: "../secret.txt" } }] } },
      // A path that holds a secret's value: policy-relevant, so exported, but redacted.
      {
        reply: {
          content: "",
          toolCalls: [{ name: "read_file", arguments: { path: `data/${S.injected}.csv` } }],
        },
      },
      { reply: { content: "", toolCalls: [fetchTo(`${echo.origin}/?q=${S.header}`)] } },
      { reply: { content: "", toolCalls: [fetchTo(`http://127.0.0.1:9/?q=${S.header}`)] } },
      { reply: { content: `Done: ${S.model}` } },
    ],
  });
  const config = await Deno.readTextFile(join(agent.dir, "ironclaw.toml"));
  await withConfig(
    agent,
    config + `\n[secrets.svc]\nenv = "IRONCLAW_TEST_OTLP_SECRET"\nhosts = ["127.0.0.1:${echo.port}"]\n` +
      telemetryToml(
        receiver.origin,
        `[telemetry.headers]\nx-otlp-key = { env = "IRONCLAW_TEST_OTLP_KEY", format = "Key {value}" }\n`,
      ),
  );
  Deno.env.set("IRONCLAW_TEST_OTLP_SECRET", S.injected);
  Deno.env.set("IRONCLAW_TEST_OTLP_KEY", "k3y");
  let ran;
  try {
    ran = await runExported(agent, `Use ${S.task} and go`);
  } finally {
    Deno.env.delete("IRONCLAW_TEST_OTLP_SECRET");
    Deno.env.delete("IRONCLAW_TEST_OTLP_KEY");
  }
  const { outcome, events } = ran;
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));

  await t.step("the secrets were really used, so their absence below means something", async () => {
    assert.equal(await Deno.readTextFile(join(agent.dir, "out/a.txt")), S.file);
    assert.deepEqual(echo.headers.map((h) => h.get("authorization")), [`Bearer ${S.injected}`]);
    assert.deepEqual(echo.headers.map((h) => h.get("x-api-key")), [S.header]);
    assert.ok(outcome.output?.includes(S.model));
    // The refused fetch's arguments are recorded as sent, header value included: telemetry must drop them.
    assert.ok((await recordText(agent, outcome.id)).includes(S.header));
  });

  await t.step("traces and metrics are POSTed as JSON with the configured header", () => {
    assert.deepEqual(receiver.got.map((r) => `${r.method} ${r.path}`).sort(), [
      "POST /v1/metrics",
      "POST /v1/traces",
    ]);
    for (const r of receiver.got) {
      assert.equal(r.headers.get("content-type"), "application/json");
      assert.equal(r.headers.get("x-otlp-key"), "Key k3y");
      const resource = attrs(
        (JSON.parse(r.body).resourceSpans ?? JSON.parse(r.body).resourceMetrics)[0].resource.attributes,
      );
      assert.equal(resource["service.name"], "ironclaw-test");
    }
  });

  await t.step("no secret is in any byte the receiver got", () => {
    const all = receiver.got.map((r) => r.body).join("\n");
    for (const [what, value] of Object.entries(S)) {
      assert.ok(!all.includes(value), `the ${what} secret was exported`);
    }
    assert.ok(!all.includes("the secret outside the grants"));
  });

  const spans = spansOf(receiver.got);
  const run = spans.find((s) => s.name === "ironclaw.run")!;
  const children = spans.filter((s) => s !== run);

  await t.step("one trace: the run's span, and every other span its child", () => {
    assert.ok(run, "no ironclaw.run span");
    assert.match(run.traceId, /^[0-9a-f]{32}$/);
    assert.equal(run.parentSpanId ?? "", "");
    assert.equal(new Set(spans.map((s) => s.traceId)).size, 1);
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length);
    for (const s of spans) {
      assert.match(s.spanId, /^[0-9a-f]{16}$/);
      assert.match(s.startTimeUnixNano, /^\d{19}$/);
      assert.ok(BigInt(s.startTimeUnixNano) <= BigInt(s.endTimeUnixNano), s.name);
    }
    for (const c of children) assert.equal(c.parentSpanId, run.spanId, c.name);
    const near = Math.abs(Number(BigInt(run.endTimeUnixNano) / 1_000_000n) - Date.now());
    assert.ok(near < 10 * 60_000, "the run's end is not a time of today");
  });

  await t.step("the run's span carries its facts", () => {
    const a = attrs(run.attributes);
    assert.equal(a["ironclaw.run.id"], outcome.id);
    assert.equal(a["ironclaw.agent.name"], "loop");
    assert.equal(a["ironclaw.agent.kind"], "react");
    assert.equal(a["ironclaw.run.state"], "ok");
    assert.equal(a["ironclaw.run.exit_code"], 0);
    assert.equal(a["ironclaw.model.calls"], 6);
    assert.equal(a["ironclaw.task.bytes"], `Use ${S.task} and go`.length);
    const usage = events.find((e) => e.type === "model-usage")!;
    assert.equal(a["gen_ai.usage.input_tokens"], usage.inputTokens);
    assert.equal(a["gen_ai.usage.output_tokens"], usage.outputTokens);
    assert.equal(run.status.code ?? 0, 0);
  });

  await t.step("a span per gate call, the denial with its rule, its code and error status", () => {
    const gates = events.filter((e) => e.type === "gate");
    const gateSpans = children.filter((s) => s.name.startsWith("gate "));
    assert.deepEqual(gateSpans.map((s) => s.name), gates.map((e) => `gate ${e.op}`));
    const denied = gates.filter((e) => e.decision === "deny");
    assert.ok(denied.length >= 2, JSON.stringify(gates));
    const deniedSpans = gateSpans.filter((s) => attrs(s.attributes)["ironclaw.gate.decision"] === "denied");
    assert.deepEqual(
      deniedSpans.map((s) => attrs(s.attributes)["ironclaw.gate.rule"]),
      denied.map((e) => e.rule),
    );
    for (const s of deniedSpans) {
      assert.equal(attrs(s.attributes)["ironclaw.error.code"], "ERR_CAPABILITY_DENIED");
      assert.equal(s.status.code, 2);
    }
    const read = attrs(deniedSpans.find((s) => s.name === "gate fs.read")!.attributes);
    assert.equal(read["ironclaw.gate.path"], "../secret.txt");
    const missing = gateSpans.map((s) => attrs(s.attributes)).find((a) =>
      a["ironclaw.error.code"] === "ERR_NOT_FOUND"
    );
    assert.equal(missing?.["ironclaw.gate.path"], "data/[redacted].csv");
    const fetches = gateSpans.filter((s) => s.name === "gate http.fetch").map((s) => attrs(s.attributes));
    assert.deepEqual(fetches.map((a) => [a["ironclaw.gate.decision"], a["ironclaw.gate.host"]]), [
      ["allowed", `127.0.0.1:${echo.port}`],
      ["denied", "127.0.0.1:9"],
    ]);
  });

  await t.step("a span per model call with its model, tokens and latency; a span per tool call", () => {
    const models = children.filter((s) => s.name === "model m");
    assert.equal(models.length, events.filter((e) => e.type === "model").length);
    const first = attrs(models[0]!.attributes);
    assert.match(String(first["gen_ai.response.model"]), /^scripted:/);
    assert.equal(first["gen_ai.usage.input_tokens"], 11);
    assert.equal(first["gen_ai.usage.output_tokens"], 7);
    assert.equal(typeof first["ironclaw.model.latency_ms"], "number");
    assert.equal(models[0]!.kind, 3);
    const tools = children.filter((s) => s.name.startsWith("tool ")).map((s) => attrs(s.attributes));
    assert.deepEqual(tools.map((a) => [a["ironclaw.tool.name"], a["ironclaw.tool.ok"]]), [
      ["write_file", true],
      ["read_file", false],
      ["read_file", false],
      ["http_fetch", true],
      ["http_fetch", false],
    ]);
  });

  await t.step("the counters: runs by end state, denials by rule", () => {
    assert.deepEqual(counter(receiver.got, "ironclaw.runs"), { ok: 1 });
    const byRule: Record<string, number> = {};
    for (const e of events.filter((e) => e.type === "gate" && e.decision === "deny")) {
      byRule[String(e.rule)] = (byRule[String(e.rule)] ?? 0) + 1;
    }
    assert.deepEqual(counter(receiver.got, "ironclaw.gate.denials"), byRule);
  });
});

Deno.test("without [telemetry] nothing is sent", async () => {
  await using receiver = otlpReceiver();
  await using agent = await agentDir(PROBE);
  // The receiver is reachable and granted, as a collector next to the agent would be: still, nothing goes there.
  await withConfig(agent, `[runtime]\nstate_dir = "state"\n`);
  const ran = await runExported(agent, JSON.stringify({ calls: [["fs.read", { path: "../secret.txt" }]] }));
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  assert.equal(ran.exported, undefined);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(receiver.got, []);
});

Deno.test("a receiver that fails, or is gone, leaves the run's outcome and record intact", async (t) => {
  const check = async (endpoint: string) => {
    await using agent = await agentDir(PROBE);
    await withConfig(agent, `[runtime]\nstate_dir = "state"\n` + telemetryToml(endpoint, "timeout_s = 2\n"));
    const ran = await runExported(agent, JSON.stringify({ calls: [["fs.read", { path: "notes/a.txt" }]] }));
    assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
    assert.equal(ran.outcome.exitCode, 0);
    assert.deepEqual(JSON.parse(ran.outcome.output!)[0].ok, { data: "note a\n" });
    const record = await showRun(agent.config.runtime.state_dir, ran.outcome.id);
    assert.equal(record.summary.state, "ok");
    assert.equal(record.events.at(-1)?.type, "end");
  };
  await t.step("a receiver answering 500", async () => {
    await using receiver = otlpReceiver(500);
    await check(receiver.origin);
    assert.equal(receiver.got.length, 2, "the export was tried");
  });
  await t.step("a receiver that is gone", async () => {
    const gone = otlpReceiver();
    const origin = gone.origin;
    await gone[Symbol.asyncDispose]();
    await check(origin);
  });
});

Deno.test("ironclaw check names where telemetry goes; ironclaw run exports before it exits", async () => {
  await using receiver = otlpReceiver();
  await using agent = await agentDir(PROBE);
  const configPath = join(agent.dir, "ironclaw.toml");
  await withConfig(agent, `[runtime]\nstate_dir = "state"\n` + telemetryToml(receiver.origin));
  const check = await runCli(["check", agent.manifest, "--config", configPath]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, new RegExp(`telemetry runs exported to ${receiver.origin} \\(OTLP/HTTP\\)`));
  const checked = await runCli(["check", agent.manifest, "--json", "--config", configPath]);
  assert.deepEqual(JSON.parse(checked.stdout).telemetry, { otlp_endpoint: receiver.origin });
  const task = JSON.stringify({ calls: [["fs.read", { path: "../secret.txt" }]] });
  const r = await runCli(["run", agent.manifest, "--task", task, "--config", configPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(receiver.got.map((g) => g.path).sort(), ["/v1/metrics", "/v1/traces"]);
  const run = spansOf(receiver.got).find((s) => s.name === "ironclaw.run")!;
  assert.equal(attrs(run.attributes)["ironclaw.agent.name"], "probe");
  assert.deepEqual(Object.keys(counter(receiver.got, "ironclaw.gate.denials")).length, 1);
  // A receiver that is gone: the run's result and exit code are the same, and the failure is one warning.
  const gone = otlpReceiver();
  await gone[Symbol.asyncDispose]();
  await withConfig(agent, `[runtime]\nstate_dir = "state"\n` + telemetryToml(gone.origin));
  const failed = await runCli(["run", agent.manifest, "--task", task, "--config", configPath]);
  assert.equal(failed.code, 0, failed.stderr);
  assert.equal(failed.stdout, r.stdout);
  const warnings = failed.stderr.match(/Telemetry export to \S+ failed/g) ?? [];
  assert.equal(warnings.length, 1, failed.stderr);
});

Deno.test("a worker exports each run it ran, the counters adding up, before its end", async () => {
  await using receiver = otlpReceiver();
  await using agent = await agentDir(PROBE);
  await withConfig(agent, `[runtime]\nstate_dir = "state"\n` + telemetryToml(receiver.origin));
  const store = await openStore(agent.config.runtime.state_dir);
  try {
    const tasks = [
      { calls: [["fs.read", { path: "../secret.txt" }]] },
      { calls: [["fs.read", { path: "../secret.txt" }], ["fs.write", { path: "notes/x", data: "x" }]] },
    ];
    const ids: string[] = [];
    for (const [i, task] of tasks.entries()) {
      const id = `${newRunId()}-${i}`;
      await store.enqueueRun({
        id,
        agent: "probe",
        manifest: agent.manifest,
        task: JSON.stringify(task),
        started: new Date().toISOString(),
        retries: 0,
      });
      ids.push(id);
    }
    const drain = new AbortController();
    let ended = 0;
    const worker = startWorker({
      config: agent.config,
      store,
      concurrency: 2,
      drain: drain.signal,
      onEvent: (e) => {
        if (e.type === "ended" && ++ended === tasks.length) drain.abort();
      },
    });
    const summary = await worker.done;
    assert.equal(summary.ran, 2);
    // The worker's end waited for the exports.
    assert.equal(receiver.got.filter((r) => r.path === "/v1/traces").length, 2);
    const runIds = spansOf(receiver.got).filter((s) => s.name === "ironclaw.run").map((s) =>
      attrs(s.attributes)["ironclaw.run.id"]
    );
    assert.deepEqual(runIds.sort(), ids.sort());
    // Cumulative: the later of the two metrics requests counts both runs and all three denials.
    const metrics = receiver.got.filter((r) => r.path === "/v1/metrics");
    const totals = metrics.map((_, i) => counter(metrics.slice(0, i + 1), "ironclaw.runs").ok ?? 0);
    assert.deepEqual(totals.sort(), [1, 2]);
    const denials = metrics.map((_, i) =>
      Object.values(counter(metrics.slice(0, i + 1), "ironclaw.gate.denials")).reduce((a, b) => a + b, 0)
    );
    assert.equal(Math.max(...denials), 3);
  } finally {
    await store.close();
  }
});

Deno.test("ironclaw serve exports the runs submitted to it, model calls of a real HTTP provider included", async () => {
  await using receiver = otlpReceiver();
  await using model = slowModel(0);
  await using setup = await queueSetup({ model: model.origin, url: null, retries: 0 });
  await Deno.writeTextFile(setup.config, "\n" + telemetryToml(receiver.origin), { append: true });
  const config = await loadRuntimeConfig({ path: setup.config });
  const server = await startServer({ config, agentsDir: setup.agents, port: 0, concurrency: 1 });
  try {
    const posted = await fetch(`${server.url}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
      body: JSON.stringify({ agent: "slow", task: "task-0" }),
    });
    assert.equal(posted.status, 201);
    const { id } = await posted.json();
    await until(() => receiver.got.some((r) => r.path === "/v1/metrics"), {
      ms: 120_000,
      what: "the export",
    });
    const spans = spansOf(receiver.got);
    const run = spans.find((s) => s.name === "ironclaw.run")!;
    assert.equal(attrs(run.attributes)["ironclaw.run.id"], id);
    assert.equal(attrs(run.attributes)["ironclaw.run.state"], "ok");
    const calls = spans.filter((s) => s.name === "model slow");
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.parentSpanId, run.spanId);
    assert.equal(attrs(calls[0]!.attributes)["gen_ai.response.model"], "m");
    assert.deepEqual(counter(receiver.got, "ironclaw.runs"), { ok: 1 });
  } finally {
    await server.close({ stop: true });
  }
});
