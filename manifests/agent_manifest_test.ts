import assert from "node:assert/strict";
import { AGENT_SCHEMA, parseManifest } from "./agent_manifest.ts";
import { parseRuntimeConfig } from "./runtime_config.ts";
import { InvalidDocumentError } from "./errors.ts";
import type { Node } from "./schema.ts";
import { type Policy, resolvePolicy } from "../capabilities/policy.ts";

/** A manifest that sets every key to something other than its default. */
const FULL = `[agent]
name = "full-agent"
version = "1.2.3"
description = "Every key set"
kind = "codeact"
language = "python"
instructions = "Think, then write code."
task = "optional"

[model]
provider = "openai"
name = "gpt-test"
max_calls = 7
max_tokens = 7777

[capabilities.fs]
read = ["notes"]
write = ["out"]
hardlinks = true

[capabilities.net]
allow = ["api.github.com", { url = "https://api.example.com/v1/", methods = ["GET", "POST"] }]

[capabilities.run]
dangerous = true
allow_interpreters = true
allow = ["git", "bash"]

[capabilities.env]
allow = ["TZ"]

[capabilities.secrets]
use = ["github"]

[plugins]
use = ["calculator"]

[limits]
memory_mb = 99
timeout_s = 33
max_steps = 11
max_tool_calls = 44
max_output_kb = 55
step_timeout_s = 7
retries = 3

[approvals]
require = ["fs.write", "http.fetch:post"]
timeout_s = 120
`;

const CONFIG = parseRuntimeConfig(
  `[providers.openai]
type = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
[secrets.github]
env = "GITHUB_TOKEN"
hosts = ["api.github.com"]
`,
  { path: "/etc/ironclaw.toml" },
);

/** Where each manifest key lands in the Policy. A key missing here fails the round-trip test. */
const REACHES: Record<string, (p: Policy) => unknown> = {
  "agent.name": (p) => p.agent.name,
  "agent.version": (p) => p.agent.version,
  "agent.description": (p) => p.agent.description,
  "agent.kind": (p) => p.agent.kind,
  "agent.module": (p) => p.agent.module,
  "agent.language": (p) => p.agent.language,
  "agent.instructions": (p) => p.agent.instructions,
  "agent.task": (p) => p.agent.task,
  "model.provider": (p) => p.model?.provider,
  "model.name": (p) => p.model?.name,
  "model.max_calls": (p) => p.model?.maxCalls,
  "model.max_tokens": (p) => p.model?.maxTokens,
  "capabilities.fs.read": (p) => p.fs.read.map((g) => g.path),
  "capabilities.fs.write": (p) => p.fs.write.map((g) => g.path),
  "capabilities.fs.hardlinks": (p) => p.fs.hardlinks,
  "capabilities.net.allow": (p) => p.net.map((g) => [g.host, g.methods]),
  "capabilities.run.dangerous": (p) => p.run.dangerous,
  "capabilities.run.allow_interpreters": (p) => p.run.allowInterpreters,
  "capabilities.run.allow": (p) => p.run.programs.map((g) => g.name),
  "capabilities.env.allow": (p) => p.env.map((g) => g.name),
  "capabilities.secrets.use": (p) => p.secrets.map((s) => s.name),
  "plugins.use": (p) => p.plugins.map((x) => x.name),
  "limits.memory_mb": (p) => p.limits.memoryMb,
  "limits.timeout_s": (p) => p.limits.timeoutS,
  "limits.max_steps": (p) => p.limits.maxSteps,
  "limits.max_tool_calls": (p) => p.limits.maxToolCalls,
  "limits.max_output_kb": (p) => p.limits.maxOutputKb,
  "limits.step_timeout_s": (p) => p.limits.stepTimeoutS,
  "limits.retries": (p) => p.limits.retries,
  "approvals.require": (p) => p.approvals.require.map((r) => r.method ? `${r.op}:${r.method}` : r.op),
  "approvals.timeout_s": (p) => p.approvals.timeoutS,
};

