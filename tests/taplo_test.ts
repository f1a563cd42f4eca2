/**
 * Editors check IronClaw's TOML files as IronClaw does: every example manifest and plugin.toml names its schema
 * on a `#:schema` line, `.taplo.toml` maps the file names to the schemas, and Taplo (the engine of VS Code's
 * Even Better TOML, run here from npm as its CLI, pinned in deno.json) accepts every shipped file and refuses
 * wrong ones, whichever of the two routes leads it to the schema.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { pluginSchemaFiles } from "../plugins/write_schema.ts";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { parsePluginManifest } from "../plugins/plugin_manifest.ts";
import { ROOT, runDeno } from "./_cli.ts";

/** The files that ship with a `#:schema` line, relative to the root, with the schema each names. */
function shippedFiles(): { file: string; schema: string }[] {
  const out: { file: string; schema: string }[] = [];
  const each = (dir: string, name: string, schema: string) => {
    for (const e of Deno.readDirSync(join(ROOT, dir))) {
      const file = join(dir, e.name, name);
      if (e.isDirectory && Deno.statSync(join(ROOT, dir, e.name)).isDirectory && exists(join(ROOT, file))) {
        out.push({ file, schema });
      }
    }
  };
  each("examples", "agent.toml", "agent.schema.json");
  each("examples", "ironclaw.toml", "ironclaw.schema.json");
  each("plugins/builtin", "plugin.toml", "plugin.schema.json");
  each("tests/plugins", "plugin.toml", "plugin.schema.json");
  return out.sort((a, b) => a.file < b.file ? -1 : 1);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs the pinned Taplo CLI: no network (no schema is ever fetched), files only. */
async function taplo(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  const r = await runDeno([
    "run",
    `--config=${join(ROOT, "deno.json")}`,
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    "--deny-net",
    "@taplo/cli",
    "check",
    "--colors=never",
    ...args,
  ], { cwd, env: { NO_COLOR: "1", RUST_LOG: "info" } });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** The files Taplo reported as invalid, absolute. */
function refused(out: string): string[] {
  return [...out.matchAll(/invalid file error=.*? path="([^"]+)"/g)].map((m) => m[1]!).sort();
}

Deno.test("every example manifest and plugin.toml names its schema on its first line, and IronClaw reads it", () => {
  const files = shippedFiles();
  assert.ok(files.length >= 11, files.map((f) => f.file).join(", "));
  for (const { file, schema } of files) {
    const text = Deno.readTextFileSync(join(ROOT, file));
    const first = /^#:schema (\S+)\n/.exec(text);
    assert.ok(first, `${file} does not start with a #:schema line`);
    assert.equal(resolve(ROOT, dirname(file), first[1]!), join(ROOT, "manifests", schema), file);
    // The line is a comment to IronClaw's own parsers.
    const path = join(ROOT, file);
    if (file.endsWith("agent.toml")) assert.ok(parseManifest(text, { path }).agent.name);
    else if (file.endsWith("ironclaw.toml")) parseRuntimeConfig(text, { path });
    else assert.ok(parsePluginManifest(text, path).tools.length > 0);
  }
});

Deno.test("manifests/plugin.schema.json is current", async () => {
  for (const [name, text] of Object.entries(pluginSchemaFiles())) {
    const committed = await Deno.readTextFile(join(ROOT, "manifests", name));
    assert.equal(committed, text, `manifests/${name} is stale: run deno task schema`);
  }
});

Deno.test("Taplo accepts every shipped file, and refuses each one made wrong, through .taplo.toml or #:schema", async (t) => {
  const files = shippedFiles();
  await t.step("the files as they are, from the root (as an editor opens the repository)", async () => {
    const r = await taplo(files.map((f) => f.file), ROOT);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`found files total=${files.length} excluded=0`));
  });
  // A copy of the layout (the config, the schemas, the files) in a folder of its own, so nothing is written
  // into the repository; files refused there are refused from the root too (same config, same schemas).
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-taplo-" });
  try {
    await Deno.copyFile(join(ROOT, ".taplo.toml"), join(dir, ".taplo.toml"));
    await Deno.mkdir(join(dir, "manifests"));
    for (const name of ["agent.schema.json", "ironclaw.schema.json", "plugin.schema.json"]) {
      await Deno.copyFile(join(ROOT, "manifests", name), join(dir, "manifests", name));
    }
    const typo = (text: string) => text.replace(/^(\[(agent|runtime|plugin)\]\n)/m, "$1nmae = 1\n");
    for (const { file } of files) {
      const text = await Deno.readTextFile(join(ROOT, file));
      await Deno.mkdir(join(dir, dirname(file)), { recursive: true });
      const wrong = typo(text);
      assert.notEqual(wrong, text, `${file}: no [agent], [runtime] or [plugin] table to put a typo in`);
      await Deno.writeTextFile(join(dir, file.replace(/\.toml$/, ".wrong.toml")), wrong);
      // Without its #:schema line, only .taplo.toml's rules lead to the schema.
      await Deno.mkdir(join(dir, "bare", dirname(file)), { recursive: true });
      await Deno.writeTextFile(join(dir, "bare", file), wrong.replace(/^#:schema .*\n/, ""));
    }
    const wrong = files.map((f) => f.file.replace(/\.toml$/, ".wrong.toml"));
    const bare = files.map((f) => join("bare", f.file));
    await t.step("with an unknown key, each is refused through its #:schema line alone", async () => {
      const r = await taplo(["--no-auto-config", ...wrong], dir);
      assert.equal(r.code, 1, r.out);
      assert.deepEqual(refused(r.out), wrong.map((f) => join(dir, f)).sort());
      assert.match(r.out, /'nmae' was unexpected/);
    });
    await t.step(
      "with an unknown key and no #:schema line, each is refused through .taplo.toml",
      async () => {
        const r = await taplo(bare, dir);
        assert.equal(r.code, 1, r.out);
        assert.deepEqual(refused(r.out), bare.map((f) => join(dir, f)).sort());
      },
    );
    await t.step("values the parser refuses are refused too", async () => {
      const cases: [string, string, RegExp][] = [
        [
          "x/agent.toml",
          `[agent]\nname = "Not A Name"\nkind = "wasm"\nmodule = "a.wasm"\n`,
          /"Not A Name" does not match/,
        ],
        [
          "y/agent.toml",
          `[agent]\nname = "a"\nkind = "wsam"\nmodule = "a.wasm"\n`,
          /"wsam" is not one of \["wasm","react","codeact"\]/,
        ],
        ["z/ironclaw.toml", `[runtime]\nsandbox = 3\n`, /3 is not of type "string"/],
        [
          "calc/plugin.toml",
          `[plugin]\nname = "calc"\n[[tools]]\nname = "go"\ndescription = "Go"\ninput = { type = "string" }\n`,
          /"object" was expected/,
        ],
      ];
      for (const [file, text] of cases) {
        await Deno.mkdir(join(dir, "cases", dirname(file)), { recursive: true });
        await Deno.writeTextFile(join(dir, "cases", file), text);
      }
      const r = await taplo(cases.map(([file]) => join("cases", file)), dir);
      assert.equal(r.code, 1, r.out);
      assert.deepEqual(refused(r.out), cases.map(([file]) => join(dir, "cases", file)).sort());
      for (const [file, , message] of cases) {
        const block = r.out.split(/\n(?=error:)/).filter((b) => b.includes(join(dir, "cases", file))).join(
          "\n",
        );
        assert.match(block, message, `${file}: ${r.out}`);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(relative(ROOT, dir).startsWith(".."), "the copies were made outside the repository");
});
