import assert from "node:assert/strict";
import { defaultRuntimeConfig, parseRuntimeConfig } from "./runtime_config.ts";
import { InvalidDocumentError } from "./errors.ts";
import { schemaFiles } from "./write_schema.ts";

Deno.test("parseRuntimeConfig() resolves paths and keeps the built-in provider", () => {
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
  assert.equal(c.providers.local?.type, "ollama");
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

Deno.test("defaultRuntimeConfig() needs no file", () => {
  const c = defaultRuntimeConfig("/srv/here");
  assert.equal(c.runtime.state_dir, "/srv/here/.ironclaw");
  assert.equal(c.log.level, "warning");
});

Deno.test("the published JSON Schemas are current", async () => {
  for (const [name, text] of Object.entries(schemaFiles())) {
    const committed = await Deno.readTextFile(new URL(name, import.meta.url));
    assert.equal(committed, text, `manifests/${name} is stale: run deno task schema`);
  }
});
