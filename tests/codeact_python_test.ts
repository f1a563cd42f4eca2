/**
 * CodeAct in Python: the model's code runs in Pyodide inside a real sandbox.
 * Python can reach Deno's APIs from inside Pyodide, so here the sandbox
 * process's flags are the real boundary: these attacks go straight at them.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { code, loopAgent, script } from "./_loops.ts";
import { countingServer, run } from "./_sandbox.ts";

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
