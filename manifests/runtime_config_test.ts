import assert from "node:assert/strict";
import { defaultRuntimeConfig, parseRuntimeConfig } from "./runtime_config.ts";
import { InvalidDocumentError } from "./errors.ts";
import { schemaFiles } from "./write_schema.ts";

Deno.test("parseRuntimeConfig() resolves paths and keeps the built-in providers", () => {
  const c = parseRuntimeConfig(
    `[runtime]
plugins_dir = "my-plugins"
state_dir = "/var/lib/ironclaw"
[log]
level = "debug"
format = "json"
file = "logs/ironclaw.log"
[providers.mock]
type = "scripted"
transcript = "t.json"
[secrets.gh]
file = "secrets/gh"
hosts = ["api.github.com"]
`,
    { path: "/etc/ic/ironclaw.toml" },
  );
  assert.equal(c.runtime.plugins_dir, "/etc/ic/my-plugins");
  assert.equal(c.runtime.state_dir, "/var/lib/ironclaw");
  assert.equal(c.log.file, "/etc/ic/logs/ironclaw.log");
  assert.equal(c.providers.mock?.transcript, "/etc/ic/t.json");
  assert.deepEqual(Object.keys(c.providers).sort(), ["anthropic", "mock", "ollama", "openai"]);
  assert.deepEqual(c.secrets.gh, {
    file: "/etc/ic/secrets/gh",
    hosts: ["api.github.com"],
    header: "Authorization",
    format: "Bearer {value}",
  });
});

Deno.test("parseRuntimeConfig() refuses bad tables with positions", async (t) => {
  const cases: [string, string, string[]][] = [
    ["unknown key", `[log]\nlevle = "info"\n`, ["ERR_UNKNOWN_KEY"]],
    ["bad level", `[log]\nlevel = "verbose"\n`, ["ERR_VALUE"]],
    ["provider without base_url", `[providers.x]\ntype = "openai"\n`, ["ERR_MISSING_KEY"]],
    ["scripted provider without transcript", `[providers.x]\ntype = "scripted"\n`, ["ERR_MISSING_KEY"]],
    ["bad provider type", `[providers.x]\ntype = "gemini"\nbase_url = "http://x"\n`, ["ERR_VALUE"]],
    ["secret with env and file", `[secrets.s]\nenv = "A"\nfile = "f"\nhosts = ["a.example"]\n`, [
      "ERR_CONFLICT",
    ]],
    ["secret with neither", `[secrets.s]\nhosts = ["a.example"]\n`, ["ERR_MISSING_KEY"]],
    ["secret format without {value}", `[secrets.s]\nenv = "A"\nhosts = ["a.example"]\nformat = "Bearer"\n`, [
      "ERR_VALUE",
    ]],
    ["ceiling of zero", `[limits]\nmemory_mb = 0\n`, ["ERR_VALUE"]],
    ["bad provider name", `[providers."a b"]\ntype = "ollama"\nbase_url = "http://x"\n`, ["ERR_VALUE"]],
  ];
  for (const [name, text, codes] of cases) {
    await t.step(name, () => {
      try {
        parseRuntimeConfig(text, { path: "/c/ironclaw.toml" });
        assert.fail("should be refused");
      } catch (e) {
        assert.ok(e instanceof InvalidDocumentError, String(e));
        assert.deepEqual(e.issues.map((i) => i.code), codes);
        assert.ok(e.issues.every((i) => i.pos.line >= 1 && i.pos.file === "/c/ironclaw.toml"));
      }
    });
  }
});

Deno.test("defaultRuntimeConfig() needs no file", async (t) => {
  await t.step("state beside the working directory without a state folder given", () => {
    const c = defaultRuntimeConfig("/srv/here");
    assert.equal(c.runtime.state_dir, "/srv/here/.ironclaw");
    assert.equal(c.runtime.plugins_dir, "/srv/here/plugins");
    assert.equal(c.runtime.sandbox, "process");
    assert.equal(c.log.level, "warning");
  });
  await t.step("the per-user state folder when given", () => {
    const c = defaultRuntimeConfig("/srv/here", { stateDir: "/home/ada/.local/state/ironclaw" });
    assert.equal(c.runtime.state_dir, "/home/ada/.local/state/ironclaw");
    assert.equal(c.file, "(defaults)");
  });
});

