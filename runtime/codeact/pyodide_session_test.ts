import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleModule } from "../assets.ts";
import {
  type CodeSession,
  type CodeSessionOptions,
  type CodeStepResult,
  createPyodideSession,
  createPyodideSessionFromSnapshot,
  makePyodideSnapshot,
  OUTPUT_TRUNCATED_MARKER,
  pyodideAssetsDir,
} from "./pyodide_session.ts";
import type { ProbeArgs } from "./pyodide_probe_child.ts";

// Pyodide keeps timers of its event loop alive between steps: no op or resource sanitizers.
const opts = { sanitizeOps: false, sanitizeResources: false };

const MiB = 2 ** 20;
// Generous for steps on a loaded machine; the deadline tests measure against it with a wide margin.
const DEADLINE_MS = 3000;

function options(overrides: Partial<CodeSessionOptions> = {}): CodeSessionOptions {
  return {
    tools: {
      read_file: (args: unknown) =>
        Promise.resolve({ path: (args as { path: string }).path, rows: [[1, "a"]] }),
      fail: () => Promise.reject(new Error('File "data/missing.csv" not found')),
      hang: () => new Promise(() => {}),
    },
    memoryBytes: 256 * MiB,
    stepDeadlineMs: DEADLINE_MS,
    maxOutputBytes: 1000,
    ...overrides,
  };
}

function ok(r: CodeStepResult, value: string | null, output = ""): void {
  assert.deepEqual(r, { output, error: null, value, timedOut: false, outOfMemory: false });
}

Deno.test("pyodideAssetsDir() is the folder of the pinned Pyodide package", () => {
  const dir = pyodideAssetsDir();
  assert.match(dir, /pyodide[\\/]314\.0\.7$|node_modules[\\/]pyodide$/);
  assert.ok(Deno.statSync(`${dir}/pyodide.asm.wasm`).isFile);
  assert.ok(Deno.statSync(`${dir}/python_stdlib.zip`).isFile);
});

Deno.test("createPyodideSession() runs Python step by step", opts, async (t) => {
  const session: CodeSession = await createPyodideSession(options());
  try {
    await t.step("globals persist across steps", async () => {
      ok(await session.run("x = 41\ndef inc(n):\n    return n + 1"), null);
      ok(await session.run("inc(x)"), "42");
    });

    await t.step("the value is the repr of the last expression, or null", async () => {
      ok(await session.run("'a' + 'b'"), "'ab'");
      ok(await session.run("[1, None, {'k': 2.5}]"), "[1, None, {'k': 2.5}]");
      ok(await session.run("None"), null);
      ok(await session.run("x;"), null);
    });

    await t.step("print() and stderr are the output", async () => {
      ok(
        await session.run("import sys\nprint('hello', 1)\nprint('warn', file=sys.stderr)"),
        null,
        "hello 1\nwarn\n",
      );
    });

    await t.step("output is capped at maxOutputBytes", async () => {
      const r = await session.run("print('x' * 5000)\n7");
      assert.equal(r.output, `${"x".repeat(1000)}\n${OUTPUT_TRUNCATED_MARKER}`);
      assert.equal(r.value, "7");
      // The cap is per step.
      ok(await session.run("print('short')"), null, "short\n");
    });

    await t.step("an exception is the error, as its last traceback line", async () => {
      const r = await session.run("print('before')\n{}['missing']");
      assert.deepEqual(r, {
        output: "before\n",
        error: "KeyError: 'missing'",
        value: null,
        timedOut: false,
        outOfMemory: false,
      });
      assert.equal((await session.run("1/0")).error, "ZeroDivisionError: division by zero");
      assert.match((await session.run("def f(:\n  pass")).error ?? "", /^SyntaxError: /);
      ok(await session.run("x"), "41");
    });

    await t.step("a tool is awaited at top level and returns Python values", async () => {
      ok(
        await session.run("data = await tools.read_file({'path': 'data/a.csv'})\ntype(data).__name__, data"),
        "('dict', {'path': 'data/a.csv', 'rows': [[1, 'a']]})",
      );
      ok(await session.run("(await tools.read_file(path='data/b.csv'))['path']"), "'data/b.csv'");
      ok(await session.run("data['rows'][0][1]"), "'a'");
    });

    await t.step("a tool's error is a ToolError, uncaught or caught", async () => {
      const uncaught = await session.run("await tools.fail()");
      assert.equal(uncaught.error, 'ToolError: File "data/missing.csv" not found');
      ok(
        await session.run("try:\n    await tools.fail()\nexcept ToolError as e:\n    print('caught:', e)"),
        null,
        'caught: File "data/missing.csv" not found\n',
      );
      assert.match(
        (await session.run("await tools.nope()")).error ?? "",
        /^AttributeError: no tool named 'nope'/,
      );
      assert.match((await session.run("await tools.read_file({'a': 1}, b=2)")).error ?? "", /^TypeError: /);
    });

    await t.step("a busy loop is interrupted at the deadline", async () => {
      for (
        const code of [
          "while True: pass",
          "while True:\n    try:\n        while True: pass\n    except BaseException: pass",
        ]
      ) {
        const start = performance.now();
        const r = await session.run(code);
        const ms = performance.now() - start;
        assert.equal(r.timedOut, true);
        assert.match(r.error ?? "", /^TimeoutError: /);
        assert.ok(ms >= DEADLINE_MS && ms < DEADLINE_MS + 5000, `stopped after ${ms} ms`);
      }
      ok(await session.run("x"), "41");
    });

    await t.step("a step waiting on a tool or a sleep times out", async () => {
      for (const code of ["await tools.hang()", "import asyncio\nawait asyncio.sleep(30)"]) {
        const r = await session.run(code);
        assert.equal(r.timedOut, true);
        assert.match(r.error ?? "", /^TimeoutError: /);
      }
      ok(await session.run("x"), "41");
    });

    await t.step("memory past memoryBytes is a MemoryError", async () => {
      const r = await session.run("big = bytearray(512 * 2**20)");
      assert.equal(r.outOfMemory, true);
      assert.match(r.error ?? "", /^MemoryError/);
      ok(await session.run("len(bytearray(16 * 2**20))"), String(16 * MiB));
    });

    await t.step("run() after dispose() rejects", async () => {
      session.dispose();
      await assert.rejects(session.run("1"), /disposed/);
    });
  } finally {
    session.dispose();
  }
});

