import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli } from "./_cli.ts";

Deno.test("ironclaw --help, --version and help <command>", async (t) => {
  await t.step("--help prints examples first, on stdout", async () => {
    const r = await runCli(["--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.ok(r.stdout.indexOf("Examples:") < r.stdout.indexOf("Usage:"));
    assert.match(r.stdout, /check <agent\.toml>/);
  });
  await t.step("--version", async () => {
    const { version } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
    const r = await runCli(["--version"]);
    assert.deepEqual([r.code, r.stdout], [0, `ironclaw ${version}\n`]);
  });
  await t.step("help check", async () => {
    const r = await runCli(["help", "check"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Validate an agent manifest/);
  });
  await t.step("no arguments: help and exit 2", async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /Usage: ironclaw/);
  });
  await t.step("unknown command: did you mean, exit 2", async () => {
    const r = await runCli(["chek", "x.toml"]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /Unknown command "chek" \[ERR_USAGE\]/);
    assert.match(r.stderr, /did you mean "ironclaw check"\?/);
  });
  await t.step("unknown flag: exit 2", async () => {
    const r = await runCli(["check", "--jsn", "examples/hello/agent.toml"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--jsn/);
  });
});

Deno.test("ironclaw check passes every example", async (t) => {
  for await (const entry of Deno.readDir(join(ROOT, "examples"))) {
    if (!entry.isDirectory) continue;
    await t.step(entry.name, async () => {
      const config = `examples/${entry.name}/ironclaw.toml`;
      const own = await Deno.stat(join(ROOT, config)).then(() => ["--config", config], () => []);
      const r = await runCli(["check", `examples/${entry.name}/agent.toml`, ...own]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^valid /);
      assert.match(r.stdout, /Sandbox command\n {2}\S+ run --no-prompt --cached-only/);
    });
  }
});

Deno.test("ironclaw check shows grants, command and the reason of each flag", async () => {
  const r = await runCli(["check", "examples/hello/agent.toml"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /read +\S+examples\/hello\/notes +examples\/hello\/agent\.toml:10:9/);
  assert.match(
    r.stdout,
    /--allow-write=\S+examples\/hello\/out\n +\[capabilities\.fs\] write \(examples\/hello\/agent\.toml:11:10\)/,
  );
  assert.match(r.stdout, /--v8-flags=--max-old-space-size=64\n +JS heap capped/);
});

Deno.test("ironclaw check --json prints one object", async () => {
  const r = await runCli(["check", "--json", "examples/hello/agent.toml"]);
  assert.equal(r.code, 0);
  const out = JSON.parse(r.stdout);
  assert.equal(out.agent.name, "hello");
  assert.ok(Array.isArray(out.flags) && out.flags.includes("--no-prompt"));
  assert.ok(!out.flags.includes("-A"));
  assert.deepEqual(out.warnings, []);
  assert.equal(out.command.at(-1), join(ROOT, "runtime", "sandbox.ts"));
  assert.deepEqual(out.command.slice(1, -1), ["run", ...out.flags]);
});

Deno.test("ironclaw check of an invalid manifest lists every problem and exits 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "x.wasm"\nflavour = "mint"\n[capabilities.fs]\nread = ["/"]\n[capabilities.net]\nallow = ["*"]\n`,
    );
    const r = await runCli(["check", "agent.toml"], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /3 problems found/);
    assert.match(r.stderr, /agent\.toml:5:1: ERR_UNKNOWN_KEY at agent\.flavour/);
    assert.match(r.stderr, /agent\.toml:7:9: ERR_PATH_ROOT/);
    assert.match(r.stderr, /agent\.toml:9:10: ERR_NET_WILDCARD/);
    const j = await runCli(["check", "agent.toml", "--json"], { cwd: dir });
    assert.equal(j.code, 2);
    const out = JSON.parse(j.stdout);
    assert.equal(out.valid, false);
    assert.deepEqual(out.error.errors.map((e: { code: string }) => e.code), [
      "ERR_UNKNOWN_KEY",
      "ERR_PATH_ROOT",
      "ERR_NET_WILDCARD",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ironclaw check warns about dangerous grants", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "x.wasm"\n[capabilities.run]\ndangerous = true\nallow = ["git"]\n`,
    );
    const r = await runCli(["check", "agent.toml"], { cwd: dir });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Warnings\n {2}warning: Subprocesses run outside the sandbox/);
    assert.match(r.stdout, /--allow-run=\S*git/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ironclaw check uses --config, then ./ironclaw.toml", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "x.wasm"\n[limits]\nmemory_mb = 300\n`,
    );
    await Deno.writeTextFile(join(dir, "ironclaw.toml"), `[limits]\nmemory_mb = 256\n`);
    await Deno.writeTextFile(join(dir, "roomy.toml"), `[limits]\nmemory_mb = 2048\n`);
    await t.step("./ironclaw.toml: the ceiling refuses", async () => {
      const r = await runCli(["check", "agent.toml"], { cwd: dir });
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /ERR_LIMIT_CEILING at limits\.memory_mb: limits\.memory_mb = 300 is above the runtime's ceiling of 256/,
      );
      assert.match(r.stderr, /raise \[limits\] memory_mb in ".*ironclaw\.toml"/);
    });
    await t.step("--config wins", async () => {
      const r = await runCli(["check", "agent.toml", "--config", "roomy.toml"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /config +\S+roomy\.toml/);
    });
    await t.step("--config of a missing file: exit 1", async () => {
      const r = await runCli(["check", "agent.toml", "--config", "nope.toml"], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /The runtime config ".*nope\.toml" does not exist \[ERR_NOT_FOUND\]/);
    });
    await t.step("an invalid runtime config: exit 2, at its line", async () => {
      await Deno.writeTextFile(join(dir, "bad.toml"), `[log]\nformat = "xml"\n`);
      const r = await runCli(["check", "agent.toml", "--config", "bad.toml"], { cwd: dir });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /bad\.toml:2:1: ERR_VALUE at log\.format/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ironclaw check of a missing manifest exits 1", async () => {
  const r = await runCli(["check", "does/not/exist.toml"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /does not exist \[ERR_NOT_FOUND\]/);
});

Deno.test("ironclaw writes its diagnostics where [log] says", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "x.wasm"\n`,
    );
    await t.step("to a file, as JSON lines", async () => {
      await Deno.writeTextFile(
        join(dir, "ironclaw.toml"),
        `[log]\nlevel = "debug"\nformat = "json"\nfile = "logs/ic.log"\n`,
      );
      await Deno.mkdir(join(dir, "logs"));
      const r = await runCli(["check", "agent.toml", "--json"], { cwd: dir });
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      const record = JSON.parse(
        (await Deno.readTextFile(join(dir, "logs", "ic.log"))).trim().split("\n")[0]!,
      );
      assert.equal(record.level, "DEBUG");
      assert.equal(record.logger, "ironclaw.check");
      assert.equal(record.properties.agent, "x");
    });
    await t.step("to standard error when stdout carries JSON", async () => {
      await Deno.writeTextFile(join(dir, "ironclaw.toml"), `[log]\nlevel = "debug"\n`);
      const r = await runCli(["check", "agent.toml", "--json"], { cwd: dir });
      assert.equal(JSON.parse(r.stdout).valid, true);
      assert.match(r.stderr, /\[DBG\] ironclaw\.check: Resolved the policy of "x"/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
