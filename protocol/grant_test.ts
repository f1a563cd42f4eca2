import assert from "node:assert/strict";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { resolvePolicy } from "../capabilities/policy.ts";
import { toWorkerPermissions } from "../capabilities/worker_permissions.ts";
import { narrowGrant } from "./grant.ts";

const CONFIG = parseRuntimeConfig(
  `[providers.openai]\ntype = "openai"\nbase_url = "https://api.openai.com/v1"\napi_key_env = "OPENAI_API_KEY"\n` +
    `[secrets.token]\nenv = "TOKEN"\nhosts = ["api.example.com"]\n`,
  { path: "/etc/ironclaw/ironclaw.toml" },
);

const MANIFEST = `[agent]
name = "t"
kind = "wasm"
module = "t.wasm"

[capabilities.fs]
read = ["notes", "/srv/shared"]
write = ["out"]
hardlinks = true

[capabilities.net]
allow = [{ url = "https://api.example.com/v1/", methods = ["GET"] }]

[capabilities.env]
allow = ["TZ"]

[capabilities.run]
dangerous = true
allow = ["git"]

[capabilities.secrets]
use = ["token"]

[model]
provider = "openai"
name = "gpt"
`;

const RUNTIME = { read: ["/cache/c"], write: ["/state/pipes/1/stdout"], moduleFormat: "component" as const };

function policy() {
  return resolvePolicy(parseManifest(MANIFEST, { path: "/srv/t/agent.toml" }), CONFIG, {
    findProgram: (n) => `/usr/bin/${n}`,
  });
}

Deno.test("narrowGrant() keeps what the sandbox enforces and drops the rest", async (t) => {
  const p = policy();
  const grant = narrowGrant(p, RUNTIME);
  await t.step("no manifest path, grant lines, warnings, secrets or provider settings", () => {
    const keys = Object.keys(grant).sort();
    assert.deepEqual(keys, [
      "agent",
      "approvals",
      "baseDir",
      "env",
      "fs",
      "limits",
      "model",
      "net",
      "pinned",
      "plugins",
      "run",
      "runtime",
    ]);
    const text = JSON.stringify(grant);
    for (const absent of ["agent.toml", "OPENAI_API_KEY", "TOKEN", "api.openai.com", '"line"', '"file"']) {
      assert.ok(!text.includes(absent), absent);
    }
    assert.deepEqual(grant.model, { provider: "openai" });
    assert.ok(p.warnings.length > 0, "the Policy has a warning (dangerous) the grant does not carry");
  });
  await t.step("grants keep their values and who granted them", () => {
    assert.deepEqual(grant.fs.write, [{ path: "/srv/t/out", from: [{ source: "manifest" }] }]);
    assert.equal(grant.fs.hardlinks, true, "the WASI guard reads policy.fs.hardlinks");
    assert.deepEqual(grant.net.map((g) => [g.host, g.pathPrefix, g.methods]), [["api.example.com", "/v1/", [
      "GET",
    ]]]);
    assert.deepEqual(grant.run.programs, [{
      name: "git",
      path: "/usr/bin/git",
      from: [{ source: "manifest" }],
    }]);
    assert.deepEqual(grant.limits, p.limits);
    assert.deepEqual(grant.runtime, RUNTIME);
  });
  await t.step("deeply frozen, sharing nothing with the Policy", () => {
    assert.ok(
      Object.isFrozen(grant) && Object.isFrozen(grant.fs.read[0]) && Object.isFrozen(grant.runtime.read),
    );
    assert.notEqual(grant.fs.read, p.fs.read);
  });
  await t.step("a Worker's permissions from the grant equal those from the Policy", () => {
    assert.deepEqual(
      toWorkerPermissions(grant, { runtime: grant.runtime }),
      toWorkerPermissions(p, { runtime: RUNTIME }),
    );
  });
});

Deno.test("narrowGrant() carries the run's pinned addresses, which a Worker's net permissions list", () => {
  const p = policy();
  const pinned = { "api.example.com": ["192.0.2.7", "2001:db8::7"] };
  const grant = narrowGrant(p, RUNTIME, { pinned });
  assert.deepEqual(grant.pinned, pinned);
  assert.ok(Object.isFrozen(grant.pinned["api.example.com"]));
  const worker = toWorkerPermissions(grant, { runtime: grant.runtime, pinned: grant.pinned });
  assert.deepEqual(worker.net, ["192.0.2.7:443", "[2001:db8::7]:443"]);
  assert.deepEqual(narrowGrant(p, RUNTIME).pinned, {}, "no pinned addresses unless given");
  assert.equal(toWorkerPermissions(narrowGrant(p, RUNTIME), { runtime: RUNTIME, pinned: {} }).net, false);
});
