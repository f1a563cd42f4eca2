import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { APPROVABLE_OPS } from "../capabilities/approvals.ts";
import { resolvePolicy } from "../capabilities/policy.ts";
import { parseManifest } from "../manifests/agent_manifest.ts";
import { defaultRuntimeConfig } from "../manifests/runtime_config.ts";
import {
  componentWaits,
  GATE_OP_NAMES,
  GATE_OPS,
  type GateOpArgs,
  type GateOpName,
  type GateOpResult,
  type GateOpsOf,
  isGateOp,
  isOpGranted,
  isWaitingOp,
  unknownOpHint,
} from "./gate_ops.ts";
import { jsonSchemaOf, objectOf } from "./gate_shapes.ts";
import { gateDocFiles, withOpsSection } from "./write_gate_docs.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

function policyOf(extra: string) {
  return resolvePolicy(
    parseManifest(`[agent]\nname = "g"\nkind = "wasm"\nmodule = "g.wasm"\n${extra}`, {
      path: "/srv/a/agent.toml",
    }),
    defaultRuntimeConfig("/srv"),
    { realPath: (p) => p, findProgram: (name) => `/usr/bin/${name}` },
  );
}

// Compile-time checks: the table's shapes are the types the gate and its guests use.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const typed: [
  Equal<GateOpArgs<"fs.read">, { path: string; encoding?: "utf8" | "base64" }>,
  Equal<GateOpArgs<"proc.run">, { cmd: string; args?: string[]; stdin?: string }>,
  Equal<GateOpResult<"env.get">, { value: string | null }>,
  Equal<
    GateOpResult<"fs.list">,
    {
      entries: { name: string; kind: "file" | "dir" | "symlink"; size: number }[];
      total: number;
      truncated: boolean;
    }
  >,
  Equal<GateOpsOf<"fs">, "fs.read" | "fs.write" | "fs.list">,
] = [true, true, true, true, true];

Deno.test("GATE_OPS lists the eight ops in the documented order, each in one family", () => {
  assert.ok(typed.every(Boolean));
  assert.deepEqual(GATE_OP_NAMES, [
    "fs.read",
    "fs.write",
    "fs.list",
    "http.fetch",
    "proc.run",
    "env.get",
    "model.complete",
    "tool.call",
  ]);
  assert.deepEqual(GATE_OP_NAMES.filter(isWaitingOp), [
    "http.fetch",
    "proc.run",
    "model.complete",
    "tool.call",
  ]);
  assert.deepEqual(GATE_OP_NAMES.filter((op) => !GATE_OPS[op].counted), ["model.complete"]);
  assert.equal(
    unknownOpHint(),
    "the ops are fs.read, fs.write, fs.list, http.fetch, proc.run, env.get, model.complete, tool.call",
  );
});

Deno.test("isGateOp() and isWaitingOp() know the table's names and nothing else", () => {
  for (const name of ["toString", "__proto__", "constructor", "fs", "FS.READ", ""]) {
    assert.equal(isGateOp(name), false, name);
    assert.equal(isWaitingOp(name), false, name);
  }
});

Deno.test("componentWaits() is true exactly when the Policy grants an op that waits", async (t) => {
  const cases: [string, string, boolean][] = [
    ["nothing", "", false],
    [
      "files and the environment",
      `[capabilities.fs]\nread = ["n"]\nwrite = ["o"]\n[capabilities.env]\nallow = ["TZ"]\n`,
      false,
    ],
    ["the network", `[capabilities.net]\nallow = ["api.example.com"]\n`, true],
    ["a program", `[capabilities.run]\ndangerous = true\nallow = ["git"]\n`, true],
    ["the model", `[model]\nprovider = "ollama"\nname = "m"\n`, true],
  ];
  for (const [what, extra, waits] of cases) {
    await t.step(what, () => assert.equal(componentWaits(policyOf(extra)), waits));
  }
  await t.step("a plugin", () => {
    const policy = { ...policyOf(""), plugins: [{ name: "calc", tools: [] }] } as unknown as Parameters<
      typeof componentWaits
    >[0];
    assert.equal(componentWaits(policy), true);
    assert.equal(isOpGranted(policy, "tool.call"), true);
  });
});

Deno.test("isOpGranted(): write implies read, programs need dangerous = true", () => {
  const writeOnly = policyOf(`[capabilities.fs]\nwrite = ["o"]\n`);
  const granted = (p: typeof writeOnly) => GATE_OP_NAMES.filter((op: GateOpName) => isOpGranted(p, op));
  assert.deepEqual(granted(writeOnly), ["fs.read", "fs.write", "fs.list"]);
  const programs = policyOf(`[capabilities.run]\ndangerous = true\nallow = ["git"]\n`);
  assert.deepEqual(granted({ ...programs, run: { ...programs.run, dangerous: false } }), []);
});

Deno.test("jsonSchemaOf() gives the loops an op's arguments as a closed object schema", () => {
  assert.deepEqual(jsonSchemaOf(objectOf(GATE_OPS["proc.run"].args)), {
    type: "object",
    properties: {
      cmd: { type: "string", description: "The program" },
      args: { type: "array", items: { type: "string" }, description: "Its arguments" },
      stdin: { type: "string", description: "Text for its standard input" },
    },
    required: ["cmd"],
    additionalProperties: false,
  });
});

Deno.test("types/ironclaw-agent.d.ts and the ops table of docs/abi.md are generated from GATE_OPS", async (t) => {
  const read = (path: string) => Deno.readTextFileSync(join(ROOT, path));
  for (const [path, text] of Object.entries(gateDocFiles(read))) {
    await t.step(path, () => assert.equal(read(path), text, `${path} is stale: run deno task gate-docs`));
  }
  await t.step("every op is in both", () => {
    const files = gateDocFiles(read);
    for (const op of GATE_OP_NAMES) {
      assert.ok(files["types/ironclaw-agent.d.ts"]!.includes(`"${op}": {`), op);
      assert.ok(files["docs/abi.md"]!.includes(`| \`${op}\``), op);
    }
  });
  await t.step("the rest of docs/abi.md is left as written", () => {
    assert.equal(
      withOpsSection(
        "# A\n<!-- gate-ops: generated from protocol/gate_ops.ts by `deno task gate-docs` -->\nold\n<!-- gate-ops: end -->\nB\n",
      ).startsWith("# A\n"),
      true,
    );
    assert.throws(() => withOpsSection("# no markers\n"), /markers/);
  });
});

Deno.test("types/ironclaw-agent.d.ts type-checks an agent that uses it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const agent = join(dir, "agent.ts");
    const typings = relative(dir, join(ROOT, "types", "ironclaw-agent.d.ts"));
    await Deno.writeTextFile(
      agent,
      `/// <reference path="${typings}" />
import { call, type GateOps } from "ironclaw:agent/host@0.1.0";
const listed: GateOps["fs.list"]["result"] = JSON.parse(call("fs.list", JSON.stringify({ path: "notes" })));
export const n: number = listed.entries.length;
export const tokens = (answer: GateOps["model.complete"]["result"]): number => answer.usage.inputTokens;
`,
    );
    const out = await new Deno.Command(Deno.execPath(), { args: ["check", "--quiet", agent], cwd: dir })
      .output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the ops an approval may name are the gate's ops", () => {
  assert.deepEqual([...APPROVABLE_OPS].sort(), [...GATE_OP_NAMES].sort());
});
