/** `ironclaw run`, `runs` and `build` from outside: the real CLI, real sandboxes. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli } from "./_cli.ts";
import { agentDir, PROBE } from "./_sandbox.ts";

const CONFIG = ["--config", "tests/ironclaw.test.toml"];

Deno.test("ironclaw run prints the agent's answer and records the run", async () => {
  const r = await runCli(["run", "examples/hello/agent.toml", "--task", "summarize", ...CONFIG]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Summarized 2 notes into out/summary.md\n");
  const id = r.stderr.match(/run (\S+): ok/)?.[1];
  assert.ok(id, r.stderr);
  const summary = await Deno.readTextFile(join(ROOT, "examples/hello/out/summary.md"));
  assert.match(summary, /# Summary of 2 notes/);
  const show = await runCli(["runs", "show", id, "--json", ...CONFIG]);
  assert.equal(show.code, 0, show.stderr);
  const { summary: s, events } = JSON.parse(show.stdout);
  assert.equal(s.state, "ok");
  assert.deepEqual(
    events.filter((e: { type: string }) => e.type === "gate").map((e: { op: string }) => e.op),
    ["fs.list", "fs.read", "fs.read", "fs.write"],
  );
  const list = await runCli(["runs", "list", ...CONFIG]);
  assert.match(list.stdout, new RegExp(`^${id}  ok`, "m"));
});

Deno.test("ironclaw run --json streams events and ends with the end line", async () => {
  const r = await runCli(["run", "examples/hello/agent.toml", "--task", "x", "--json", ...CONFIG]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines[0].type, "run");
  const end = lines.at(-1);
  assert.deepEqual([end.type, end.state, end.output], [
    "end",
    "ok",
    "Summarized 2 notes into out/summary.md",
  ]);
  assert.deepEqual(lines.filter((l) => l.type === "state").map((l) => l.state), [
    "created",
    "starting",
    "running",
    "exited",
  ]);
});

Deno.test("ironclaw run exit codes", async (t) => {
  await t.step("agent error: 1", async () => {
    await using agent = await agentDir(PROBE);
    const r = await runCli(["run", agent.manifest, "--task", JSON.stringify({ do: "throw" })], {
      cwd: agent.dir,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: The agent failed: the probe failed on purpose \[ERR_AGENT\]/);
  });
  await t.step("timeout: 124", async () => {
    await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 1\n");
    const r = await runCli(["run", agent.manifest, "--task", JSON.stringify({ do: "loop" })], {
      cwd: agent.dir,
    });
    assert.equal(r.code, 124);
    assert.match(r.stderr, /raise \[limits\] timeout_s/);
  });
  await t.step("memory: 125", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmemory_mb = 32\n");
    const r = await runCli(["run", agent.manifest, "--task", JSON.stringify({ do: "bomb" })], {
      cwd: agent.dir,
    });
    assert.equal(r.code, 125);
  });
  await t.step("invalid manifest: 2", async () => {
    await using agent = await agentDir(PROBE, "[limits]\nmemory_mb = 0\n");
    const r = await runCli(["run", agent.manifest], { cwd: agent.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_VALUE at limits\.memory_mb/);
  });
  await t.step("a link out of the grants: 2, before anything runs", async () => {
    await using agent = await agentDir(PROBE);
    await Deno.symlink(join(agent.dir, "secret.txt"), join(agent.dir, "notes", "leak"));
    const r = await runCli(["run", agent.manifest], { cwd: agent.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_PATH_SYMLINK .*notes\/leak" is a symbolic link out of the granted folders/);
    assert.deepEqual([...Deno.readDirSync(join(agent.dir))].some((e) => e.name === "state"), false);
  });
  await t.step("a missing module: 1, with a hint", async () => {
    await using agent = await agentDir(join(ROOT, "tests/agents/out/missing.wasm"));
    const r = await runCli(["run", agent.manifest], { cwd: agent.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERR_NOT_FOUND[\s\S]*hint: build it first/);
  });
});

Deno.test("Ctrl-C: interrupted, 130; the sandbox does not outlive the CLI", async (t) => {
  for (const signals of [1, 2]) {
    await t.step(`${signals} signal${signals > 1 ? "s" : ""}`, async () => {
      await using agent = await agentDir(PROBE);
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          join(ROOT, "mod.ts"),
          "run",
          agent.manifest,
          "--json",
          "--grace",
          "500",
          "--task",
          JSON.stringify({ do: "loop" }),
        ],
        cwd: agent.dir,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes('"looping"')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      child.kill("SIGINT");
      if (signals === 2) {
        // A second signal once the first is seen (two at once may arrive as one).
        while (!text.includes('"state":"stopping"')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
        }
        child.kill("SIGINT");
      }
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.code, 130);
      const end = JSON.parse(text.trim().split("\n").at(-1)!);
      assert.equal(end.state, "interrupted");
      const stops = text.split("\n").filter((l) => l.includes('"type":"stop"'));
      assert.equal(stops.length, 1);
      assert.match(stops[0]!, signals === 1 ? /grace period/ : /second signal/);
      assert.match(text, /"type":"state","state":"exited"/, "the sandbox exited before the CLI did");
    });
  }
});

Deno.test("ironclaw build makes a component that runs", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(
      join(dir, "agent.ts"),
      `import { call } from "ironclaw:agent/host@0.1.0";\n` +
        `export function run(task: string): string {\n  const n: number = JSON.parse(call("fs.list", JSON.stringify({ path: "in" }))).entries.length;\n  return task + " " + n;\n}\n`,
    );
    await Deno.mkdir(join(dir, "in"));
    await Deno.writeTextFile(join(dir, "in", "x"), "x");
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "built"\nkind = "wasm"\nmodule = "agent.wasm"\n[capabilities.fs]\nread = ["in"]\n`,
    );
    const b = await runCli(["build", "agent.ts"], { cwd: dir });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /built .*agent\.wasm/);
    const r = await runCli(["run", "agent.toml", "--task", "files:"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "files: 1\n");
    const bad = await runCli(["build", "missing.js"], { cwd: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ERR_NOT_FOUND/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
