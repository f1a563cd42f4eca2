/** The agents' build script without clang, and `ironclaw build`'s progress line. */

import { join } from "node:path";
import { ROOT, runCli, runDeno } from "./_cli.ts";
import { CLANG_PACKAGES } from "./agents/build.ts";

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

/** Runs `tests/agents/build.ts` with PATH set to an empty folder: no clang, no other program. */
async function buildWithoutPath(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const empty = await Deno.makeTempDir();
  try {
    return await runDeno(["run", "-A", "--quiet", join(ROOT, "tests/agents/build.ts"), ...args], {
      env: { PATH: empty },
    });
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
}

Deno.test("tests/agents/build.ts without clang", async (t) => {
  const out = await Deno.makeTempDir();
  try {
    await t.step("a C agent: exit 1 and one line saying what to install, no stack", async () => {
      const r = await buildWithoutPath(["--only", "tests/agents/probe.c", "--out-dir", out]);
      assert(r.code === 1, `exit ${r.code}: ${r.stderr}`);
      assert(
        r.stderr === `error: clang is needed to build the C agent tests/agents/probe.c: ${CLANG_PACKAGES}\n`,
        JSON.stringify(r.stderr),
      );
      assert(!/^\s*at /m.test(r.stderr) && !r.stderr.includes("Stack"), r.stderr);
      assert(
        CLANG_PACKAGES.includes("apt-get install clang lld wasi-libc libclang-rt-dev-wasm32"),
        "packages",
      );
    });

    await t.step("the demo's agent (--only examples/hello) builds without clang", async () => {
      const r = await buildWithoutPath(["--only", "examples/hello", "--out-dir", out]);
      assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
      assert(r.stdout.startsWith("built examples/hello/agent.wasm"), r.stdout);
      const wasm = await Deno.readFile(join(out, "examples/hello/agent.wasm"));
      // A component: the WebAssembly magic, then layer 1.
      assert(wasm[0] === 0x00 && wasm[1] === 0x61 && wasm[4] === 0x0d && wasm[6] === 0x01, "not a component");
      assert(
        !(await Deno.stat(join(out, "examples/wasi-wordcount")).then(() => true, () => false)),
        "built C",
      );
    });

    await t.step("--js skips the C agents", async () => {
      const r = await buildWithoutPath(["--js", "--only", "tests/agents", "--out-dir", out]);
      assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
      assert(
        r.stdout.includes("built tests/agents/out/probe.wasm") && !r.stdout.includes("probe_c"),
        r.stdout,
      );
    });

    await t.step("an --only that selects nothing is a usage error", async () => {
      const r = await buildWithoutPath(["--only", "examples/nothing", "--out-dir", out]);
      assert(r.code === 2, `exit ${r.code}`);
      assert(
        r.stderr.startsWith('error: No agent under "examples/nothing"') && r.stderr.split("\n").length === 2,
        r.stderr,
      );
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("ironclaw build prints no progress line when standard error is not a terminal", async () => {
  const out = await Deno.makeTempDir();
  try {
    const r = await runCli(["build", "examples/hello/agent.js", "-o", join(out, "agent.wasm")]);
    assert(r.code === 0, r.stderr);
    assert(/^built .*agent\.wasm \(\d+ KiB\) in [\d.]+ s\n$/.test(r.stderr), JSON.stringify(r.stderr));
    assert(!r.stderr.includes("\r") && !r.stderr.includes("building"), JSON.stringify(r.stderr));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

const hasScript = await new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name: "ironclaw build shows a progress line on a terminal, then clears it",
  ignore: !hasScript || Deno.build.os !== "linux",
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
      const command = [Deno.execPath(), "run", "-A", "--quiet", join(ROOT, "mod.ts"), "build"]
        .concat(join(ROOT, "examples/hello/agent.js"), "-o", join(out, "agent.wasm")).map(quote).join(" ");
      // script (util-linux) gives the command a terminal and copies what it printed to its standard output.
      const r = await new Deno.Command("script", {
        args: ["-qefc", command, "/dev/null"],
        cwd: out,
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(r.stdout);
      assert(r.code === 0, text + new TextDecoder().decode(r.stderr));
      assert(/\r[|/\\-] building agent\.js/.test(text), JSON.stringify(text));
      assert(
        /\r +\rbuilt .*agent\.wasm/.test(text),
        `not cleared before the result: ${JSON.stringify(text)}`,
      );
      assert(!text.includes("\x1b"), `NO_COLOR: ${JSON.stringify(text)}`);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
