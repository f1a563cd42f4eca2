/**
 * IronClaw loaded from a URL that is not `file:`, as from JSR: the checkout is
 * served over loopback HTTP, with an import map standing in for the one JSR
 * applies from the package's deno.json, and a script outside the repository
 * imports `mod.ts` from there, checks a manifest and runs the hello agent. The
 * CLI is also run straight from the URL (`deno run -A <url>/mod.ts ...`).
 */

import assert from "node:assert/strict";
import { extname, join, normalize, relative } from "node:path";
import { ROOT, runDeno } from "./_cli.ts";
import { BUNDLE_FILES, bundleSandbox, SANDBOX_BUNDLE } from "../supervisor/assets.ts";

const TYPES: Record<string, string> = {
  ".ts": "application/typescript",
  ".js": "text/javascript",
  ".json": "application/json",
};

/** Serves the checkout read-only, and `dist/sandbox/` from a bundle built for the test. */
function serveCheckout(bundle: string, requests: string[]): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname).slice(1);
    requests.push(path);
    const [base, dir] = path.startsWith(SANDBOX_BUNDLE)
      ? [bundle, path.slice(SANDBOX_BUNDLE.length)]
      : [ROOT, path];
    const file = normalize(join(base, dir));
    if (relative(base, file).startsWith("..")) return new Response("no", { status: 403 });
    try {
      const body = await Deno.readFile(file);
      return new Response(body, { headers: { "content-type": TYPES[extname(file)] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

function run(args: string[], cwd: string, env: Record<string, string>) {
  return runDeno(args, { cwd, env });
}

Deno.test("IronClaw imported from an HTTP URL checks a manifest and runs an agent", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "ironclaw-remote-" });
  const bundle = join(tmp, "bundle");
  await bundleSandbox(ROOT, bundle);
  const requests: string[] = [];
  const server = serveCheckout(bundle, requests);
  const base = `http://127.0.0.1:${server.addr.port}/`;
  try {
    // The import map JSR would apply: the package's own "imports".
    const { imports } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
    const map = join(tmp, "import_map.json");
    await Deno.writeTextFile(map, JSON.stringify({ imports }));
    // The hello agent, copied outside the repository.
    const agent = join(tmp, "hello");
    await Deno.mkdir(join(agent, "notes"), { recursive: true });
    await Deno.mkdir(join(agent, "out"));
    for (const f of ["agent.toml", "agent.wasm", "notes/monday.md", "notes/tuesday.md"]) {
      await Deno.copyFile(join(ROOT, "examples/hello", f), join(agent, f));
    }
    await Deno.writeTextFile(join(agent, "ironclaw.toml"), `[runtime]\nstate_dir = "state"\n`);
    const env = { IRONCLAW_CACHE_DIR: join(tmp, "cache"), XDG_STATE_HOME: join(tmp, "state") };
    const flags = ["run", "-A", "--quiet", "--no-lock", `--import-map=${map}`];

    await t.step("a script imports mod.ts from the URL, checks the manifest and runs it", async () => {
      const script = join(tmp, "use.ts");
      await Deno.writeTextFile(
        script,
        `import { loadPolicy, loadRuntimeConfig, runAgent } from "${base}mod.ts";
import { parseManifest } from "${base}policy.ts";
const text = await Deno.readTextFile("hello/agent.toml");
const manifest = parseManifest(text, { path: Deno.cwd() + "/hello/agent.toml" });
const config = await loadRuntimeConfig({ path: "hello/ironclaw.toml" });
const policy = await loadPolicy("hello/agent.toml", config);
const handle = await runAgent(policy, config, { task: "summarize" });
const outcome = await handle.done;
console.log(JSON.stringify({ name: manifest.agent.name, state: outcome.state, output: outcome.output }));
`,
      );
      const r = await run([...flags, script], tmp, env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), {
        name: "hello",
        state: "ok",
        output: "Summarized 2 notes into out/summary.md",
      });
      assert.match(await Deno.readTextFile(join(agent, "out/summary.md")), /# Summary of 2 notes/);
      // The sandbox ran the bundle the "package" ships, fetched once into the cache folder.
      assert.ok(requests.includes(`${SANDBOX_BUNDLE}sandbox.js`), requests.join(" "));
      assert.ok(requests.includes(`${SANDBOX_BUNDLE}${BUNDLE_FILES}`), requests.join(" "));
    });

    await t.step("every module of the package loads from the URL", async () => {
      const modules = await packageModules();
      // The sandbox's entry runs the sandbox when loaded (it is only ever a main module or a Worker): left out.
      const imports = modules.filter((m) => m !== "sandbox/sandbox.ts");
      const script = join(tmp, "load_all.ts");
      await Deno.writeTextFile(
        script,
        imports.map((m) => `await import(${JSON.stringify(base + m)});`).join("\n") +
          `\nconsole.log("loaded ${imports.length}");\n`,
      );
      const r = await run([...flags, script], tmp, env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `loaded ${imports.length}`);
      assert.ok(imports.length > 90, String(imports.length));
    });

    await t.step("the CLI runs straight from the URL", async () => {
      const version = await run([...flags, `${base}mod.ts`, "--version"], tmp, env);
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^ironclaw \d+\.\d+\.\d+/);
      const check = await run([...flags, `${base}mod.ts`, "check", "hello/agent.toml", "--json"], tmp, env);
      assert.equal(check.code, 0, check.stderr);
      const checked = JSON.parse(check.stdout);
      assert.equal(checked.valid, true);
      // What check prints is what the run uses: the fetched bundle in the cache folder.
      assert.ok(checked.command.at(-3).startsWith(join(tmp, "cache", "remote")), checked.command.at(-3));
      const ran = await run(
        [...flags, `${base}mod.ts`, "run", "hello/agent.toml", "--task", "summarize"],
        tmp,
        env,
      );
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(ran.stdout, "Summarized 2 notes into out/summary.md\n");
      const plugins = await run([...flags, `${base}mod.ts`, "plugins", "list"], tmp, env);
      assert.equal(plugins.code, 0, plugins.stderr);
      assert.match(plugins.stdout, /calculator/);
    });
  } finally {
    await server.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

/** The package's modules (what `deno publish` ships, tests and benchmarks aside), relative to the root. */
async function packageModules(): Promise<string[]> {
  const out = ["mod.ts", "policy.ts", "testing.ts"];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(path);
    }
  };
  for (const dir of ["manifests", "capabilities", "protocol", "supervisor", "sandbox", "plugins", "cli"]) {
    await walk(dir);
  }
  return out.sort();
}
