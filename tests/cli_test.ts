import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli } from "./_cli.ts";
import { defaultStateDir } from "../supervisor/load.ts";
import { openStore, RunWriter } from "../supervisor/store/mod.ts";

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
      assert.match(
        r.stdout,
        /Sandbox command\n {2}\S+ run '--allow-read=\S+' '--allow-write=\S+' '--allow-net=unix:\S+' --no-prompt --cached-only/,
      );
    });
  }
});

Deno.test("ironclaw check shows grants, command and the reason of each flag", async () => {
  const r = await runCli(["check", "examples/hello/agent.toml"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /read +\S+examples\/hello\/notes +examples\/hello\/agent\.toml:11:9/);
  assert.match(
    r.stdout,
    /--allow-write=\S+examples\/hello\/out\n +\[capabilities\.fs\] write \(examples\/hello\/agent\.toml:12:10\)/,
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
  // The sandbox runs the bundle of this checkout's sources, kept in the cache folder by their fingerprint.
  assert.match(out.command.at(-3), /\/sandbox\/[0-9a-f]{16}\/bundle\/sandbox\.js$/);
  assert.match(out.command.at(-2), /^--channel=\S+\/channels\/<run-id>$/);
  assert.match(out.command.at(-1), /^--max-line=\d+$/, "the run's protocol line cap");
  // The run's channel (granted first, named next to last), the Policy's flags, then the Worker options guests need.
  const channel = out.command.at(-2).slice("--channel=".length);
  assert.deepEqual(out.command.slice(1, -3), [
    "run",
    `--allow-read=${channel}`,
    `--allow-write=${channel}`,
    `--allow-net=unix:${channel}`,
    ...out.flags,
    "--unstable-worker-options",
  ]);
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

Deno.test("ironclaw check warns when a granted folder or the module does not exist", async (t) => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "bin/x.wasm"\n[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n`,
    );
    await Deno.mkdir(join(dir, "out"));
    await t.step("text: warnings, exit 0", async () => {
      const r = await runCli(["check", "agent.toml"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /warning: The read grant ".*\/notes" does not exist: create it, or the agent cannot use it \(agent\.toml:6:9\)/,
      );
      assert.match(
        r.stdout,
        /warning: The module ".*\/bin\/x\.wasm" does not exist: build it before running the agent \(agent\.toml:4:1\)/,
      );
      assert.doesNotMatch(r.stdout, /write grant/, "out exists");
    });
    await t.step("--json: in warnings, with their lines", async () => {
      const r = await runCli(["check", "agent.toml", "--json"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, true);
      assert.deepEqual(
        out.warnings.map((w: { key: string; line: number; message: string }) => [w.key, w.line, w.message]),
        [
          [
            "capabilities.fs.read[0]",
            6,
            `The read grant "${join(dir, "notes")}" does not exist: create it, or the agent cannot use it`,
          ],
          [
            "agent.module",
            4,
            `The module "${join(dir, "bin/x.wasm")}" does not exist: build it before running the agent`,
          ],
        ],
      );
    });
    await t.step("once they exist: no warnings", async () => {
      await Deno.mkdir(join(dir, "notes"));
      await Deno.mkdir(join(dir, "bin"));
      await Deno.writeFile(join(dir, "bin", "x.wasm"), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
      const r = await runCli(["check", "agent.toml", "--json"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).warnings, []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ironclaw check finds the config: --config, ./ironclaw.toml, beside the manifest, defaults", async (t) => {
  const root = await Deno.realPath(await Deno.makeTempDir());
  try {
    // The agent asks for more memory than the config beside it allows: that config in force means exit 2.
    await Deno.mkdir(join(root, "agent"));
    await Deno.mkdir(join(root, "work"));
    await Deno.mkdir(join(root, "elsewhere"));
    await Deno.writeTextFile(
      join(root, "agent", "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "x.wasm"\n[limits]\nmemory_mb = 300\n`,
    );
    await Deno.writeTextFile(join(root, "agent", "ironclaw.toml"), `[limits]\nmemory_mb = 256\n`);
    await Deno.writeTextFile(join(root, "work", "ironclaw.toml"), `[limits]\nmemory_mb = 512\n`);
    await Deno.writeTextFile(join(root, "roomy.toml"), `[limits]\nmemory_mb = 2048\n`);
    const manifest = join(root, "agent", "agent.toml");
    const cases: [string, string, string[], number, RegExp][] = [
      // name, working directory, extra arguments, exit code, what the output says
      ["--config first", "work", ["--config", "../roomy.toml"], 0, /config +\S+\/roomy\.toml\n/],
      ["then ./ironclaw.toml", "work", [], 0, /config +\S+\/work\/ironclaw\.toml\n/],
      [
        "then ironclaw.toml beside the manifest",
        "elsewhere",
        [],
        2,
        /ceiling of 256\n.*raise \[limits\] memory_mb in ".*\/agent\/ironclaw\.toml"/,
      ],
    ];
    for (const [name, cwd, extra, code, said] of cases) {
      await t.step(name, async () => {
        const r = await runCli(["check", manifest, ...extra], { cwd: join(root, cwd) });
        assert.equal(r.code, code, r.stderr);
        assert.match(code === 0 ? r.stdout : r.stderr, said);
      });
    }
    await t.step("then the built-in defaults", async () => {
      await Deno.remove(join(root, "agent", "ironclaw.toml"));
      const r = await runCli(["check", manifest], { cwd: join(root, "elsewhere") });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /config +\(defaults\)\n/);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ironclaw --help and the commands' help say where the config is found", async (t) => {
  for (const args of [["--help"], ["help", "run"], ["help", "check"]]) {
    await t.step(args.join(" "), async () => {
      const r = await runCli(args);
      assert.equal(r.code, 0);
      assert.match(
        r.stdout,
        /--config <file> +Runtime config; without it: \.\/ironclaw\.toml, then ironclaw\.toml\s+beside\s+the manifest/,
      );
    });
  }
});

Deno.test("ironclaw check: the built-in providers need no config; an unknown one gets a did-you-mean", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const agent = (provider: string) =>
      `[agent]\nname = "x"\nkind = "react"\ninstructions = "Answer."\n[model]\nprovider = "${provider}"\nname = "m"\n`;
    const known: [string, RegExp][] = [
      ["openai", /model +openai \(openai\) m, /],
      ["anthropic", /model +anthropic \(anthropic\) m, /],
      ["ollama", /model +ollama \(ollama\) m, /],
    ];
    for (const [provider, row] of known) {
      await t.step(provider, async () => {
        await Deno.writeTextFile(join(dir, "agent.toml"), agent(provider));
        const r = await runCli(["check", "agent.toml"], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /config +\(defaults\)/);
        assert.match(r.stdout, row);
      });
    }
    await t.step("a typo: exit 2, did you mean", async () => {
      await Deno.writeTextFile(join(dir, "agent.toml"), agent("antropic"));
      const r = await runCli(["check", "agent.toml"], { cwd: dir });
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /agent\.toml:6:1: ERR_PROVIDER_UNKNOWN at model\.provider: No provider named "antropic"/,
      );
      assert.match(r.stderr, /hint: did you mean "anthropic"\?/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("defaultStateDir() follows XDG: $XDG_STATE_HOME, then $HOME", async (t) => {
  const cases: [string, Record<string, string>, string | undefined][] = [
    ["XDG_STATE_HOME wins", { XDG_STATE_HOME: "/xdg/state", HOME: "/home/ada" }, "/xdg/state/ironclaw"],
    ["else HOME", { HOME: "/home/ada" }, "/home/ada/.local/state/ironclaw"],
    [
      "an empty XDG_STATE_HOME is unset",
      { XDG_STATE_HOME: "", HOME: "/home/ada" },
      "/home/ada/.local/state/ironclaw",
    ],
    [
      "a relative XDG_STATE_HOME is ignored",
      { XDG_STATE_HOME: "state", HOME: "/home/ada" },
      "/home/ada/.local/state/ironclaw",
    ],
    ["neither: none", {}, undefined],
    ["a relative HOME: none", { HOME: "ada" }, undefined],
  ];
  for (const [name, env, expected] of cases) {
    await t.step(name, () => assert.equal(defaultStateDir((k) => env[k]), expected));
  }
});

Deno.test("ironclaw check shows the worker-mode command when the config asks for it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "agent.toml"),
      `[agent]\nname = "x"\nkind = "wasm"\nmodule = "x.wasm"\n`,
    );
    await Deno.writeTextFile(join(dir, "ironclaw.toml"), `[runtime]\nsandbox = "worker"\n`);
    const r = await runCli(["check", "agent.toml", "--json"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const { command } = JSON.parse(r.stdout);
    assert.ok(command.includes("--unstable-worker-options"), command.join(" "));
    assert.equal(command.at(-3), "--mode=worker");
    assert.ok(!command.includes("--allow-all"), "a run from source keeps the process flags as well");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reader that goes away (| head) ends the output, not the command: no crash, exit 0", async () => {
  const state = await Deno.makeTempDir();
  try {
    // A run with far more events than a pipe holds, so the writer meets the closed pipe.
    const store = await openStore(join(state, "ironclaw"));
    const id = "20261201T000000Z-pipe01";
    const lease = await RunWriter.createRun(store, {
      id,
      agent: "a",
      manifest: "/m/agent.toml",
      task: "t",
      started: new Date().toISOString(),
    });
    const writer = new RunWriter(store, lease, { onError: (e) => assert.fail(e.message) });
    for (let i = 0; i < 5000; i++) writer.append({ type: "log", level: "info", message: "x".repeat(100) });
    assert.equal(await writer.close("ok", 0), null);
    await store.close();
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `"$0" run -A --quiet "${ROOT}mod.ts" runs show ${id} | head -c 100 >/dev/null; echo "status \${PIPESTATUS[0]}" >&2`,
        Deno.execPath(),
      ],
      env: { XDG_STATE_HOME: state, NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.doesNotMatch(stderr, /bug|BrokenPipe/);
    assert.match(stderr, /status 0/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
