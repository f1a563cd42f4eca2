/**
 * A WASI preview1 agent (C) in a real sandbox: its preopens are exactly the
 * granted folders, a read-only grant stays read-only, it cannot make links,
 * and the host gate answers it through the `ironclaw` import module.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { agentDir, PROBE_C, run } from "./_sandbox.ts";

async function lines(task: string[], extra = "") {
  await using agent = await agentDir(PROBE_C, extra);
  const ran = await run(agent, task.join("\n"));
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  const out = (ran.outcome.output ?? "").split("\n").filter((l) => l !== "");
  const list = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  return {
    out,
    notes: list(join(agent.dir, "notes")),
    written: list(join(agent.dir, "out")),
    outside: list(agent.dir),
    events: ran.events,
  };
}

Deno.test("a C agent works in its grants", async () => {
  const { out } = await lines(["read /notes/a.txt", "write /out/r.txt", "read /out/r.txt", "list /notes"]);
  assert.equal(out[0], "OK /notes/a.txt note a");
  assert.equal(out[1], "OK /out/r.txt");
  assert.equal(out[2], "OK /out/r.txt written by the probe");
  assert.match(out[4] ?? out[3]!, /OK \/notes .*a\.txt/);
});

Deno.test("a C agent's escapes are refused, and change nothing", async (t) => {
  const r = await lines([
    "read /notes/../secret.txt",
    "read ../secret.txt",
    "read /etc/hostname",
    "write /notes/pwned.txt",
    "mkdir /notes/sub",
    "unlink /notes/a.txt",
    "symlink /etc/hostname /out/link",
    "symlink ../secret.txt /out/rel",
    "write /pwned.txt",
  ]);
  const expected = [
    /^ERR \/notes\/\.\.\/secret\.txt/,
    /^ERR \.\.\/secret\.txt/,
    /^ERR \/etc\/hostname/,
    /^ERR \/notes\/pwned\.txt/,
    /^ERR \/notes\/sub/,
    /^ERR \/notes\/a\.txt/,
    /^ERR \/out\/link/,
    /^ERR \/out\/rel/,
    /^ERR \/pwned\.txt/,
  ];
  for (const [i, re] of expected.entries()) await t.step(String(re), () => assert.match(r.out[i] ?? "", re));
  await t.step("the folders are unchanged", () => {
    assert.deepEqual(r.notes, ["a.txt"]);
    assert.deepEqual(r.outside, ["agent.toml", "notes", "out", "secret.txt", "state"]);
    assert.deepEqual(r.written, []);
  });
  await t.step("each refusal of the guard is recorded", () => {
    const rules = r.events.filter((e) => e.type === "gate").map((e) => e.rule);
    assert.ok(rules.filter((x) => x === "fs.read-only").length >= 3, rules.join());
    assert.equal(rules.filter((x) => x === "fs.no-symlinks").length, 2);
  });
});

Deno.test("a C agent reaches the host gate through the ironclaw module", async () => {
  const TEST_VAR = "IRONCLAW_WASI_TEST_VAR";
  Deno.env.set(TEST_VAR, "from the supervisor");
  try {
    const { out } = await lines([
      `call env.get {"name":"${TEST_VAR}"}`,
      `call env.get {"name":"HOME"}`,
      `call fs.read {"path":"../secret.txt"}`,
      `call http.fetch {"url":"http://127.0.0.1:9/"}`,
      `call fs.read {"path":"notes/a.txt"}`,
      `call http.fetch {"url":"http://127.0.0.2:9/"}`,
    ], `[capabilities.env]\nallow = ["${TEST_VAR}"]\n[capabilities.net]\nallow = ["127.0.0.1:9"]\n`);
    assert.equal(out[0], `OK env.get {"value":"from the supervisor"}`);
    assert.match(out[1]!, /^ERR env\.get \{"code":"ERR_CAPABILITY_DENIED"/);
    assert.match(out[2]!, /^ERR fs\.read \{"code":"ERR_CAPABILITY_DENIED"/);
    assert.match(out[3]!, /^ERR http\.fetch \{"code":"ERR_UNSUPPORTED"/);
    assert.equal(out[4], `OK fs.read {"data":"note a\\n"}`);
    assert.match(out[5]!, /^ERR http\.fetch \{"code":"ERR_CAPABILITY_DENIED"/);
  } finally {
    Deno.env.delete(TEST_VAR);
  }
});

Deno.test("the wordcount example counts through preopens", async () => {
  const { runCli } = await import("./_cli.ts");
  const r = await runCli([
    "run",
    "examples/wasi-wordcount/agent.toml",
    "--task",
    "count",
    "--config",
    "tests/ironclaw.test.toml",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "2 files, 22 words; counts in out/counts.txt\n");
});