function leaves(node: Node, prefix: string): string[] {
  if (node.type !== "table") return [prefix];
  return Object.entries(node.fields).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

const plugins = {
  calculator: {
    name: "calculator",
    dir: "/opt/plugins/calculator",
    fs: { read: [], write: [] },
    net: [],
    env: [],
    run: { dangerous: false, allow_interpreters: false, allow: [] },
    at: () => ({ file: "/opt/plugins/calculator/plugin.toml", line: 1, column: 1, key: "" }),
  },
};

Deno.test("every manifest key reaches the Policy", async (t) => {
  await t.step("the table covers the schema", () => {
    assert.deepEqual(leaves(AGENT_SCHEMA, "").sort(), Object.keys(REACHES).sort());
  });
  const full = resolvePolicy(parseManifest(FULL, { path: "/srv/full/agent.toml" }), CONFIG, { plugins });
  const expected: Record<string, unknown> = {
    "agent.name": "full-agent",
    "agent.version": "1.2.3",
    "agent.description": "Every key set",
    "agent.kind": "codeact",
    "agent.language": "python",
    "agent.instructions": "Think, then write code.",
    "agent.task": "optional",
    "model.provider": "openai",
    "model.name": "gpt-test",
    "model.max_calls": 7,
    "model.max_tokens": 7777,
    "capabilities.fs.read": ["/srv/full/notes"],
    "capabilities.fs.write": ["/srv/full/out"],
    "capabilities.fs.hardlinks": true,
    "capabilities.net.allow": [["api.github.com", null], ["api.example.com", ["GET", "POST"]]],
    "capabilities.run.dangerous": true,
    "capabilities.run.allow_interpreters": true,
    "capabilities.run.allow": ["git", "bash"],
    "capabilities.env.allow": ["TZ"],
    "capabilities.secrets.use": ["github"],
    "plugins.use": ["calculator"],
    "limits.memory_mb": 99,
    "limits.timeout_s": 33,
    "limits.max_steps": 11,
    "limits.max_tool_calls": 44,
    "limits.max_output_kb": 55,
    "limits.step_timeout_s": 7,
    "limits.retries": 3,
    "approvals.require": ["fs.write", "http.fetch:POST"],
    "approvals.timeout_s": 120,
  };
  for (const [key, get] of Object.entries(REACHES)) {
    if (key === "agent.module") continue; // a codeact agent has none: checked below with a wasm agent
    await t.step(key, () => assert.deepEqual(get(full), expected[key]));
  }
  await t.step("agent.module", () => {
    const wasm = parseManifest(`[agent]\nname = "w"\nkind = "wasm"\nmodule = "bin/w.wasm"\n`, {
      path: "/srv/w/agent.toml",
    });
    assert.equal(REACHES["agent.module"]!(resolvePolicy(wasm, CONFIG)), "/srv/w/bin/w.wasm");
  });
});

function issuesOf(text: string) {
  try {
    parseManifest(text, { path: "/srv/x/agent.toml" });
  } catch (e) {
    if (e instanceof InvalidDocumentError) return e.issues;
    throw e;
  }
  assert.fail("the manifest should be refused");
}

Deno.test("parseManifest() rejects unknown keys with a did-you-mean hint", () => {
  const [issue] = issuesOf(
    `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n\n[capabilities.fs]\nreed = ["x"]\n`,
  );
  assert.equal(issue?.code, "ERR_UNKNOWN_KEY");
  assert.equal(issue?.hint, 'did you mean "read"?');
  assert.deepEqual(issue?.pos, {
    file: "/srv/x/agent.toml",
    line: 7,
    column: 1,
    key: "capabilities.fs.reed",
  });
});

Deno.test("parseManifest() reports every problem, each where it is", () => {
  const issues = issuesOf(`[agent]
name = "Bad Name"
kind = "wsam"

[limits]
memory_mb = "128"
timeout_s = 0

[capabilities.net]
allow = ["ok.example", 42, { url = "https://a.example/", host = "a.example" }]
`);
  assert.deepEqual(issues.map((i) => [i.code, i.pos.line, i.pos.column, i.pos.key]), [
    ["ERR_VALUE", 2, 1, "agent.name"],
    ["ERR_VALUE", 3, 1, "agent.kind"],
    ["ERR_TYPE", 6, 1, "limits.memory_mb"],
    ["ERR_VALUE", 7, 1, "limits.timeout_s"],
    ["ERR_TYPE", 10, 24, "capabilities.net.allow[1]"],
    ["ERR_CONFLICT", 10, 28, "capabilities.net.allow[2]"],
  ]);
  assert.equal(issues[1]?.hint, 'did you mean "wasm"?');
  for (const i of issues) assert.ok(i.hint.length > 0, i.code);
});

Deno.test("parseManifest() applies kind rules", async (t) => {
  await t.step("wasm needs a module", () => {
    assert.deepEqual(issuesOf(`[agent]\nname = "a"\nkind = "wasm"\n`).map((i) => i.code), [
      "ERR_MISSING_KEY",
    ]);
  });
  await t.step("react needs instructions and takes no module", () => {
    const codes = issuesOf(`[agent]\nname = "a"\nkind = "react"\nmodule = "x.wasm"\n`).map((i) => i.code);
    assert.deepEqual(codes.sort(), ["ERR_CONFLICT", "ERR_MISSING_KEY"]);
  });
  await t.step("codeact defaults to javascript", () => {
    const m = parseManifest(`[agent]\nname = "a"\nkind = "codeact"\ninstructions = "x"\n`);
    assert.equal(m.agent.language, undefined);
  });
});

Deno.test("parseManifest() reads [agent] task", async (t) => {
  const head = `[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`;
  const cases: [string, string, string | null, string | null][] = [
    // name, the task line, the value parsed (null: refused), the hint of the refusal
    ["absent: required", "", "required", null],
    ["required", `task = "required"\n`, "required", null],
    ["optional", `task = "optional"\n`, "optional", null],
    ["none", `task = "none"\n`, "none", null],
    ["a typo: did you mean", `task = "optinal"\n`, null, 'did you mean "optional"?'],
    ["a boolean", "task = false\n", null, null],
  ];
  for (const [name, line, value, hint] of cases) {
    await t.step(name, () => {
      if (value !== null) {
        assert.equal(parseManifest(head + line).agent.task, value);
        return;
      }
      const [issue] = issuesOf(head + line);
      assert.equal(issue?.pos.key, "agent.task");
      assert.equal(issue?.code, hint ? "ERR_VALUE" : "ERR_TYPE");
      if (hint) assert.equal(issue?.hint, hint);
    });
  }
});

Deno.test("parseManifest() resolves its folder and fills defaults", () => {
  const m = parseManifest(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "a.wasm"\n`, {
    path: "/srv/a/agent.toml",
  });
  assert.equal(m.dir, "/srv/a");
  assert.deepEqual(m.capabilities.fs, { read: [], write: [], hardlinks: false });
  assert.equal(m.has(["limits", "memory_mb"]), false);
  assert.equal(m.has(["agent", "name"]), true);
});

Deno.test("parseManifest() refuses hostile text without crashing", async (t) => {
  await t.step("a NUL byte in a string", () => {
    assert.equal(
      issuesOf(`[agent]\nname = "a\\u0000b"\nkind = "wasm"\nmodule = "m"\n`)[0]?.code,
      "ERR_NUL_BYTE",
    );
  });
  await t.step("a huge document", () => {
    const [i] = issuesOf(`# ${"x".repeat(300_000)}\n`);
    assert.equal(i?.code, "ERR_TOO_LARGE");
  });
  await t.step("a long string", () => {
    const [i] = issuesOf(`[agent]\nname = "a"\nkind = "wasm"\nmodule = "${"m".repeat(5000)}"\n`);
    assert.equal(i?.code, "ERR_TOO_LARGE");
  });
  await t.step("a long array", () => {
    const items = Array.from({ length: 300 }, (_, n) => `"p${n}"`).join(",");
    const [i] = issuesOf(
      `[agent]\nname = "a"\nkind = "wasm"\nmodule = "m"\n[capabilities.fs]\nread = [${items}]\n`,
    );
    assert.equal(i?.code, "ERR_TOO_LARGE");
  });
  await t.step("deep nesting", () => {
    const deep = "[".repeat(2000) + "]".repeat(2000);
    const issues = issuesOf(
      `[agent]\nname = "a"\nkind = "wasm"\nmodule = "m"\n[capabilities.fs]\nread = ${deep}\n`,
    );
    assert.ok(issues.length >= 1);
  });
  await t.step("a byte-order mark is fine", () => {
    parseManifest(`\ufeff[agent]\nname = "a"\nkind = "wasm"\nmodule = "m"\n`);
  });
  await t.step("the same key twice", () => {
    const [i] = issuesOf(`[agent]\nname = "a"\nname = "b"\n`);
    assert.deepEqual([i?.code, i?.pos.line], ["ERR_TOML_SYNTAX", 3]);
  });
  await t.step("a date where a string belongs", () => {
    assert.equal(issuesOf(`[agent]\nname = 1979-05-27\nkind = "wasm"\nmodule = "m"\n`)[0]?.code, "ERR_TYPE");
  });
});
