import { channelPath, withChannel } from "./channel.ts";
import { lineCap } from "../protocol/line_cap.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseRuntimeConfig, type RuntimeConfig } from "../manifests/runtime_config.ts";
import { IronclawError } from "../manifests/errors.ts";
import type { SandboxEntry } from "./assets.ts";
import { prepareComponent } from "./component_cache.ts";
import { componentWaits } from "../protocol/gate_ops.ts";
import { PLACEHOLDER_RUN_ID, planRun } from "./plan.ts";
import { sandboxCommand } from "./sandbox_command.ts";

const EXAMPLES = fileURLToPath(new URL("../examples/", import.meta.url));
/** A sandbox entry that is never started: planning only names it. */
const ENTRY: SandboxEntry = {
  kind: "module",
  path: "/opt/ironclaw-test/sandbox.js",
  dir: "/opt/ironclaw-test",
};

/** A temporary agent folder: its manifest, a module copied from an example, and a runtime config. */
async function agentDir(manifest: string, module?: string, config = "") {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-plan-" });
  await Deno.writeTextFile(join(dir, "agent.toml"), manifest);
  if (module) await Deno.copyFile(join(EXAMPLES, module), join(dir, "agent.wasm"));
  const runtime: RuntimeConfig = parseRuntimeConfig(`[runtime]\nstate_dir = "state"\n${config}`, {
    path: join(dir, "ironclaw.toml"),
  });
  return {
    dir,
    manifest: join(dir, "agent.toml"),
    config: runtime,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const WASM = `[agent]\nname = "a"\nkind = "wasm"\nmodule = "agent.wasm"\n`;

Deno.test("planRun() of a component: its cache folder is read, and the command is the sandbox Policy's", async () => {
  await using agent = await agentDir(WASM, "hello/agent.wasm");
  const plan = await planRun(agent.manifest, agent.config, { entry: ENTRY });
  const bytes = await Deno.readFile(join(agent.dir, "agent.wasm"));
  const prepared = await prepareComponent(
    bytes,
    agent.config.runtime.state_dir,
    {
      maxPages: plan.policy.limits.memoryMb * 16,
      waits: componentWaits(plan.policy),
    },
  );
  assert.equal(prepared.transpiled, false, "planning prepared it: the run finds it in the cache");
  assert.equal(plan.paths.component, prepared.dir);
  assert.deepEqual(plan.module, {
    kind: "component",
    dir: prepared.dir,
    maxPages: plan.policy.limits.memoryMb * 16,
    waits: false,
  });
  assert.equal(
    plan.policy.agent.moduleFormat,
    "component",
    "the Policy is resolved with the module's format",
  );
  assert.deepEqual(plan.paths.read, [ENTRY.dir, prepared.dir], "the entry the plan was given, and the cache");
  assert.equal(plan.paths.moduleFormat, "component");
  assert.ok(!("runtimeRead" in plan.policy), "the runtime paths are kept apart from the Policy");
  assert.ok(Object.isFrozen(plan) && Object.isFrozen(plan.command) && Object.isFrozen(plan.paths));
  assert.deepEqual(
    plan.command,
    withChannel(
      sandboxCommand(plan.policy, { runtime: plan.paths, entry: ENTRY, mode: "process" }),
      channelPath(agent.config.runtime.state_dir, plan.id),
      { maxLineBytes: lineCap({ outputBytes: plan.policy.limits.maxOutputKb * 1024 }) },
    ),
  );
  assert.ok(plan.command.some((a) => a.startsWith("--allow-read=") && a.endsWith(`,${prepared.dir}`)));
  assert.equal(plan.manifest?.at(["agent", "module"]).line, 4, "the manifest, parsed once, is in the plan");
});

Deno.test("planRun() of a WASI module: per-run pipes, named by the run's id, made by the run", async (t) => {
  await using agent = await agentDir(WASM, "wasi-wordcount/agent.wasm");
  await t.step("a run's plan", async () => {
    const plan = await planRun(agent.manifest, agent.config, { entry: ENTRY, id: "run-1" });
    const dir = join(agent.config.runtime.state_dir, "pipes", "run-1");
    assert.deepEqual(plan.paths.pipes, { dir, stdout: join(dir, "stdout"), stderr: join(dir, "stderr") });
    assert.equal(plan.policy.agent.moduleFormat, "preview1");
    assert.deepEqual(plan.paths.write, [join(dir, "stdout"), join(dir, "stderr")]);
    assert.ok(plan.command.includes(`--allow-write=${join(dir, "stdout")},${join(dir, "stderr")}`));
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "planning makes no folder");
  });
  await t.step("a check's plan: the placeholder stands for the id", async () => {
    const plan = await planRun(agent.manifest, agent.config, { check: true });
    assert.equal(plan.id, PLACEHOLDER_RUN_ID);
    assert.ok(plan.command.some((a) => a.includes(`/pipes/${PLACEHOLDER_RUN_ID}/stdout`)));
  });
});

Deno.test("planRun() of a missing module: a run's plan fails, a check's has no module", async () => {
  await using agent = await agentDir(WASM);
  await assert.rejects(
    planRun(agent.manifest, agent.config, { entry: ENTRY }),
    (e) => e instanceof IronclawError && e.code === "ERR_NOT_FOUND",
  );
  const plan = await planRun(agent.manifest, agent.config, { check: true, entry: ENTRY });
  assert.equal(plan.module, null);
  assert.deepEqual(plan.paths.read, [ENTRY.dir], "only the sandbox's own code");
});

Deno.test("planRun() of a module that is not WebAssembly: ERR_MODULE_INVALID", async () => {
  await using agent = await agentDir(WASM);
  await Deno.writeTextFile(join(agent.dir, "agent.wasm"), "not wasm");
  await assert.rejects(
    planRun(agent.manifest, agent.config, { entry: ENTRY }),
    (e) => e instanceof IronclawError && e.code === "ERR_MODULE_INVALID",
  );
});

Deno.test("planRun() of plugins: their code and data folders read, the data folders written", async () => {
  await using agent = await agentDir(
    `[agent]\nname = "p"\nkind = "react"\ninstructions = "Add."\n[model]\nprovider = "demo"\nname = "m"\n[plugins]\nuse = ["calculator"]\n`,
    undefined,
    `[providers.demo]\ntype = "scripted"\ntranscript = "t.json"\n`,
  );
  const plan = await planRun(agent.manifest, agent.config, { entry: ENTRY });
  const data = join(agent.config.runtime.state_dir, "plugin-data", "calculator", "p");
  assert.deepEqual(plan.paths.pluginData, { calculator: data });
  assert.deepEqual(plan.paths.write, [data]);
  assert.equal(plan.paths.read[0], ENTRY.dir);
  assert.equal(plan.paths.read[2], data);
  assert.match(plan.paths.read[3]!, /plugins\/plugin\.ts$/);
  assert.ok(plan.plugins?.calculator, "the plugin index is in the plan");
  await assert.rejects(Deno.stat(data), Deno.errors.NotFound, "planning makes no folder");
});
