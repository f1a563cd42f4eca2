import assert from "node:assert/strict";
import { type ProcChild, type ProcIo, procOps, type ProcSpawnOptions } from "./proc.ts";
import { contextOf, outcomeOf, policyOf } from "./_testing.ts";
import { MAX_PROC_BYTES } from "./family.ts";

const GRANTS = `[capabilities.run]\ndangerous = true\nallow = ["git"]\n`;

/** A program that echoes its standard input, then `out`, and exits with `code`. */
function fakeProc(out = "", code = 0) {
  const spawned: { program: string; options: ProcSpawnOptions }[] = [];
  const io: ProcIo = {
    spawn: (program, options): ProcChild => {
      spawned.push({ program, options });
      const input: Uint8Array[] = [];
      const closed = Promise.withResolvers<void>();
      if (options.stdin === "null") closed.resolve();
      const stdout = new ReadableStream<Uint8Array>({
        async start(c) {
          await closed.promise;
          for (const chunk of input) c.enqueue(chunk);
          c.enqueue(new TextEncoder().encode(out));
          c.close();
        },
      });
      return {
        stdin: new WritableStream({
          write: (chunk) => void input.push(chunk),
          close: () => closed.resolve(),
        }),
        stdout,
        stderr: ReadableStream.from([new TextEncoder().encode("warn")]),
        status: Promise.resolve({ code }),
      };
    },
  };
  return { io, spawned };
}

Deno.test("procOps() proc.run runs granted programs only", async (t) => {
  await t.step("allowed: the resolved path, no environment, in the agent's folder", async () => {
    const { io, spawned } = fakeProc(" done", 3);
    const ops = procOps(contextOf(policyOf(GRANTS)), io);
    const r = await outcomeOf(ops["proc.run"], { cmd: "git", args: ["status"], stdin: "in" });
    assert.deepEqual(r, { ok: true, value: { code: 3, stdout: "in done", stderr: "warn" }, rule: "run:git" });
    const { program, options } = spawned[0]!;
    assert.equal(program, "/usr/bin/git");
    assert.deepEqual([options.args, options.clearEnv, options.cwd, options.stdin], [
      ["status"],
      true,
      "/srv/a",
      "piped",
    ]);
  });
  await t.step("denied: a program not granted, or granted without dangerous = true", async () => {
    const { io, spawned } = fakeProc();
    // A Policy cannot grant a program without dangerous = true; one that did anyway is still refused here.
    const granted = policyOf(GRANTS);
    const notDangerous = { ...granted, run: { ...granted.run, dangerous: false } };
    for (const [policy, cmd] of [[granted, "curl"], [notDangerous, "git"]] as const) {
      const r = await outcomeOf(procOps(contextOf(policy), io)["proc.run"], { cmd });
      assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED", cmd);
      assert.equal(r.rule, "run");
    }
    assert.throws(() => procOps(contextOf(policyOf(GRANTS)), io)["proc.run"].precheck!({ cmd: "curl" }), {
      code: "ERR_CAPABILITY_DENIED",
    });
    assert.equal(spawned.length, 0);
  });
  await t.step("malformed: cmd, args, stdin", async () => {
    const ops = procOps(contextOf(policyOf(GRANTS)), fakeProc().io);
    for (
      const args of [{}, { cmd: "" }, { cmd: "git", args: "status" }, { cmd: "git", args: [1] }, {
        cmd: "git",
        stdin: 1,
      }]
    ) {
      const r = await outcomeOf(ops["proc.run"], args);
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", JSON.stringify(args));
    }
  });
  await t.step("output is cut at the cap", async () => {
    const ops = procOps(contextOf(policyOf(GRANTS)), fakeProc("x".repeat(MAX_PROC_BYTES + 10)).io);
    const r = await outcomeOf(ops["proc.run"], { cmd: "git" });
    assert.equal(r.ok && (r.value as { stdout: string }).stdout.length, MAX_PROC_BYTES);
  });
  await t.step("a program that is not there", async () => {
    const missing: ProcIo = {
      spawn: () => {
        throw new Deno.errors.NotFound("no such file");
      },
    };
    const r = await outcomeOf(procOps(contextOf(policyOf(GRANTS)), missing)["proc.run"], { cmd: "git" });
    assert.equal(!r.ok && r.code, "ERR_NOT_FOUND");
  });
});