Deno.test("parseRuntimeConfig() has the built-in providers openai, anthropic and ollama", async (t) => {
  const builtIn = {
    openai: {
      type: "openai",
      base_url: "https://api.openai.com/v1",
      api_key_env: "OPENAI_API_KEY",
      timeout_s: 120,
    },
    anthropic: {
      type: "anthropic",
      base_url: "https://api.anthropic.com",
      api_key_env: "ANTHROPIC_API_KEY",
      timeout_s: 120,
    },
    ollama: { type: "ollama", base_url: "http://127.0.0.1:11434", timeout_s: 120 },
  };
  const cases: [string, string, Record<string, unknown>][] = [
    ["no [providers]: the three", "", builtIn],
    [
      "a new name adds to them",
      `[providers.lab]
type = "openai"
base_url = "http://10.0.0.5:8000/v1"
`,
      { ...builtIn, lab: { type: "openai", base_url: "http://10.0.0.5:8000/v1", timeout_s: 120 } },
    ],
    [
      "the same name replaces one, whole",
      `[providers.ollama]
type = "ollama"
base_url = "http://gpu-box:11434"
timeout_s = 600
`,
      { ...builtIn, ollama: { type: "ollama", base_url: "http://gpu-box:11434", timeout_s: 600 } },
    ],
    [
      "a scripted provider may take a built-in name",
      `[providers.openai]
type = "scripted"
transcript = "t.json"
`,
      { ...builtIn, openai: { type: "scripted", transcript: "/c/t.json", timeout_s: 120 } },
    ],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => {
      const c = parseRuntimeConfig(text, { path: "/c/ironclaw.toml" });
      assert.deepEqual(c.providers, expected);
    });
  }
});

Deno.test("parseRuntimeConfig() finds the state folder", async (t) => {
  const perUser = "/home/ada/.local/state/ironclaw";
  const cases: [string, string, string | undefined, string][] = [
    // name, text, the per-user folder passed in, the state folder in force
    ["unset: the per-user folder", "", perUser, perUser],
    ["unset, none passed in: beside the config", "", undefined, "/c/.ironclaw"],
    [
      "relative: against the config's folder",
      `[runtime]
state_dir = "records"
`,
      perUser,
      "/c/records",
    ],
    [
      "absolute",
      `[runtime]
state_dir = "/var/lib/ironclaw"
`,
      perUser,
      "/var/lib/ironclaw",
    ],
  ];
  for (const [name, text, stateDir, expected] of cases) {
    await t.step(name, () => {
      const options = stateDir === undefined
        ? { path: "/c/ironclaw.toml" }
        : { path: "/c/ironclaw.toml", stateDir };
      assert.equal(parseRuntimeConfig(text, options).runtime.state_dir, expected);
    });
  }
});

Deno.test("parseRuntimeConfig() reads [runtime] sandbox", async (t) => {
  const cases: [string, string, string | null][] = [
    ["absent: process", "", "process"],
    [
      "process",
      `[runtime]
sandbox = "process"
`,
      "process",
    ],
    [
      "worker",
      `[runtime]
sandbox = "worker"
`,
      "worker",
    ],
    [
      "anything else is refused",
      `[runtime]
sandbox = "wroker"
`,
      null,
    ],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => {
      if (expected !== null) {
        assert.equal(parseRuntimeConfig(text, { path: "/c/ironclaw.toml" }).runtime.sandbox, expected);
        return;
      }
      try {
        parseRuntimeConfig(text, { path: "/c/ironclaw.toml" });
        assert.fail("should be refused");
      } catch (e) {
        assert.ok(e instanceof InvalidDocumentError, String(e));
        assert.deepEqual(e.issues.map((i) => [i.code, i.pos.key, i.pos.line]), [[
          "ERR_VALUE",
          "runtime.sandbox",
          2,
        ]]);
        assert.equal(e.issues[0]?.hint, 'did you mean "worker"?');
      }
    });
  }
});

Deno.test("the published JSON Schemas are current", async () => {
  for (const [name, text] of Object.entries(schemaFiles())) {
    const committed = await Deno.readTextFile(new URL(name, import.meta.url));
    assert.equal(committed, text, `manifests/${name} is stale: run deno task schema`);
  }
});

