/**
 * CodeAct in Python: the model's code runs in Pyodide inside a real sandbox.
 * Python can reach Deno's APIs from inside Pyodide, so here the sandbox
 * process's flags are the real boundary: these attacks go straight at them.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { code, loopAgent, script } from "./_loops.ts";
import { countingServer, run } from "./_sandbox.ts";
import { ensurePyodideSnapshot, pyodideSnapshotPath } from "../supervisor/pyodide_snapshot.ts";
import { sandboxEntry } from "../supervisor/assets.ts";

Deno.test("CodeAct in Python: tools work, and Deno reached from Python is held by the process flags", async () => {
  await using server = countingServer();
  await using agent = await loopAgent({ kind: "codeact", language: "python", turns: [] });
  const secret = join(agent.dir, "secret.txt");
  const attack = [
    "import js",
    "results = []",
    "for name, attempt in [",
    `    ('read', lambda: js.Deno.readTextFileSync(${JSON.stringify(secret)})),`,
    "    ('env', lambda: js.Deno.env.get('HOME')),",
    `    ('write', lambda: js.Deno.writeTextFileSync(${
      JSON.stringify(join(agent.dir, "data", "pwned.txt"))
    }, 'x')),`,
    "    ('run', lambda: js.Deno.Command.new('/usr/bin/id').outputSync()),",
    "]:",
    "    try:",
    "        attempt()",
    "        results.append(name + ':allowed')",
    "    except Exception as e:",
    "        results.append(name + ':' + ('refused' if 'NotCapable' in str(e) or 'PermissionDenied' in str(e) else str(e)[:60]))",
    "try:",
    `    await js.fetch('http://127.0.0.1:${server.port}/')`,
    "    results.append('net:allowed')",
    "except Exception as e:",
    "    results.append('net:refused' if 'NotCapable' in str(e) else 'net:' + str(e)[:60])",
    "print(' '.join(results))",
  ].join("\n");
  await script(agent, [
    {
      reply: code(
        "python",
        'd = await tools.read_file({"path": "data/numbers.csv"})\nrows = d["data"].split()[1:]\nprint("sum", sum(int(r) for r in rows))',
      ),
    },
    { expect: { lastRole: "user", contains: "sum 6" }, reply: code("python", attack) },
    {
      expect: {
        lastRole: "user",
        contains: "read:refused env:refused write:refused run:refused net:refused",
      },
      reply: { content: "Every escape was refused." },
    },
  ]);
  const { outcome, events } = await run(agent, "go");
  assert.equal(
    outcome.state,
    "ok",
    JSON.stringify([outcome.error, events.filter((e) => e.type === "code")]),
  );
  assert.equal(outcome.output, "Every escape was refused.");
  assert.deepEqual(server.hits, [], "the server was reached");
  await assert.rejects(Deno.stat(join(agent.dir, "data", "pwned.txt")), Deno.errors.NotFound);
  assert.ok(!JSON.stringify(events).includes("the secret outside the grants"));
});

Deno.test("CodeAct in Python restores Pyodide from a snapshot made by a clean process, which a run cannot change", async () => {
  await using agent = await loopAgent({ kind: "codeact", language: "python", turns: [] });
  const snapshot = pyodideSnapshotPath(agent.config.runtime.state_dir);
  const tamper = [
    "import js, os",
    "out = []",
    `try:\n    js.Deno.writeFileSync(${
      JSON.stringify(snapshot)
    }, js.Uint8Array.new(4))\n    out.append('write:allowed')`,
    "except Exception as e:\n    out.append('write:refused' if 'NotCapable' in str(e) else 'write:' + str(e)[:60])",
    "try:\n    os.system('id')\n    out.append('system:allowed')",
    "except Exception as e:\n    out.append('system:refused' if 'not granted' in str(e) else 'system:' + str(e)[:60])",
    "print(' '.join(out))",
  ].join("\n");
  const turns = [
    { reply: code("python", tamper) },
    {
      expect: { lastRole: "user" as const, contains: "write:refused system:refused" },
      reply: { content: "done" },
    },
  ];
  await script(agent, turns);
  const first = await run(agent, "go");
  assert.equal(first.outcome.state, "ok", JSON.stringify(first.outcome.error));
  // Made on first use, read-only to the run (its Worker's read grant and the process's), never writable.
  const bytes = await Deno.readFile(snapshot);
  assert.ok(bytes.length > 1_000_000, "the snapshot is Pyodide's memory");
  const command = first.events.find((e) => e.type === "run")!.command as string[];
  assert.ok(command.some((a) => a.startsWith("--allow-read=") && a.split(/[=,]/).includes(snapshot)));
  assert.ok(!command.some((a) => a.startsWith("--allow-write=") && a.includes(snapshot)));
  // The second run restores the same snapshot, with the prelude applied after it as after a cold start.
  await script(agent, turns);
  const second = await run(agent, "go");
  assert.equal(second.outcome.state, "ok", JSON.stringify(second.outcome.error));
  assert.deepEqual(await Deno.readFile(snapshot), bytes, "a run changed the snapshot");
  const notes = (ran: typeof first) =>
    ran.events.filter((e) => e.type === "sandbox-log" && String(e.message).includes("snapshot"));
  assert.deepEqual([notes(first), notes(second)], [[], []], "the snapshot was restored without a note");
  // A damaged snapshot is tried, said, and Python starts cold: the run still ends ok.
  await Deno.writeFile(snapshot, bytes.subarray(0, 4096));
  await script(agent, turns);
  const third = await run(agent, "go");
  assert.equal(third.outcome.state, "ok", JSON.stringify(third.outcome.error));
  assert.match(String(notes(third)[0]?.message), /could not be restored.*started cold/);
});

Deno.test("a Pyodide snapshot that cannot be made leaves Python to start cold, and leaves no file", async () => {
  const stateDir = await Deno.makeTempDir();
  try {
    const made = await ensurePyodideSnapshot({
      stateDir,
      pyodide: join(stateDir, "no-pyodide"),
      entry: sandboxEntry(),
    });
    assert.equal(made, null);
    const folder = join(stateDir, "cache", "pyodide");
    const versions = [...Deno.readDirSync(folder)];
    assert.equal(versions.length, 1);
    assert.deepEqual([...Deno.readDirSync(join(folder, versions[0]!.name))], [], "a file was left");
    assert.match(
      pyodideSnapshotPath(stateDir),
      new RegExp(`314\\.0\\.7-deno-${Deno.version.deno.replaceAll(".", "\\.")}`),
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
