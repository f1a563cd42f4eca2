import assert from "node:assert/strict";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { type Policy, resolvePolicy, type ResolvePolicyOptions } from "./policy.ts";
import { type DenoFlagsOptions, toDenoFlags } from "./deno_flags.ts";
import {
  type PluginPermissionSource,
  pluginWorkerPermissions,
  toWorkerPermissions,
  type WorkerPermissions,
} from "./worker_permissions.ts";

const CONFIG = parseRuntimeConfig(
  `[providers.openai]\ntype = "openai"\nbase_url = "https://api.openai.com/v1"\napi_key_env = "OPENAI_API_KEY"\n`,
  { path: "/etc/ironclaw/ironclaw.toml" },
);

function policyOf(body: string, options: ResolvePolicyOptions = {}, head = 'module = "t.wasm"'): Policy {
  const text = `[agent]\nname = "t"\nkind = "wasm"\n${head}\n${body}`;
  return resolvePolicy(parseManifest(text, { path: "/srv/t/agent.toml" }), CONFIG, {
    findProgram: (n) => `/usr/bin/${n}`,
    ...options,
  });
}

const KEYS = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;

/** What the process flags grant, kind by kind, the values of repeated flags added up in order. */
function grantedByFlags(policy: Policy, options: DenoFlagsOptions): Record<string, string[] | false> {
  const out: Record<string, string[] | false> = Object.fromEntries(KEYS.map((k) => [k, false]));
  for (const flag of toDenoFlags(policy, options)) {
    const m = /^--allow-([a-z]+)=(.*)$/.exec(flag);
    if (!m) continue;
    const values = (out[m[1]!] || []) as string[];
    for (const v of m[2]!.split(",")) if (!values.includes(v)) values.push(v);
    out[m[1]!] = values;
  }
  return out;
}

const CASES: {
  name: string;
  policy: () => Policy;
  options?: DenoFlagsOptions;
  expect: Partial<WorkerPermissions>;
}[] = [
  {
    name: "nothing granted: only the module is readable",
    policy: () => policyOf(""),
    expect: { read: ["/srv/t/t.wasm"], write: false, net: false, env: false, run: false },
  },
  {
    name: "an agent without a module: nothing at all",
    policy: noModule,
    expect: { read: false, write: false, net: false, env: false, run: false },
  },
  {
    name: "fs read and write: write implies read",
    policy: () => policyOf(`[capabilities.fs]\nread = ["notes", "/srv/shared"]\nwrite = ["out"]\n`),
    expect: {
      read: ["/srv/t/notes", "/srv/shared", "/srv/t/out", "/srv/t/t.wasm"],
      write: ["/srv/t/out"],
    },
  },
  {
    name: "runtime paths of a component come first",
    policy: () => policyOf(`[capabilities.fs]\nread = ["notes"]\n`),
    options: { runtime: { read: ["/cache/component"], write: [], moduleFormat: "component" } },
    expect: { read: ["/cache/component", "/srv/t/notes", "/srv/t/t.wasm"], write: false },
  },
  {
    name: "a WASI module's read grants are writable to be preopened, as with the flags",
    policy: () => policyOf(`[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n`),
    options: {
      runtime: {
        read: ["/dev/null"],
        write: ["/state/pipes/1/stdout", "/state/pipes/1/stderr"],
        moduleFormat: "preview1",
      },
    },
    expect: {
      read: ["/dev/null", "/srv/t/notes", "/srv/t/out", "/srv/t/t.wasm"],
      write: ["/state/pipes/1/stdout", "/state/pipes/1/stderr", "/srv/t/out", "/srv/t/notes"],
    },
  },
  {
    name: "net: hosts, ports, IPv6, wildcards and URL grants, each host once",
    policy: () =>
      policyOf(
        `[capabilities.net]\nallow = ["api.github.com", "x.example:8080", "[::1]:9000", "*.example.org", ` +
          `{ url = "https://y.example/v1/", methods = ["GET"] }, "https://y.example/v2/"]\n`,
      ),
    expect: { net: ["api.github.com", "x.example:8080", "[::1]:9000", "*.example.org", "y.example:443"] },
  },
  {
    name: "env: names and prefixes",
    policy: () => policyOf(`[capabilities.env]\nallow = ["TZ", "APP_*"]\n`),
    expect: { env: ["TZ", "APP_*"] },
  },
  {
    name: "run: the programs of a dangerous Policy",
    policy: () => policyOf(`[capabilities.run]\ndangerous = true\nallow = ["git", "echo"]\n`),
    expect: { run: ["/usr/bin/git", "/usr/bin/echo"] },
  },
  {
    name: "run: dangerous without programs grants none",
    policy: () => policyOf(`[capabilities.run]\ndangerous = true\n`),
    expect: { run: false },
  },
  {
    name: "model hosts and keys are never granted: the parent brokers model calls",
    policy: () => policyOf(`[model]\nprovider = "openai"\nname = "gpt-4o-mini"\n`),
    expect: { net: false, env: false },
  },
];