Deno.test("parseRuntimeConfig() reads [runtime] name_server", async (t) => {
  const cases: [string, string, unknown][] = [
    ["absent: the system's", "", null],
    ["IPv4 and port", "127.0.0.1:5353", { ipAddr: "127.0.0.1", port: 5353 }],
    ["IPv4, port 53 by default", "192.0.2.53", { ipAddr: "192.0.2.53", port: 53 }],
    ["IPv6 in brackets", "[::1]:5353", { ipAddr: "::1", port: 5353 }],
    ["a name is refused", "dns.example:53", "ERR_VALUE"],
    ["an octet over 255 is refused", "300.0.0.1:53", "ERR_VALUE"],
    ["port 0 is refused", "127.0.0.1:0", "ERR_VALUE"],
    ["IPv6 without brackets is refused", "::1", "ERR_VALUE"],
  ];
  for (const [name, value, expected] of cases) {
    await t.step(name, () => {
      const text = value === "" ? "" : `[runtime]\nname_server = "${value}"\n`;
      if (expected !== "ERR_VALUE") {
        assert.deepEqual(
          parseRuntimeConfig(text, { path: "/c/ironclaw.toml" }).runtime.name_server,
          expected,
        );
        return;
      }
      try {
        parseRuntimeConfig(text, { path: "/c/ironclaw.toml" });
        assert.fail("should be refused");
      } catch (e) {
        assert.ok(e instanceof InvalidDocumentError, String(e));
        assert.deepEqual(e.issues.map((i) => [i.code, i.pos.key]), [["ERR_VALUE", "runtime.name_server"]]);
        assert.match(e.issues[0]!.hint, /127\.0\.0\.1:5353/);
      }
    });
  }
});

Deno.test("parseRuntimeConfig() reads [telemetry]: absent is null, present is checked", async (t) => {
  const path = "/etc/ic/ironclaw.toml";
  await t.step("absent: nothing is exported", () => {
    assert.equal(parseRuntimeConfig("", { path }).telemetry, null);
  });
  await t.step("present: defaults filled in, the endpoint's trailing slash dropped", () => {
    const c = parseRuntimeConfig(
      `[telemetry]\notlp_endpoint = "https://otel.example:4318/"\n[telemetry.headers]\n` +
        `x-team = "agents"\nAuthorization = { env = "OTLP_TOKEN", format = "Bearer {value}" }\n` +
        `x-key = { env = "OTLP_KEY" }\n`,
      { path },
    );
    assert.deepEqual(c.telemetry, {
      otlp_endpoint: "https://otel.example:4318",
      service_name: "ironclaw",
      timeout_s: 5,
      headers: {
        "x-team": "agents",
        Authorization: { env: "OTLP_TOKEN", format: "Bearer {value}" },
        "x-key": { env: "OTLP_KEY", format: "{value}" },
      },
    });
  });
  const cases: [string, string, string][] = [
    ["no endpoint", `[telemetry]\nservice_name = "x"\n`, "ERR_MISSING_KEY"],
    ["not http", `[telemetry]\notlp_endpoint = "ftp://otel.example"\n`, "ERR_VALUE"],
    ["credentials in the URL", `[telemetry]\notlp_endpoint = "http://u:p@otel.example"\n`, "ERR_VALUE"],
    ["a query", `[telemetry]\notlp_endpoint = "http://otel.example/?k=v"\n`, "ERR_VALUE"],
    ["not a URL", `[telemetry]\notlp_endpoint = "http://[zz"\n`, "ERR_VALUE"],
    [
      "a header from no variable",
      `[telemetry]\notlp_endpoint = "http://o"\nheaders = { a = { x = "Y" } }\n`,
      "ERR_UNKNOWN_KEY",
    ],
    [
      "a header that is a number",
      `[telemetry]\notlp_endpoint = "http://o"\nheaders = { a = 3 }\n`,
      "ERR_TYPE",
    ],
    [
      "a bad header name",
      `[telemetry]\notlp_endpoint = "http://o"\nheaders = { "a b" = "v" }\n`,
      "ERR_VALUE",
    ],
    [
      "a format without {value}",
      `[telemetry]\notlp_endpoint = "http://o"\nheaders = { a = { env = "A", format = "x" } }\n`,
      "ERR_VALUE",
    ],
    ["a timeout past a minute", `[telemetry]\notlp_endpoint = "http://o"\ntimeout_s = 600\n`, "ERR_VALUE"],
  ];
  for (const [name, text, code] of cases) {
    await t.step(`refused: ${name}`, () => {
      assert.throws(() => parseRuntimeConfig(text, { path }), (e: unknown) => {
        assert.ok(e instanceof InvalidDocumentError);
        assert.ok(e.issues.some((i) => i.code === code), JSON.stringify(e.issues.map((i) => i.code)));
        return true;
      });
    });
  }
});
