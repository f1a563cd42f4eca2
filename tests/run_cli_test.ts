/** `ironclaw run`, `runs` and `build` from outside: the real CLI, real sandboxes. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli, TEST_STATE_HOME } from "./_cli.ts";
import { agentDir, PROBE } from "./_sandbox.ts";
import { listRuns } from "../supervisor/records.ts";

const CONFIG = ["--config", "tests/ironclaw.test.toml"];

Deno.test("ironclaw run prints the agent's answer and records the run", async () => {
  // A copy of the example, so no other test writing its out/ at the same time changes what is read here.
  await using agent = await hello();
  const r = await runCli(["run", agent.manifest, "--task", "summarize", ...CONFIG]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "Summarized 2 notes into out/summary.md\n");
  const id = r.stderr.match(/run (\S+): ok/)?.[1];
  assert.ok(id, r.stderr);
  const summary = await Deno.readTextFile(join(agent.dir, "out/summary.md"));
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
  const cases: {
    name: string;
    module?: string;
    extra?: string;
    task?: string;
    code: number;
    stderr?: RegExp;
  }[] = [
    {
      name: "agent error: 1",
      task: JSON.stringify({ do: "throw" }),
      code: 1,
      stderr: /error: The agent failed: the probe failed on purpose \[ERR_AGENT\]/,
    },
    {
      name: "timeout: 124",
      extra: "[limits]\ntimeout_s = 1\n",
      task: JSON.stringify({ do: "loop" }),
      code: 124,
      stderr: /raise \[limits\] timeout_s/,
    },
    {
      name: "memory: 125",
      extra: "[limits]\nmemory_mb = 32\n",
      task: JSON.stringify({ do: "bomb" }),
      code: 125,
    },
    {
      name: "invalid manifest: 2",
      extra: "[limits]\nmemory_mb = 0\n",
      code: 2,
      stderr: /ERR_VALUE at limits\.memory_mb/,
    },
    {
      name: "a missing module: 1, with a hint",
      module: join(ROOT, "tests/agents/out/missing.wasm"),
      task: "x",
      code: 1,
      stderr: /ERR_NOT_FOUND[\s\S]*hint: build it first/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using agent = await agentDir(c.module ?? PROBE, c.extra);
      const task = c.task === undefined ? [] : ["--task", c.task];
      const r = await runCli(["run", agent.manifest, ...task], { cwd: agent.dir });
      assert.equal(r.code, c.code, r.stderr);
      if (c.stderr) assert.match(r.stderr, c.stderr);
    });
  }
  await t.step("a link out of the grants: 2, before anything runs", async () => {
    await using agent = await agentDir(PROBE);
    await Deno.symlink(join(agent.dir, "secret.txt"), join(agent.dir, "notes", "leak"));
    const r = await runCli(["run", agent.manifest, "--task", "x"], { cwd: agent.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_PATH_SYMLINK .*notes\/leak" is a symbolic link out of the granted folders/);
    assert.deepEqual([...Deno.readDirSync(join(agent.dir))].some((e) => e.name === "state"), false);
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
          // One signal waits out the grace period (the guest never stops); with two, a grace period longer
          // than any delay in delivering the second makes the second signal what ends the run.
          signals === 1 ? "500" : "60000",
          "--task",
          JSON.stringify({ do: "loop" }),
        ],
        cwd: agent.dir,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1", XDG_STATE_HOME: TEST_STATE_HOME },
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
      // The guest loops in its own Worker, so the sandbox reads the stop and ends at once: no grace-period kill.
      // A second signal that comes while the sandbox still runs kills it at once.
      const stops = text.split("\n").filter((l) => l.includes('"type":"stop"'));
      assert.ok(!stops.some((l) => /grace period/.test(l)), stops.join("\n"));
      if (signals === 1) assert.match(text, /"type":"stopped"/, "the sandbox stopped when asked");
      else assert.ok(stops.every((l) => /second signal/.test(l)), stops.join("\n"));
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

/** A copy of examples/hello in a temporary folder; `agent` adds lines to its [agent] table. */
async function hello(options: { agent?: string; notes?: boolean; config?: string } = {}) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-hello-" }));
  const src = join(ROOT, "examples/hello");
  const manifest = await Deno.readTextFile(join(src, "agent.toml"));
  await Deno.writeTextFile(
    join(dir, "agent.toml"),
    manifest.replace('module = "agent.wasm"\n', `module = "agent.wasm"\n${options.agent ?? ""}`),
  );
  await Deno.copyFile(join(src, "agent.wasm"), join(dir, "agent.wasm"));
  await Deno.mkdir(join(dir, "out"));
  if (options.notes ?? true) {
    await Deno.mkdir(join(dir, "notes"));
    for (const note of ["monday.md", "tuesday.md"]) {
      await Deno.copyFile(join(src, "notes", note), join(dir, "notes", note));
    }
  }
  if (options.config !== undefined) await Deno.writeTextFile(join(dir, "ironclaw.toml"), options.config);
  return {
    dir,
    manifest: join(dir, "agent.toml"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The ids of the runs recorded in a state folder. */
async function runIds(stateDir: string): Promise<string[]> {
  try {
    await Deno.stat(join(stateDir, "ironclaw.db"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return (await listRuns(stateDir)).map((r) => r.id).sort();
}

Deno.test("ironclaw run needs --task unless the agent says otherwise", async (t) => {
  const state = await Deno.makeTempDir();
  try {
    const env = { XDG_STATE_HOME: state };
    const cases: [string, string, string[], number, RegExp | null][] = [
      // name, [agent] line, extra arguments, exit code, what stderr says
      ["default: without --task, a usage error", "", [], 2, /The agent "hello" needs a task \[ERR_USAGE\]/],
      ["required: with --task, it runs", 'task = "required"\n', ["--task", "go"], 0, null],
      ["optional: without --task, it runs", 'task = "optional"\n', [], 0, null],
      ["optional: with --task, it runs", 'task = "optional"\n', ["--task", "go"], 0, null],
      ["none: without --task, it runs", 'task = "none"\n', [], 0, null],
      [
        "none: --task is a usage error",
        'task = "none"\n',
        ["--task", "go"],
        2,
        /takes no task \[ERR_USAGE\]/,
      ],
    ];
    for (const [name, line, extra, code, stderr] of cases) {
      await t.step(name, async () => {
        await using agent = await hello({ agent: line });
        const before = await runIds(join(state, "ironclaw"));
        const r = await runCli(["run", agent.manifest, ...extra], { cwd: agent.dir, env });
        assert.equal(r.code, code, r.stderr);
        const after = await runIds(join(state, "ironclaw"));
        if (stderr) {
          assert.match(r.stderr, stderr);
          assert.match(r.stderr, /hint: .*(--task|task = "optional" under \[agent\])/);
          assert.deepEqual(after, before, "a usage error starts no run");
        } else {
          assert.equal(r.stdout, "Summarized 2 notes into out/summary.md\n");
          assert.equal(after.length, before.length + 1);
        }
      });
    }
    await t.step("--json: the usage error is the end line", async () => {
      await using agent = await hello();
      const r = await runCli(["run", agent.manifest, "--json"], { cwd: agent.dir, env });
      assert.equal(r.code, 2);
      const end = JSON.parse(r.stdout.trim());
      assert.deepEqual([end.type, end.state, end.error.code], ["end", "error", "ERR_USAGE"]);
    });
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

// The $HOME fallback is tested on defaultStateDir() (tests/cli_test.ts): a child with another HOME would
// also look for Deno's own cache there.
Deno.test("ironclaw run records in one state folder per user unless the config says otherwise", async (t) => {
  const home = await Deno.realPath(await Deno.makeTempDir());
  try {
    const run = (agent: { dir: string; manifest: string }, env: Record<string, string>, cwd = agent.dir) =>
      runCli(["run", agent.manifest, "--task", "x"], { cwd, env });
    await t.step("$XDG_STATE_HOME/ironclaw", async () => {
      await using agent = await hello();
      const r = await run(agent, { XDG_STATE_HOME: join(home, "xdg") });
      assert.equal(r.code, 0, r.stderr);
      const id = r.stderr.match(/run (\S+): ok/)?.[1];
      assert.deepEqual(await runIds(join(home, "xdg", "ironclaw")), [id]);
      assert.deepEqual(
        await runIds(join(agent.dir, ".ironclaw")),
        [],
        "not in the folder the command ran from",
      );
      const list = await runCli(["runs", "list"], { env: { XDG_STATE_HOME: join(home, "xdg") } });
      assert.match(list.stdout, new RegExp(`^${id}  ok`, "m"));
    });
    await t.step("[runtime] state_dir of the config beside the manifest wins", async () => {
      await using agent = await hello({ config: '[runtime]\nstate_dir = "records"\n' });
      const r = await run(agent, { XDG_STATE_HOME: join(home, "xdg2") }, home);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await runIds(join(agent.dir, "records"))).length, 1);
      assert.deepEqual(await runIds(join(home, "xdg2", "ironclaw")), []);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("ironclaw run: a granted folder that does not exist says so", async () => {
  await using agent = await hello({ notes: false });
  const r = await runCli(["run", agent.manifest, "--task", "x"], { cwd: agent.dir });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ERR_NOT_FOUND/);
  assert.match(r.stderr, /notes\\?" does not exist: the granted \\?".*\/notes\\?" is missing/);
  assert.doesNotMatch(r.stderr, /may not reach/);
});
