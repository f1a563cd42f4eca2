import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { IronclawError } from "../manifests/errors.ts";
import {
  BUILTIN_PLUGIN_FILES,
  BUNDLE_FILES,
  bundleSandbox,
  ensureSandboxEntry,
  packageFile,
  packageSource,
  SANDBOX_BUNDLE,
  sandboxEntry,
} from "./assets.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

Deno.test("packageSource() tells a checkout from a remote package", () => {
  assert.equal(packageSource(new URL("file:///srv/ironclaw/")), "checkout");
  assert.equal(packageSource(new URL("https://jsr.io/@ironclaw/cli/0.1.0/")), "remote");
  assert.equal(packageSource(new URL("http://127.0.0.1:8000/")), "remote");
});

Deno.test("BUILTIN_PLUGIN_FILES lists every file of the built-in plugins (a remote package fetches only those)", async () => {
  const found: string[] = ["plugins/plugin.ts"];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (!e.name.endsWith("_test.ts")) found.push(relative(ROOT, path));
    }
  };
  await walk(join(ROOT, "plugins", "builtin"));
  assert.deepEqual([...BUILTIN_PLUGIN_FILES].sort(), found.sort());
});

Deno.test("sandboxEntry() of a remote package: one cache folder per package URL", () => {
  const cacheDir = "/cache";
  const a = sandboxEntry({ cacheDir, root: new URL("https://jsr.io/@ironclaw/cli/0.1.0/") });
  const b = sandboxEntry({ cacheDir, root: new URL("https://jsr.io/@ironclaw/cli/0.2.0/") });
  assert.equal(a.kind, "module");
  assert.ok(a.path.startsWith("/cache/remote/") && a.path.endsWith("/dist/sandbox/sandbox.js"), a.path);
  assert.notEqual(a.dir, b.dir);
  assert.deepEqual(sandboxEntry({ cacheDir, root: new URL("https://jsr.io/@ironclaw/cli/0.1.0/") }), a);
});

Deno.test("sandboxEntry() of a checkout moves to a new bundle when a source changes", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(root, "sandbox"));
    await Deno.writeTextFile(join(root, "sandbox", "a.ts"), "export const a = 1;\n");
    const options = { cacheDir: join(root, "cache"), root: new URL(`file://${root}/`) };
    const first = sandboxEntry(options);
    assert.deepEqual(sandboxEntry(options), first);
    await Deno.writeTextFile(join(root, "sandbox", "a.ts"), "export const a = 22;\n");
    assert.notEqual(sandboxEntry(options).dir, first.dir);
    // Tests do not count: editing one does not rebuild the sandbox.
    const second = sandboxEntry(options);
    await Deno.writeTextFile(join(root, "sandbox", "a_test.ts"), "Deno.test('x', () => {});\n");
    assert.equal(sandboxEntry(options).dir, second.dir);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a remote package's files: fetched once, and a broken package is a clear error", async (t) => {
  const served: Record<string, string> = { "wit/agent.wit": "package ironclaw:agent;\n" };
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname.slice(1);
    requests.push(path);
    const body = served[path];
    return body === undefined ? new Response("no", { status: 404 }) : new Response(body);
  });
  const cacheDir = await Deno.makeTempDir();
  const root = new URL(`http://127.0.0.1:${server.addr.port}/`);
  try {
    await t.step("a file is fetched once into the cache folder", async () => {
      const path = await packageFile("wit/agent.wit", { cacheDir, root });
      assert.equal(await Deno.readTextFile(path), "package ironclaw:agent;\n");
      await packageFile("wit/agent.wit", { cacheDir, root });
      assert.equal(requests.filter((r) => r === "wit/agent.wit").length, 1);
    });
    await t.step("a package published without its bundle: ERR_ASSET saying to bundle first", async () => {
      const e = await ensureSandboxEntry({ cacheDir, root }).catch((e) => e);
      assert.ok(e instanceof IronclawError, String(e));
      assert.equal(e.code, "ERR_ASSET");
      assert.match(e.hint, /deno task bundle/);
    });
    await t.step("a list of files that names a path out of the folder is refused", async () => {
      served[`evil/${SANDBOX_BUNDLE}${BUNDLE_FILES}`] = JSON.stringify(["../../mod.ts"]);
      const e = await ensureSandboxEntry({ cacheDir, root: new URL("evil/", root) }).catch((e) => e);
      assert.ok(e instanceof IronclawError, String(e));
      assert.equal(e.code, "ERR_ASSET");
      assert.match(e.message, /is not a list of files/);
      assert.ok(!requests.includes("mod.ts"), requests.join(" "));
    });
  } finally {
    await server.shutdown();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("bundleSandbox() keeps node:module out of what every sandbox and guest Worker loads", async () => {
  const out = await Deno.makeTempDir();
  try {
    await bundleSandbox(ROOT, join(out, "bundle"));
    // The static imports from the entry: what a sandbox loads before it knows its agent's kind.
    const loaded = new Set<string>();
    const visit = async (name: string) => {
      if (loaded.has(name)) return;
      loaded.add(name);
      if (name.startsWith("node:")) return;
      const text = await Deno.readTextFile(join(out, "bundle", name));
      for (const m of text.matchAll(/^(?:import|export)\b[^;]*?["']([^"']+)["'];?$/gms)) {
        await visit(m[1]!.replace(/^\.\//, ""));
      }
    };
    await visit("sandbox.js");
    assert.ok(loaded.has("node:path"), `the walk found the entry's imports: ${[...loaded].join(" ")}`);
    assert.ok(!loaded.has("node:module"), [...loaded].join(" "));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
