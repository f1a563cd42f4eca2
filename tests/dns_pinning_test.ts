/**
 * DNS pinning, end to end, against a real DNS server on loopback (tests/_dns.ts, made the run's name server by
 * `[runtime] name_server`) and real HTTP servers:
 *
 * - a name that answers a public address when the run starts and 127.0.0.1 afterwards (DNS rebinding) is
 *   reached at the start-time address only, and a loopback server on the same port sees no connection;
 * - the sandbox process cannot resolve a name itself: its `--allow-net` lists addresses, so a request by name
 *   with the gate's checks off is refused by the process flags (on the old flags, with names, it went through);
 * - a forged `dns.resolve` for a name the run was not granted is refused, and reaches no name server.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { isPrivateAddress } from "../capabilities/net.ts";
import { toDenoFlags } from "../capabilities/deno_flags.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { PLACEHOLDER_RUN_ID, planRun } from "../supervisor/plan.ts";
import { channelPath, withChannel } from "../supervisor/channel.ts";
import { newRunId } from "../supervisor/records.ts";
import { pinGrantedHosts } from "../supervisor/resolver.ts";
import { startRun } from "../supervisor/supervisor.ts";
import { sandboxEntry } from "../supervisor/assets.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { RunAgentOptions } from "../supervisor/run.ts";
import { ROOT } from "./_cli.ts";
import { dnsServer } from "./_dns.ts";
import { agentDir, countingServer, type LoopbackServer, PROBE, probeCalls, withConfig } from "./_sandbox.ts";

/** An address of this machine that the gate does not count as private, to stand for a public host. */
const PUBLIC = Deno.networkInterfaces().find((i) => i.family === "IPv4" && !isPrivateAddress(i.address))
  ?.address;

const SECRET_VAR = "IRONCLAW_DNS_TEST_SECRET";

/** A server on `hostname`:`port` that keeps what it was sent, answering `body`. */
function server(hostname: string, port: number, body: string): LoopbackServer {
  const hits: string[] = [];
  const headers: Headers[] = [];
  const s = Deno.serve({ hostname, port, onListen: () => {} }, (req) => {
    hits.push(`${req.method} ${new URL(req.url).pathname}`);
    headers.push(req.headers);
    return new Response(body);
  });
  return {
    port: s.addr.port,
    origin: `http://${hostname}:${s.addr.port}`,
    hits,
    headers,
    [Symbol.asyncDispose]: () => s.shutdown(),
  };
}

const MODES: { name: string; options: Omit<RunAgentOptions, "task" | "onEvent"> }[] = [
  { name: "process mode", options: {} },
  { name: "worker mode", options: { sandboxMode: "worker" } },
];

for (const { name, options } of MODES) {
  Deno.test({
    name:
      `a name that rebinds to loopback after the start is reached at its start-time address only (${name})`,
    ignore: PUBLIC === undefined,
    fn: async (t) => {
      await using pub = server(PUBLIC!, 0, "public");
      await using loopback = server("127.0.0.1", pub.port, "loopback: must not be reached");
      await using dns = await dnsServer(({ name, type }, n) => {
        if (name !== "rebind.test") return null;
        if (type === "A") return n === 1 ? [PUBLIC!] : ["127.0.0.1"];
        return n === 1 ? [] : ["::1"];
      });
      const grant = `rebind.test:${pub.port}`;
      await using agent = await agentDir(
        PROBE,
        `[capabilities.net]\nallow = ["${grant}"]\n[capabilities.secrets]\nuse = ["svc"]\n`,
      );
      await withConfig(
        agent,
        `[runtime]\nstate_dir = "state"\nname_server = "127.0.0.1:${dns.port}"\n` +
          `[secrets.svc]\nenv = "${SECRET_VAR}"\nhosts = ["rebind.test"]\n`,
      );
      const checked = await planRun(agent.manifest, agent.config, {
        check: true,
        ...(options.sandboxMode ? { sandboxMode: options.sandboxMode } : {}),
      });
      Deno.env.set(SECRET_VAR, "pinned-secret");
      const fetches: [string, unknown][] = ["/one", "/two"].map((
        p,
      ) => ["http.fetch", { url: `http://rebind.test:${pub.port}${p}` }]);
      const { replies, ran } = await probeCalls(agent, fetches, options).finally(() =>
        Deno.env.delete(SECRET_VAR)
      );

      await t.step("the name server now answers loopback: the name did rebind", async () => {
        const now = await Deno.resolveDns("rebind.test", "A", {
          nameServer: { ipAddr: "127.0.0.1", port: dns.port },
        });
        assert.deepEqual(now, ["127.0.0.1"]);
      });
      await t.step("both requests reached the start-time address, with the secret injected", () => {
        for (const r of replies) {
          assert.deepEqual((r.ok as { status: number; body: string }).body, "public", JSON.stringify(r));
        }
        assert.deepEqual(pub.hits, ["GET /one", "GET /two"]);
        assert.deepEqual(pub.headers.map((h) => h.get("authorization")), [
          "Bearer pinned-secret",
          "Bearer pinned-secret",
        ]);
        assert.deepEqual(pub.headers.map((h) => h.get("host")), [grant, grant]);
      });
      await t.step("the loopback server on the same port saw no connection", () => {
        assert.deepEqual(loopback.hits, []);
      });
      await t.step("the name was looked up once, when the run started", () => {
        const before = dns.queries.slice(0, -1); // the last one is this test's own lookup, above
        assert.deepEqual(before.filter((q) => q.type === "A").map((q) => q.name), ["rebind.test"]);
        const answers = ran.events.filter((e) => e.type === "dns");
        assert.deepEqual(answers.map((e) => [e.host, e.decision, e.addresses]), [
          ["rebind.test", "allow", [PUBLIC]],
          ["rebind.test", "allow", [PUBLIC]],
        ]);
      });
      await t.step(
        "the run's flags list the address; check shows the name, and the commands agree otherwise",
        () => {
          const command = ran.events.find((e) => e.type === "run")?.command as string[];
          assert.ok(command.includes(`--allow-net=${PUBLIC}:${pub.port}`), command.join(" "));
          assert.ok(!command.some((arg) => arg.includes("rebind.test")), command.join(" "));
          const runId = ran.events.find((e) => e.type === "run")?.id as string;
          const shown = checked.command.map((a) => a.replaceAll(PLACEHOLDER_RUN_ID, runId));
          assert.ok(shown.includes(`--allow-net=${grant}`), shown.join(" "));
          const net = (c: string[]) => c.map((a) => (a.startsWith("--allow-net=") ? "--allow-net=" : a));
          const entry = (c: string[]) => c.filter((a) => !a.startsWith("--allow-read="));
          assert.deepEqual(entry(net(command)), entry(net(shown)));
        },
      );
    },
  });
}

