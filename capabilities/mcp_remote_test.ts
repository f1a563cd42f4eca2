import assert from "node:assert/strict";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { InvalidDocumentError } from "../manifests/errors.ts";
import { isLoopbackHost, remoteMcpGrant, remoteMcpSecret } from "./mcp_remote.ts";
import { type PluginGrants, resolvePolicy } from "./policy.ts";
import { toDenoFlags } from "./deno_flags.ts";

const CONFIG = parseRuntimeConfig(
  `[runtime]\nstate_dir = "/srv/state"\nplugins_dir = "/opt/plugins"\n` +
    `[secrets.example]\nenv = "EXAMPLE_TOKEN"\nhosts = ["mcp.example.com"]\n` +
    `[secrets.other]\nenv = "OTHER_TOKEN"\nhosts = ["api.other.example"]\n`,
  { path: "/srv/ironclaw.toml" },
);

/** A remote [mcp] plugin's grants. */
function remote(url: string, net: string[], secret: string | null = null, read: string[] = []): PluginGrants {
  return {
    name: "docs",
    dir: "/opt/plugins/docs",
    fs: { read, write: [] },
    net,
    env: [],
    run: { dangerous: false, allow_interpreters: false, allow: [] },
    at: (path) => ({ file: "/opt/plugins/docs/plugin.toml", line: 5, column: 1, key: path.join(".") }),
    mcp: { command: null, args: [], url, secret, timeoutS: 30 },
  };
}

function policyWith(plugin: PluginGrants, body = "") {
  const manifest = parseManifest(
    `[agent]\nname = "t"\nkind = "wasm"\nmodule = "t.wasm"\n[plugins]\nuse = ["docs"]\n${body}`,
    { path: "/srv/t/agent.toml" },
  );
  return resolvePolicy(manifest, CONFIG, { plugins: { docs: plugin } });
}

function issuesOf(plugin: PluginGrants): string[] {
  try {
    policyWith(plugin);
    return [];
  } catch (e) {
    if (e instanceof InvalidDocumentError) return e.issues.map((i) => `${i.code} ${i.message} | ${i.hint}`);
    throw e;
  }
}

Deno.test("remoteMcpGrant() allows a url only by the plugin's own net grants", async (t) => {
  const cases: [string, string, string[], boolean][] = [
    ["absent", "https://mcp.example.com/mcp", [], false],
    ["allowed by host", "https://mcp.example.com/mcp", ["mcp.example.com"], true],
    ["allowed by url prefix", "https://mcp.example.com/mcp", ["https://mcp.example.com/mcp"], true],
    ["another path prefix", "https://mcp.example.com/mcp", ["https://mcp.example.com/other/"], false],
    ["another host", "https://mcp.example.com/mcp", ["api.example.com"], false],
    ["wildcard", "https://mcp.example.com/mcp", ["*.example.com"], true],
    ["another port", "http://127.0.0.1:8808/mcp", ["127.0.0.1:8809"], false],
    ["a loopback address as written", "http://127.0.0.1:8808/mcp", ["127.0.0.1:8808"], true],
    ["malformed grant", "https://mcp.example.com/mcp", ["user@mcp.example.com"], false],
  ];
  for (const [name, url, net, ok] of cases) {
    await t.step(name, () => {
      const { grant, issue } = remoteMcpGrant(remote(url, net));
      assert.equal(grant !== null, ok);
      if (!ok) {
        assert.equal(issue?.code, "ERR_PLUGIN_MCP");
        assert.match(
          issue!.hint,
          new RegExp(`add "${new URL(url).host.replace(/\./g, "\\.")}" to \\[permissions\\.net\\]`),
        );
      }
    });
  }
});

Deno.test("remoteMcpSecret() needs a secret of the runtime config bound to the url's host", async (t) => {
  await t.step("bound: a grant of the plugin only", () => {
    const { secret } = remoteMcpSecret(remote("https://mcp.example.com/mcp", [], "example"), CONFIG.secrets);
    assert.equal(secret?.plugin, "docs");
    assert.equal(secret?.env, "EXAMPLE_TOKEN");
    assert.equal(secret?.from[0]?.source, "plugin docs");
  });
  await t.step("unknown", () => {
    const { issue } = remoteMcpSecret(remote("https://mcp.example.com/mcp", [], "nope"), CONFIG.secrets);
    assert.equal(issue?.code, "ERR_SECRET_UNKNOWN");
  });
  await t.step("bound to other hosts", () => {
    const { issue } = remoteMcpSecret(remote("https://mcp.example.com/mcp", [], "other"), CONFIG.secrets);
    assert.equal(issue?.code, "ERR_PLUGIN_MCP");
    assert.match(issue!.message, /not bound to "mcp\.example\.com"/);
  });
});

Deno.test("isLoopbackHost() tells loopback names and addresses", () => {
  for (const h of ["localhost", "a.localhost", "127.0.0.1", "127.1.2.3", "[::1]"]) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ["example.com", "10.0.0.1", "128.0.0.1", "localhost.example.com"]) {
    assert.ok(!isLoopbackHost(h), h);
  }
});

Deno.test("resolvePolicy() of a remote [mcp] plugin", async (t) => {
  await t.step("its net grant joins the sandbox's, as the plugin's; its secret is its own", () => {
    const p = policyWith(remote("https://mcp.example.com/mcp", ["mcp.example.com"], "example"));
    assert.deepEqual(p.net.map((g) => [g.host, g.from[0]?.source]), [["mcp.example.com", "plugin docs"]]);
    assert.ok(toDenoFlags(p).some((f) => f.startsWith("--allow-net=") && f.includes("mcp.example.com")));
    assert.deepEqual(p.secrets.map((s) => [s.name, s.plugin]), [["example", "docs"]]);
    assert.deepEqual(p.plugins[0]?.mcp?.flags, []);
  });
  await t.step("a url its grants do not allow, a secret not bound, files granted: refused", () => {
    assert.match(issuesOf(remote("https://mcp.example.com/mcp", []))[0]!, /^ERR_PLUGIN_MCP .*not granted/);
    assert.match(
      issuesOf(remote("https://mcp.example.com/mcp", ["mcp.example.com"], "other"))[0]!,
      /^ERR_PLUGIN_MCP .*not bound/,
    );
    assert.match(
      issuesOf(remote("https://mcp.example.com/mcp", ["mcp.example.com"], null, ["data"]))[0]!,
      /^ERR_PLUGIN_MCP .*\[permissions\.fs\.read\], which nothing would use/,
    );
  });
  await t.step("the manifest's secrets stay the agent's", () => {
    const p = policyWith(
      remote("https://mcp.example.com/mcp", ["mcp.example.com"]),
      `[capabilities.net]\nallow = ["mcp.example.com"]\n[capabilities.secrets]\nuse = ["example"]\n`,
    );
    assert.deepEqual(p.secrets.map((s) => [s.name, s.plugin ?? null]), [["example", null]]);
  });
});
