/** Broken and dangerous plugin.toml files: each is a clear error at its line, and the good plugin still loads. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { InvalidDocumentError } from "../manifests/errors.ts";
import { indexPlugins } from "../plugins/plugin_index.ts";
import { ROOT, runCli } from "./_cli.ts";

const CORPUS = join(ROOT, "tests/plugin_corpus");

Deno.test("every broken plugin.toml is refused with its code, file and line; the others still load", async (t) => {
  const index = await indexPlugins([CORPUS]);
  await t.step("the good plugin loads", () => assert.deepEqual([...index.plugins.keys()], ["fine"]));
  const folders = [...Deno.readDirSync(CORPUS)].filter((e) => e.isDirectory && e.name !== "fine").map((e) =>
    e.name
  ).sort();
  assert.ok(folders.length >= 15);
  for (const name of folders) {
    await t.step(name, async () => {
      const text = await Deno.readTextFile(join(CORPUS, name, "plugin.toml"));
      const expected = text.match(/^# expect: (\S+)/)![1]!;
      const broken = index.broken.find((b) => b.dir === join(CORPUS, name));
      assert.ok(broken, `${name} was not refused`);
      assert.ok(broken.error instanceof InvalidDocumentError, String(broken.error));
      const codes: readonly string[] = broken.error.issues.map((i) => i.code);
      assert.ok(codes.includes(expected), `${name}: expected ${expected}, got ${codes.join(", ")}`);
      for (const issue of broken.error.issues) {
        assert.equal(issue.pos.file, join(CORPUS, name, "plugin.toml"));
        assert.ok(issue.pos.line >= 1 && issue.hint.length > 0, JSON.stringify(issue));
      }
    });
  }
});

Deno.test("ironclaw plugins list shows the broken ones on stderr and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "ironclaw.toml"), `[runtime]\nplugins_dir = "${CORPUS}"\n`);
    const r = await runCli(["plugins", "list"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^calculator /m);
    assert.match(r.stdout, /^fine /m);
    assert.match(r.stderr, /broken .*star-host\n {2}.*plugin\.toml:\d+:\d+: ERR_NET_WILDCARD/);
    const show = await runCli(["plugins", "show", "calculater"], { cwd: dir });
    assert.equal(show.code, 1);
    assert.match(show.stderr, /did you mean "calculator"\?/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a manifest that uses a broken plugin is refused with the plugin's own problems", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "ironclaw.toml"), `[runtime]\nplugins_dir = "${CORPUS}"\n`);
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n[plugins]\nuse = ["root-read"]\n`,
    );
    const r = await runCli(["check", "agent.toml"], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /root-read\/plugin\.toml:\d+:\d+: ERR_PATH_ROOT at permissions\.fs\.read\[0\]/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