Deno.test(
  "createPyodideSessionFromSnapshot() restores Pyodide and survives a fatal error",
  opts,
  async (t) => {
    const snapshot = await makePyodideSnapshot();
    const start = performance.now();
    // A deadline far above the recursion's few hundred ms, so the stack overflow (not the deadline) ends that
    // step however busy the machine is.
    const session = await createPyodideSessionFromSnapshot(options({ stepDeadlineMs: 30_000 }), snapshot);
    const loadMs = performance.now() - start;
    try {
      await t.step(`loads from the snapshot (${Math.round(loadMs)} ms) and runs steps`, async () => {
        ok(await session.run("import sys\nsys.version_info[:2]"), "(3, 14)");
        ok(await session.run("(await tools.read_file(path='p'))['path']"), "'p'");
      });

      await t.step("the memory cap holds after a restore too", async () => {
        assert.equal((await session.run("big = bytearray(512 * 2**20)")).outOfMemory, true);
      });

      await t.step("a JS stack overflow kills the interpreter, not the process", async () => {
        const r = await session.run(
          "import sys\nsys.setrecursionlimit(10**7)\ndef g(n):\n    return g(n + 1)\ng(0)",
        );
        assert.match(r.error ?? "", /^RuntimeError: the Python interpreter failed/);
        assert.match((await session.run("1")).error ?? "", /cannot run more steps/);
      });
    } finally {
      session.dispose();
    }
  },
);

Deno.test("createPyodideSession() refuses a memory limit below Pyodide's start size", opts, async () => {
  await assert.rejects(createPyodideSession(options({ memoryBytes: 8 * MiB })), RangeError);
});

Deno.test("Python in a restricted child cannot pass the process's Deno flags", opts, async (t) => {
  const root = await Deno.makeTempDir({ prefix: "ironclaw_pyodide_probe_" });
  const granted = `${root}/granted`;
  const outside = `${root}/outside`;
  await Deno.mkdir(granted);
  await Deno.mkdir(outside);
  const secret = `SECRET-${crypto.randomUUID()}`;
  const envSecret = `ENV-${crypto.randomUUID()}`;
  await Deno.writeTextFile(`${granted}/notes.txt`, "granted content");
  await Deno.writeTextFile(`${outside}/secret.txt`, secret);
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response(secret);
  });
  try {
    const args: ProbeArgs = {
      secretFile: `${outside}/secret.txt`,
      grantedFile: `${granted}/notes.txt`,
      port: server.addr.port,
      envName: "IRONCLAW_PROBE_SECRET",
    };
    // Bundled and run on an empty Deno cache, as the sandbox runs.
    const probe = join(outside, "probe.js");
    await bundleModule(fileURLToPath(new URL("./pyodide_probe_child.ts", import.meta.url)), probe, {
      config: fileURLToPath(new URL("../../deno.json", import.meta.url)),
    });
    const child = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--cached-only",
        "--no-config",
        `--allow-read=${pyodideAssetsDir()},${granted}`,
        probe,
        JSON.stringify({ ...args, indexURL: pyodideAssetsDir() }),
      ],
      env: {
        IRONCLAW_PROBE_SECRET: envSecret,
        DENO_NO_UPDATE_CHECK: "1",
        NO_COLOR: "1",
        DENO_DIR: join(outside, "empty-deno-cache"),
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(child.stdout);
    const stderr = new TextDecoder().decode(child.stderr);
    assert.equal(child.code, 0, stderr);
    const results = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, CodeStepResult>;
    const denied = (name: string, kind: string): void => {
      const r = results[name];
      assert.ok(r, `no result for ${name}`);
      assert.equal(r.value, null);
      assert.match(r.error ?? "", new RegExp(`(NotCapable|PermissionDenied): Requires ${kind} access`));
    };

    await t.step("the granted folder is readable (the control)", () => {
      assert.equal(results.readGranted?.value, "'granted content'");
    });
    await t.step("js.Deno and run_js cannot read a file outside the grants", () => {
      denied("readJs", "read");
      denied("readRunJs", "read");
    });
    await t.step("Python's open() sees Pyodide's in-memory file system, not the host", () => {
      assert.match(results.readPython?.error ?? "", /^FileNotFoundError: /);
    });
    await t.step("a read grant does not allow writing", async () => {
      denied("writeJs", "write");
      await assert.rejects(Deno.stat(`${granted}/notes.txt.written`), Deno.errors.NotFound);
    });
    await t.step("the environment is not readable", () => {
      denied("envJs", "env");
      ok(results.envPython!, null);
    });
    await t.step("no connection reaches the local server", () => {
      denied("fetchJs", "net");
      denied("connectRunJs", "net");
      assert.equal(requests, 0);
    });
    await t.step("no program runs", () => denied("runJs", "run"));
    await t.step("neither secret appears anywhere in the child's output", () => {
      assert.ok(!stdout.includes(secret) && !stderr.includes(secret));
      assert.ok(!stdout.includes(envSecret) && !stderr.includes(envSecret));
    });
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
