/**
 * `deno task install` puts a working `ironclaw` on PATH: installed into a
 * temporary root (never the user's), run from a folder outside the checkout.
 */

import { dirname, join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { ROOT } from "./_cli.ts";

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

const dec = new TextDecoder();

/** The install task's arguments after `deno install`, with `--root` put first. */
function installArgs(root: string): string[] {
  const task = denoJson.tasks.install;
  assert(task.startsWith("deno install "), `the install task is not a deno install: ${task}`);
  return ["install", "--root", root, ...task.slice("deno install ".length).split(" ")];
}

Deno.test({
  name: "deno task install puts an ironclaw command that works from any folder",
  ignore: Deno.build.os === "windows", // the installed command is a .cmd there
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "ironclaw-install-" });
    const elsewhere = await Deno.makeTempDir({ prefix: "ironclaw-cwd-" });
    // The wrapper runs `deno` from PATH: this very deno first.
    const env = {
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
      DENO_INSTALL_ROOT: root,
      NO_COLOR: "1",
    };
    const bin = join(root, "bin", "ironclaw");
    const run = async (args: string[]) => {
      const out = await new Deno.Command(bin, {
        args,
        cwd: elsewhere,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    try {
      await t.step("installs into the given root", async () => {
        for (let i = 0; i < 2; i++) { // twice: reinstalling over an installed command works too
          const out = await new Deno.Command(Deno.execPath(), {
            args: installArgs(root),
            cwd: ROOT,
            env,
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert(out.success, `install ${i + 1} failed: ${dec.decode(out.stderr)}`);
        }
        const wrapper = await Deno.readTextFile(bin);
        // It runs the checkout's own mod.ts with a copy of its deno.json (the import map).
        assert(wrapper.includes(`${new URL("../mod.ts", import.meta.url).href}`), wrapper);
        assert(/--config \S+deno\.json/.test(wrapper), wrapper);
      });

      await t.step("ironclaw --version from another folder", async () => {
        const r = await run(["--version"]);
        assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
        assert(r.stdout === `ironclaw ${denoJson.version}\n`, JSON.stringify(r.stdout));
      });

      await t.step("ironclaw --help from another folder", async () => {
        const r = await run(["--help"]);
        assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
        assert(r.stdout.includes("Usage: ironclaw <command>"), r.stdout);
        assert([...Deno.readDirSync(elsewhere)].length === 0, "the command wrote into the folder it ran in");
      });
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(elsewhere, { recursive: true });
    }
  },
});

Deno.test("the README gives the install commands, from a checkout and from JSR", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  assert(readme.includes(denoJson.tasks.install), `README lacks: ${denoJson.tasks.install}`);
  assert(readme.includes("deno task install"), "README lacks deno task install");
  assert(readme.includes("deno install -g -A -n ironclaw jsr:@ironclaw/cli"), "README lacks the JSR line");
});