function noModule(): Policy {
  return resolvePolicy(
    parseManifest(
      `[agent]\nname = "t"\nkind = "react"\ninstructions = "i"\n\n[model]\nprovider = "openai"\nname = "m"\n`,
      {
        path: "/srv/t/agent.toml",
      },
    ),
    CONFIG,
  );
}

Deno.test("toWorkerPermissions() grants exactly what the process flags grant", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => {
      const policy = c.policy();
      const perms = toWorkerPermissions(policy, c.options);
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(perms[key as keyof WorkerPermissions], value, key);
      }
      assert.deepEqual({ ...perms }, grantedByFlags(policy, c.options ?? {}));
    });
  }
});

Deno.test("toWorkerPermissions() spells out every key, and none inherits", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => {
      const perms = toWorkerPermissions(c.policy(), c.options);
      assert.deepEqual(Object.keys(perms).sort(), [...KEYS].sort());
      for (const key of KEYS) {
        const value: unknown = perms[key];
        assert.ok(value === false || (Array.isArray(value) && value.length > 0), `${key}: ${value}`);
        assert.notEqual(value, "inherit");
        assert.notEqual(value, true);
      }
      assert.equal(perms.ffi, false);
      assert.equal(perms.sys, false);
      assert.equal(perms.import, false);
    });
  }
});

Deno.test("toWorkerPermissions() fits Deno's Worker options and shares no array with the Policy", () => {
  const policy = policyOf(`[capabilities.fs]\nread = ["notes"]\n`);
  const perms: Deno.PermissionOptionsObject = toWorkerPermissions(policy);
  assert.ok(Array.isArray(perms.read));
  (perms.read as string[]).push("/etc");
  assert.deepEqual(toWorkerPermissions(policy).read, ["/srv/t/notes", "/srv/t/t.wasm"]);
});

Deno.test("pluginWorkerPermissions() grants a plugin exactly its own grants", async (t) => {
  const by = (...sources: string[]) => sources.map((source) => ({ source }));
  const net = (host: string, port: number | null, from: { source: string }[]) => ({
    scheme: null,
    host,
    port,
    pathPrefix: "/",
    methods: null,
    from,
  });
  const grant = (dangerous: boolean): PluginPermissionSource => ({
    agent: { module: "/srv/t/t.wasm", moduleFormat: null },
    fs: {
      read: [
        { path: "/srv/t/notes", from: by("manifest") },
        { path: "/p/a/private", from: by("plugin a") },
        { path: "/p/b/private", from: by("plugin b") },
        { path: "/shared", from: by("manifest", "plugin a") },
      ],
      write: [{ path: "/p/a/out", from: by("plugin a") }, { path: "/srv/t/out", from: by("manifest") }],
    },
    net: [
      net("api.a.example", null, by("plugin a")),
      net("::1", 8080, by("plugin a")),
      net("b.example", 443, by("plugin b")),
    ],
    env: [{ name: "A_TOKEN", from: by("plugin a") }, { name: "HOME", from: by("manifest") }],
    run: {
      dangerous,
      programs: [{ name: "git", path: "/usr/bin/git", from: by("plugin a") }, {
        name: "id",
        path: "/usr/bin/id",
        from: by("plugin b"),
      }],
    },
    plugins: [{ name: "a", dir: "/p/a" }, { name: "b", dir: "/p/b" }],
  });
  await t.step("its own entries, its folder, its data folder and the API file; none of the others'", () => {
    const p = pluginWorkerPermissions(grant(false), {
      plugin: "a",
      dataDir: "/state/a",
      code: ["/pkg/plugin.ts"],
    });
    assert.deepEqual(p, {
      read: ["/p/a/private", "/shared", "/p/a/out", "/p/a", "/pkg/plugin.ts", "/state/a"],
      write: ["/p/a/out", "/state/a"],
      net: ["api.a.example", "[::1]:8080"],
      env: ["A_TOKEN"],
      run: false,
      ffi: false,
      sys: false,
      import: false,
    });
  });
  await t.step("programs only in a dangerous run, and only its own", () => {
    assert.deepEqual(pluginWorkerPermissions(grant(true), { plugin: "a" }).run, ["/usr/bin/git"]);
    assert.deepEqual(pluginWorkerPermissions(grant(true), { plugin: "b" }).run, ["/usr/bin/id"]);
  });
  await t.step("a plugin granted nothing reads only its folder", () => {
    const g = { ...grant(false), plugins: [...grant(false).plugins, { name: "c", dir: "/p/c" }] };
    const p = pluginWorkerPermissions(g, { plugin: "c" });
    assert.deepEqual(p, {
      read: ["/p/c"],
      write: false,
      net: false,
      env: false,
      run: false,
      ffi: false,
      sys: false,
      import: false,
    });
  });
  await t.step("a plugin the run does not use is refused", () => {
    assert.throws(() => pluginWorkerPermissions(grant(false), { plugin: "x" }), RangeError);
  });
});