Deno.test("the sandbox cannot resolve a name itself: with the gate's checks off, the process flags refuse it", async (t) => {
  for (const { name, options } of MODES) {
    await t.step(name, async () => {
      await using target = countingServer();
      await using agent = await agentDir(PROBE, `[capabilities.net]\nallow = ["localhost:${target.port}"]\n`);
      const { replies, ran } = await probeCalls(agent, [
        ["http.fetch", { url: `http://localhost:${target.port}/by-name` }],
        ["http.fetch", { url: `http://127.0.0.1:${target.port}/by-address` }],
      ], {
        ...options,
        unsafeDisableGateChecks: true,
        ...(options.sandboxMode === "worker" ? { unsafeWidenProcessFlags: true } : {}),
      });
      const command = ran.events.find((e) => e.type === "run")?.command as string[];
      if (options.sandboxMode !== "worker") {
        assert.ok(
          command.includes(`--allow-net=127.0.0.1:${target.port},[::1]:${target.port}`),
          command.join(" "),
        );
      }
      assert.equal(replies[0]?.error?.code, "ERR_CAPABILITY_DENIED", JSON.stringify(replies[0]));
      const gate = ran.events.filter((e) => e.type === "gate");
      assert.equal(gate[0]?.rule, "deno-flags");
      // The address the name was pinned to stays reachable: only the name is refused.
      assert.equal(
        (replies[1]?.ok as { status: number } | undefined)?.status,
        200,
        JSON.stringify(replies[1]),
      );
      assert.deepEqual(target.hits, ["GET /by-address"]);
    });
  }
});

Deno.test("a forged dns.resolve for a name not granted is refused, recorded, and reaches no name server", async () => {
  await using dns = await dnsServer(({ name }) => (name === "granted.test" ? ["192.0.2.44"] : []));
  await using agent = await agentDir(
    PROBE,
    `[capabilities.net]\nallow = ["granted.test:443", "*.wild.test"]\n`,
  );
  await withConfig(agent, `[runtime]\nstate_dir = "state"\nname_server = "127.0.0.1:${dns.port}"\n`);
  const policy = await loadPolicy(agent.manifest, agent.config);
  const pinned = await pinGrantedHosts(policy.net, { nameServer: agent.config.runtime.name_server });
  const runtime = { read: [sandboxEntry().dir], write: [], moduleFormat: policy.agent.moduleFormat };
  const names = ["granted.test", "c2VjcmV0IGRhdGE.exfil.test", "x.wild.test"];
  const events: RunEvent[] = [];
  const stateDir = agent.config.runtime.state_dir;
  const id = newRunId();
  const outcome = await (await startRun(policy, {
    task: "",
    stateDir,
    module: null,
    runtime,
    pinned,
    id,
    onEvent: (e) => events.push(e),
    command: withChannel(
      [
        Deno.execPath(),
        "run",
        ...toDenoFlags(policy, { runtime, pinned }),
        join(ROOT, "tests/children/hostile.ts"),
        "dns",
        ...names,
      ],
      channelPath(stateDir, id),
    ),
  })).done;
  assert.equal(outcome.state, "ok", JSON.stringify(outcome));
  const replies = JSON.parse(outcome.output!) as {
    ok: boolean;
    result?: unknown;
    error?: { code: string };
  }[];
  assert.deepEqual(replies[0]?.result, { addresses: ["192.0.2.44"] });
  assert.equal(replies[1]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.equal(replies[2]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.deepEqual(
    events.filter((e) => e.type === "dns").map((e) => [e.host, e.decision]),
    [["granted.test", "allow"], ["c2vjcmv0igrhdge.exfil.test", "deny"], ["x.wild.test", "deny"]],
  );
  assert.deepEqual(
    [...new Set(dns.queries.map((q) => q.name))],
    ["granted.test"],
    "only the start-time lookup",
  );
});
