/**
 * Escapes attempted from inside real agents, against real sandboxes: each is
 * refused by the host gate with its exact code, and refused again by the
 * sandbox process's Deno flags when a test-only switch turns the gate off.
 * The same suite runs in worker mode (the agent side in a Worker whose
 * permissions are the Policy's, as in a compiled binary): with the gate, and
 * with the gate off and the process widened to `--allow-all`, so the Worker's
 * permissions are the only wall left. Every test checks the effect on the
 * world (the file, the socket, the process), not only the answer.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { agentDir, countingServer, PROBE, probeCalls, run, which } from "./_sandbox.ts";
import type { RunAgentOptions } from "../supervisor/run.ts";

const TEST_VAR = "IRONCLAW_ESCAPE_TEST_VAR";

interface Attack {
  name: string;
  call: [string, unknown];
  /** The rule of the gate that refuses it (gate on). */
  rule: string;
  /** Checked after the run: the attack had no effect. */
  noEffect?: (dir: string) => Promise<void>;
}

async function absent(path: string) {
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound, `${path} must not exist`);
}

function attacks(dir: string, port: number, closedPort: number): Attack[] {
  return [
    { name: "read with ..", call: ["fs.read", { path: "../secret.txt" }], rule: "fs.read" },
    {
      name: "read beside the grants by ..",
      call: ["fs.read", { path: "notes/../secret.txt" }],
      rule: "fs.read",
    },
    { name: "read an absolute path", call: ["fs.read", { path: join(dir, "secret.txt") }], rule: "fs.read" },
    { name: "read a system file", call: ["fs.read", { path: "/etc/hostname" }], rule: "fs.read" },
    { name: "list the manifest's folder", call: ["fs.list", { path: "." }], rule: "fs.read" },
    {
      name: "write into a read-only grant",
      call: ["fs.write", { path: "notes/pwned.txt", data: "x" }],
      rule: "fs.write",
      noEffect: () => absent(join(dir, "notes", "pwned.txt")),
    },
    {
      name: "write outside by ..",
      call: ["fs.write", { path: "out/../pwned.txt", data: "x" }],
      rule: "fs.write",
      noEffect: () => absent(join(dir, "pwned.txt")),
    },
    {
      name: "overwrite the manifest",
      call: ["fs.write", { path: "agent.toml", data: "[agent]" }],
      rule: "fs.write",
      noEffect: async () => assert.match(await Deno.readTextFile(join(dir, "agent.toml")), /name = "probe"/),
    },
    {
      name: "fetch a port not granted",
      call: ["http.fetch", { url: `http://127.0.0.1:${closedPort}/x` }],
      rule: "net",
    },
    {
      name: "fetch a host not granted",
      call: ["http.fetch", { url: `http://127.0.0.2:${port}/x` }],
      rule: "net",
    },
    { name: "read a variable not granted", call: ["env.get", { name: "HOME" }], rule: "env" },
    { name: "read PATH", call: ["env.get", { name: "PATH" }], rule: "env" },
    {
      name: "run a program not granted",
      call: ["proc.run", { cmd: which("touch"), args: [join(dir, "touched")] }],
      rule: "run",
      noEffect: () => absent(join(dir, "touched")),
    },
    {
      name: "run a shell",
      call: ["proc.run", { cmd: which("sh"), args: ["-c", `echo x > ${join(dir, "shelled")}`] }],
      rule: "run",
      noEffect: () => absent(join(dir, "shelled")),
    },
  ];
}

/** The walls each run of the suite leaves standing. */
const WALLS: {
  name: string;
  gate: "on" | "off";
  options: Omit<RunAgentOptions, "task" | "onEvent"> & { pooled?: boolean };
}[] = [
  { name: "gate on", gate: "on", options: {} },
  { name: "a pooled sandbox, started before its task, gate on", gate: "on", options: { pooled: true } },
  { name: "gate off", gate: "off", options: { unsafeDisableGateChecks: true } },
  { name: "worker mode, gate on", gate: "on", options: { sandboxMode: "worker" } },
  {
    name: "worker mode, gate off, process --allow-all: the Worker's permissions alone",
    gate: "off",
    options: { sandboxMode: "worker", unsafeDisableGateChecks: true, unsafeWidenProcessFlags: true },
  },
];

