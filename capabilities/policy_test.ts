import assert from "node:assert/strict";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { defaultRuntimeConfig, parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { InvalidDocumentError } from "../manifests/errors.ts";
import { type PluginGrants, resolvePolicy, type ResolvePolicyOptions } from "./policy.ts";
import { explainDenoFlags, toDenoFlags } from "./deno_flags.ts";

const CONFIG = parseRuntimeConfig(
  `[limits]
memory_mb = 512
timeout_s = 300
[providers.openai]
type = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
[secrets.github]
env = "GITHUB_TOKEN"
hosts = ["api.github.com"]
`,
  { path: "/etc/ironclaw/ironclaw.toml" },
);

const HEAD = `[agent]\nname = "t"\nkind = "wasm"\nmodule = "t.wasm"\n`;

function policyOf(body: string, options: ResolvePolicyOptions = {}) {
  return resolvePolicy(parseManifest(HEAD + body, { path: "/srv/t/agent.toml" }), CONFIG, options);
}

function codesOf(body: string, options: ResolvePolicyOptions = {}): string[] {
  try {
    policyOf(body, options);
  } catch (e) {
    if (e instanceof InvalidDocumentError) return e.issues.map((i) => i.code);
    throw e;
  }
  return [];
}

Deno.test("resolvePolicy() grants nothing by default", () => {
  const p = policyOf("");
  assert.deepEqual([p.fs.read, p.fs.write, p.net, p.env, p.secrets, p.plugins, p.run.programs], [
    [],
    [],
    [],
    [],
    [],
    [],
    [],
  ]);
  assert.equal(p.model, null);
  assert.equal(p.run.dangerous, false);
  assert.equal(p.fs.hardlinks, false);
  const flags = toDenoFlags(p);
  assert.deepEqual(flags, [
    "--no-prompt",
    "--cached-only",
    "--no-config",
    "--v8-flags=--max-old-space-size=128",
    "--allow-read=/srv/t/t.wasm",
  ]);
});

Deno.test("resolvePolicy() returns a deeply frozen Policy", () => {
  const p = policyOf(`[capabilities.fs]\nread = ["a"]\n`);
  assert.ok(
    Object.isFrozen(p) && Object.isFrozen(p.fs) && Object.isFrozen(p.fs.read) &&
      Object.isFrozen(p.fs.read[0]),
  );
  assert.throws(() => (p.fs.read as unknown as { path: string }[]).push({ path: "/" }));
});

Deno.test("toDenoFlags() maps each capability kind", async (t) => {
  await t.step("fs: read and write, scoped", () => {
    const flags = toDenoFlags(
      policyOf(`[capabilities.fs]\nread = ["notes", "/srv/shared"]\nwrite = ["out"]\n`),
    );
    assert.ok(
      flags.includes("--allow-read=/srv/t/notes,/srv/shared,/srv/t/out,/srv/t/t.wasm"),
      flags.join(" "),
    );
    assert.ok(flags.includes("--allow-write=/srv/t/out"));
  });
  await t.step("net: hosts, ports and URL grants", () => {
    const flags = toDenoFlags(
      policyOf(
        `[capabilities.net]\nallow = ["api.github.com", "x.example:8080", { url = "https://y.example/v1/", methods = ["GET"] }]\n`,
      ),
    );
    assert.ok(flags.includes("--allow-net=api.github.com,x.example:8080,y.example:443"));
  });
  await t.step(
    "net in a run: each name as its pinned addresses; wildcards and unresolved names left out",
    () => {
      const p = policyOf(
        `[capabilities.net]\nallow = ["api.github.com", "x.example:8080", "*.w.example", "gone.example", ` +
          `"10.0.0.5:9", { url = "https://y.example/v1/", methods = ["GET"] }]\n`,
      );
      const pinned = {
        "api.github.com": ["192.0.2.1", "2001:db8::1"],
        "x.example": ["192.0.2.2"],
        "y.example": ["192.0.2.2"],
        "gone.example": [],
      };
      const explained = explainDenoFlags(p, { pinned }).find((f) => f.flag.startsWith("--allow-net"));
      assert.equal(
        explained?.flag,
        "--allow-net=192.0.2.1,[2001:db8::1],192.0.2.2:8080,10.0.0.5:9,192.0.2.2:443",
      );
      assert.match(explained?.why ?? "", /resolved to when the run started/);
      assert.match(
        explainDenoFlags(p).find((f) => f.flag.startsWith("--allow-net"))?.why ?? "",
        /a run lists/,
      );
      const none = toDenoFlags(policyOf(`[capabilities.net]\nallow = ["*.w.example"]\n`), { pinned: {} });
      assert.ok(
        !none.some((f) => f.startsWith("--allow-net")),
        "a wildcard alone grants the process nothing",
      );
    },
  );
  await t.step(
    "env",
    () =>
      assert.ok(
        toDenoFlags(policyOf(`[capabilities.env]\nallow = ["TZ", "APP_*"]\n`)).includes(
          "--allow-env=TZ,APP_*",
        ),
      ),
  );
  await t.step("run only with dangerous, resolved to a path", () => {
    const flags = toDenoFlags(
      policyOf(`[capabilities.run]\ndangerous = true\nallow = ["git"]\n`, {
        findProgram: (n) => `/usr/bin/${n}`,
      }),
    );
    assert.ok(flags.includes("--allow-run=/usr/bin/git"));
  });
  await t.step("never -A, --allow-all, sys or ffi", () => {
    const flags = toDenoFlags(
      policyOf(
        `[capabilities.fs]\nread = ["a"]\n[capabilities.net]\nallow = ["a.example"]\n[capabilities.run]\ndangerous = true\nallow_interpreters = true\nallow = ["bash"]\n`,
      ),
    );
    for (const f of flags) assert.ok(!/^(-A|--allow-all|--allow-sys|--allow-ffi|--allow-import)/.test(f), f);
    assert.equal(flags[0], "--no-prompt");
  });
  await t.step("model hosts are not in the child's net flags", () => {
    const p = policyOf(`[model]\nprovider = "openai"\nname = "gpt-4o-mini"\n`);
    assert.equal(p.model?.baseUrl, "https://api.openai.com/v1");
    assert.ok(!toDenoFlags(p).some((f) => f.startsWith("--allow-net")));
    assert.ok(!toDenoFlags(p).some((f) => f.includes("OPENAI_API_KEY")));
  });
  await t.step("heap from memory_mb", () => {
    assert.ok(
      toDenoFlags(policyOf(`[limits]\nmemory_mb = 256\n`)).includes("--v8-flags=--max-old-space-size=256"),
    );
  });
  await t.step("runtime assets are a separate read flag", () => {
    const flags = toDenoFlags(policyOf(""), {
      runtime: { read: ["/opt/ironclaw/runtime"], write: [], moduleFormat: null },
    });
    assert.ok(flags.includes("--allow-read=/opt/ironclaw/runtime"));
    assert.ok(flags.includes("--allow-read=/srv/t/t.wasm"));
  });
});

Deno.test("explainDenoFlags() names the manifest line of each flag", () => {
  const p = policyOf(`[capabilities.fs]\nread = ["notes"]\n\n[capabilities.env]\nallow = ["TZ"]\n`);
  const env = explainDenoFlags(p).find((f) => f.flag.startsWith("--allow-env"));
  assert.deepEqual(env?.from.map((o) => [o.file, o.line, o.key]), [[
    "/srv/t/agent.toml",
    9,
    "capabilities.env.allow[0]",
  ]]);
  const read = explainDenoFlags(p).find((f) => f.flag.startsWith("--allow-read"));
  assert.equal(read?.from[0]?.line, 6);
});

Deno.test("resolvePolicy() refuses dangerous or impossible grants, all at once", async (t) => {
  const cases: [string, string, string[]][] = [
    ["run without dangerous", `[capabilities.run]\nallow = ["git"]\n`, ["ERR_RUN_NOT_DANGEROUS"]],
    ["a shell without the second opt-in", `[capabilities.run]\ndangerous = true\nallow = ["sh", "deno"]\n`, [
      "ERR_RUN_INTERPRETER",
      "ERR_RUN_INTERPRETER",
    ]],
    ["a brokered key as env", `[capabilities.env]\nallow = ["OPENAI_API_KEY", "GITHUB_*"]\n`, [
      "ERR_ENV_SECRET",
      "ERR_ENV_SECRET",
    ]],
    ["unknown secret", `[capabilities.secrets]\nuse = ["gitlab"]\n`, ["ERR_SECRET_UNKNOWN"]],
    ["unknown provider", `[model]\nprovider = "opnai"\nname = "m"\n`, ["ERR_PROVIDER_UNKNOWN"]],
    ["unknown plugin", `[plugins]\nuse = ["calculator"]\n`, ["ERR_PLUGIN_UNKNOWN"]],
    ["above a ceiling", `[limits]\nmemory_mb = 4096\ntimeout_s = 301\n`, [
      "ERR_LIMIT_CEILING",
      "ERR_LIMIT_CEILING",
    ]],
    ["model budget above a ceiling", `[model]\nprovider = "openai"\nname = "m"\nmax_calls = 5000\n`, [
      "ERR_LIMIT_CEILING",
    ]],
    ["path with a comma", `[capabilities.fs]\nread = ["a,b"]\n`, ["ERR_PATH_COMMA"]],
    [
      "several problems together",
      `[capabilities.fs]\nread = ["/", "../x"]\n[capabilities.net]\nallow = ["*"]\n`,
      [
        "ERR_PATH_ROOT",
        "ERR_PATH_ESCAPE",
        "ERR_NET_WILDCARD",
      ],
    ],
  ];
  for (const [name, body, codes] of cases) {
    await t.step(name, () => assert.deepEqual(codesOf(body), codes));
  }
  await t.step("a react agent needs a model", () => {
    const m = parseManifest(`[agent]\nname = "r"\nkind = "react"\ninstructions = "x"\n`, {
      path: "/srv/r/agent.toml",
    });
    assert.throws(
      () => resolvePolicy(m, CONFIG),
      (e: unknown) => e instanceof InvalidDocumentError && e.issues[0]?.code === "ERR_MISSING_KEY",
    );
  });
  await t.step("a module path that escapes", () => {
    const m = parseManifest(`[agent]\nname = "r"\nkind = "wasm"\nmodule = "../../x.wasm"\n`, {
      path: "/srv/r/agent.toml",
    });
    assert.throws(
      () => resolvePolicy(m, CONFIG),
      (e: unknown) => e instanceof InvalidDocumentError && e.issues[0]?.code === "ERR_PATH_ESCAPE",
    );
  });
});

Deno.test("resolvePolicy() names the built-in providers without a config, and hints at unknown ones", async (t) => {
  const defaults = defaultRuntimeConfig("/srv");
  const policyUnder = (provider: string) =>
    resolvePolicy(
      parseManifest(`${HEAD}[model]\nprovider = "${provider}"\nname = "m"\n`, { path: "/srv/t/agent.toml" }),
      defaults,
    );
  const known: [string, string, string, string | null][] = [
    ["openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY"],
    ["anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"],
    ["ollama", "ollama", "http://127.0.0.1:11434", null],
  ];
  for (const [name, type, baseUrl, apiKeyEnv] of known) {
    await t.step(`"${name}" is built in`, () => {
      const m = policyUnder(name).model;
      assert.deepEqual([m?.type, m?.baseUrl, m?.apiKeyEnv], [type, baseUrl, apiKeyEnv]);
    });
  }
  const unknown: [string, string, RegExp][] = [
    ["a typo", "opnai", /^did you mean "openai"\?$/],
    ["a typo of another", "antropic", /^did you mean "anthropic"\?$/],
    [
      "nothing close",
      "mistral",
      /^name one of "anthropic", "ollama", "openai", or define it in ironclaw\.toml/,
    ],
    ["an inherited property name", "constructor", /^name one of /],
  ];
  for (const [name, provider, hint] of unknown) {
    await t.step(`${name}: ERR_PROVIDER_UNKNOWN`, () => {
      try {
        policyUnder(provider);
        assert.fail("should be refused");
      } catch (e) {
        assert.ok(e instanceof InvalidDocumentError, String(e));
        const [issue] = e.issues;
        assert.equal(issue?.code, "ERR_PROVIDER_UNKNOWN");
        assert.equal(issue?.message, `No provider named "${provider}" in the runtime config "(defaults)"`);
        assert.match(issue?.hint ?? "", hint);
        assert.equal(issue?.pos.key, "model.provider");
      }
    });
  }
  await t.step("the built-in keys are never granted as env", () => {
    const m = parseManifest(`${HEAD}[capabilities.env]\nallow = ["ANTHROPIC_API_KEY"]\n`, {
      path: "/srv/t/agent.toml",
    });
    assert.throws(
      () => resolvePolicy(m, defaults),
      (e: unknown) => e instanceof InvalidDocumentError && e.issues[0]?.code === "ERR_ENV_SECRET",
    );
  });
});

Deno.test("resolvePolicy() carries [agent] task", async (t) => {
  const cases: [string, string][] = [["", "required"], [`task = "optional"\n`, "optional"], [
    `task = "none"\n`,
    "none",
  ]];
  for (const [line, task] of cases) {
    await t.step(task, () => {
      const m = parseManifest(HEAD + line, { path: "/srv/t/agent.toml" });
      assert.equal(resolvePolicy(m, CONFIG).agent.task, task);
    });
  }
});

Deno.test("resolvePolicy() lowers default limits to the ceilings", () => {
  const low = parseRuntimeConfig(`[limits]\nmemory_mb = 64\ntimeout_s = 5\n`, { path: "/c/ironclaw.toml" });
  const p = resolvePolicy(parseManifest(HEAD, { path: "/srv/t/agent.toml" }), low);
  assert.equal(p.limits.memoryMb, 64);
  assert.equal(p.limits.timeoutS, 5);
  assert.equal(p.limitOrigins.memoryMb, null);
});

Deno.test("resolvePolicy() warns on dangerous grants", () => {
  const p = policyOf(
    `[capabilities.run]\ndangerous = true\nallow = ["git"]\n[capabilities.net]\nallow = ["*.example.com", "127.0.0.1:9"]\n[capabilities.secrets]\nuse = ["github"]\n`,
  );
  const messages = p.warnings.map((w) => w.message).join("\n");
  assert.match(messages, /outside the sandbox/);
  assert.match(messages, /every subdomain/);
  assert.match(messages, /private or loopback/);
  assert.match(messages, /"api.github.com", which \[capabilities.net\] does not grant/);
});

Deno.test("resolvePolicy() carries hardlinks = true, with a warning at its line, and adds no flag", () => {
  const p = policyOf(`[capabilities.fs]\nread = ["notes"]\nhardlinks = true\n`);
  assert.equal(p.fs.hardlinks, true);
  const warning = p.warnings.find((w) => /hard link/.test(w.message));
  assert.equal(warning?.at.key, "capabilities.fs.hardlinks");
  assert.equal(warning?.at.line, 7, "the line of hardlinks = true, after the 4 lines of [agent]");
  assert.deepEqual(toDenoFlags(p), toDenoFlags(policyOf(`[capabilities.fs]\nread = ["notes"]\n`)));
  assert.ok(
    !policyOf(`[capabilities.fs]\nhardlinks = false\n`).warnings.some((w) => /hard link/.test(w.message)),
  );
});

Deno.test("resolvePolicy() refuses a hardlinks value that is not a boolean", () => {
  assert.throws(() => policyOf(`[capabilities.fs]\nhardlinks = "yes"\n`), /hardlinks/);
});

Deno.test("resolvePolicy() joins the permissions of used plugins, and only those", async (t) => {
  const plugin = (name: string, read: string[], net: string[]): PluginGrants => ({
    name,
    dir: `/opt/plugins/${name}`,
    fs: { read, write: [] },
    net,
    env: [],
    run: { dangerous: false, allow_interpreters: false, allow: [] },
    at: (path) => ({ file: `/opt/plugins/${name}/plugin.toml`, line: 7, column: 1, key: path.join(".") }),
  });
  const plugins = { kv: plugin("kv", ["data"], []), http: plugin("http", [], ["api.weather.example"]) };
  await t.step("a used plugin's grants appear, attributed to it", () => {
    const p = policyOf(`[plugins]\nuse = ["http"]\n`, { plugins });
    const net = explainDenoFlags(p).find((f) => f.flag.startsWith("--allow-net"));
    assert.equal(net?.flag, "--allow-net=api.weather.example");
    assert.equal(net?.from[0]?.source, "plugin http");
    assert.equal(net?.from[0]?.file, "/opt/plugins/http/plugin.toml");
  });
  await t.step("an unused plugin adds nothing", () => {
    const flags = toDenoFlags(policyOf(`[plugins]\nuse = ["kv"]\n`, { plugins }));
    assert.ok(flags.includes("--allow-read=/opt/plugins/kv/data,/srv/t/t.wasm"));
    assert.ok(!flags.some((f) => f.includes("weather")));
  });
  await t.step("a plugin's bad grant is refused at its own file", () => {
    const bad = { evil: plugin("evil", ["../../.."], []) };
    try {
      policyOf(`[plugins]\nuse = ["evil"]\n`, { plugins: bad });
      assert.fail("should refuse");
    } catch (e) {
      assert.ok(e instanceof InvalidDocumentError);
      assert.equal(e.issues[0]?.pos.file, "/opt/plugins/evil/plugin.toml");
      assert.equal(e.issues[0]?.code, "ERR_PATH_ESCAPE");
    }
  });
});