for (const { name, gate, options } of WALLS) {
  Deno.test(`escapes from a component agent are refused (${name})`, async (t) => {
    await using server = countingServer();
    await using other = countingServer();
    const extra = `[capabilities.net]\nallow = ["127.0.0.1:${server.port}"]\n\n` +
      `[capabilities.env]\nallow = ["${TEST_VAR}"]\n\n[capabilities.run]\ndangerous = true\nallow = ["echo"]\n`;
    await using agent = await agentDir(PROBE, extra);
    Deno.env.set(TEST_VAR, "granted value");
    const list = attacks(agent.dir, server.port, other.port);
    const allowed: [string, unknown][] = [
      ["fs.read", { path: "notes/a.txt" }],
      ["fs.write", { path: "out/result.txt", data: "fine" }],
      ["fs.list", { path: "notes" }],
      ["http.fetch", { url: `http://127.0.0.1:${server.port}/granted` }],
      ["env.get", { name: TEST_VAR }],
      ["proc.run", { cmd: "echo", args: ["from", "echo"] }],
    ];
    const { replies, ran } = await probeCalls(agent, [...allowed, ...list.map((a) => a.call)], options);
    Deno.env.delete(TEST_VAR);

    await t.step("the sandbox ran with the walls this run means", () => {
      const runEvent = ran.events.find((e) => e.type === "run");
      assert.equal(runEvent?.pooled === true, options.pooled === true);
      if (options.pooled) {
        // The component's guest Worker was made before the task was known, and the run used that sandbox.
        const timing = ran.events.find((e) => e.type === "timing");
        assert.equal(timing?.phase, "pool");
        assert.deepEqual(timing?.warmed, ["guest worker", "compiled module"]);
      }
      const command = runEvent?.command as string[];
      assert.equal(command.includes("--mode=worker"), options.sandboxMode === "worker");
      assert.equal(command.includes("--allow-all"), options.unsafeWidenProcessFlags === true);
      assert.ok(!command.includes("--allow-all") || options.sandboxMode === "worker");
    });

    await t.step("what is granted works", async () => {
      const [read, write, ls, fetched, env, proc] = replies as { ok: Record<string, unknown> }[];
      assert.deepEqual(read?.ok, { data: "note a\n" });
      assert.deepEqual(write?.ok, { bytes: 4 });
      assert.equal(await Deno.readTextFile(join(agent.dir, "out", "result.txt")), "fine");
      assert.deepEqual(ls?.ok, {
        entries: [{ name: "a.txt", kind: "file", size: 7 }],
        total: 1,
        truncated: false,
      });
      assert.equal(fetched?.ok.status, 200);
      assert.equal(fetched?.ok.body, "hello from loopback");
      assert.deepEqual(env?.ok, { value: "granted value" });
      assert.deepEqual(proc?.ok, { code: 0, stdout: "from echo\n", stderr: "" });
    });

    for (const [n, attack] of list.entries()) {
      await t.step(attack.name, async () => {
        const reply = replies[allowed.length + n];
        assert.equal(reply?.error?.code, "ERR_CAPABILITY_DENIED", JSON.stringify(reply));
        assert.ok(reply.error.hint.length > 0);
        const decision = ran.events.filter((e) => e.type === "gate")[allowed.length + n];
        assert.equal(decision?.decision, "deny");
        assert.equal(decision?.rule, gate === "on" ? attack.rule : "deno-flags", JSON.stringify(decision));
        await attack.noEffect?.(agent.dir);
      });
    }
    await t.step("no request reached a server it was not granted", () => {
      assert.deepEqual(server.hits, ["GET /granted"]);
      assert.deepEqual(other.hits, []);
    });
    await t.step("the sandbox process is gone", () => {
      assert.equal(ran.outcome.state, "ok");
    });
  });
}

Deno.test("a granted host name that resolves to a loopback address is refused by the gate", async () => {
  await using server = countingServer();
  await using agent = await agentDir(PROBE, `[capabilities.net]\nallow = ["localhost:${server.port}"]\n`);
  const { replies, ran } = await probeCalls(agent, [["http.fetch", {
    url: `http://localhost:${server.port}/`,
  }]]);
  assert.equal(replies[0]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.match(replies[0]!.error!.hint, new RegExp(`127\\.0\\.0\\.1:${server.port}`));
  assert.equal(ran.events.find((e) => e.type === "gate")?.rule, "net.private");
  assert.deepEqual(server.hits, []);
});

Deno.test("a granted name that cannot be resolved is refused (the supervisor resolves names, failing closed)", async () => {
  await using agent = await agentDir(PROBE, `[capabilities.net]\nallow = ["no-such-host.invalid:80"]\n`);
  const { replies, ran } = await probeCalls(agent, [["http.fetch", { url: "http://no-such-host.invalid/" }]]);
  assert.equal(replies[0]?.error?.code, "ERR_CAPABILITY_DENIED");
  assert.equal(ran.events.find((e) => e.type === "gate")?.rule, "net.dns");
});

Deno.test("the gate refuses bad arguments and unknown ops with typed errors", async () => {
  await using agent = await agentDir(PROBE);
  const { replies } = await probeCalls(agent, [
    ["fs.read", {}],
    ["fs.read", { path: "notes/missing.txt" }],
    ["fs.read", { path: "notes/a.txt", encoding: "latin1" }],
    ["no.such.op", {}],
    ["model.complete", {}],
    ["http.fetch", { url: "file:///etc/passwd" }],
  ]);
  assert.deepEqual(replies.map((r) => r.error?.code), [
    "ERR_INVALID_ARGS",
    "ERR_NOT_FOUND",
    "ERR_INVALID_ARGS",
    "ERR_INVALID_ARGS",
    "ERR_UNSUPPORTED",
    "ERR_CAPABILITY_DENIED",
  ]);
});

Deno.test("a guest sees no ambient globals", async () => {
  await using agent = await agentDir(PROBE);
  const ran = await run(agent, JSON.stringify({ do: "globals" }));
  assert.deepEqual(JSON.parse(ran.outcome.output!), {
    fetch: "undefined",
    Deno: "undefined",
    process: "undefined",
    require: "undefined",
    WebAssembly: "undefined",
    setTimeout: "undefined",
  });
});
