import assert from "node:assert/strict";
import { join } from "node:path";
import { HostGate, MAX_FILE_BYTES } from "./mod.ts";
import { policyOf } from "./_testing.ts";
import { GATE_OP_NAMES, GATE_OPS } from "../../protocol/gate_ops.ts";
import { parseManifest } from "../../manifests/agent_manifest.ts";
import { parseRuntimeConfig } from "../../manifests/runtime_config.ts";
import { resolvePolicy } from "../../capabilities/policy.ts";
import type { RunEvent } from "../../protocol/protocol.ts";

/** A real folder with notes/ (read), out/ (write) and a secret beside them, and a gate over it. */
async function setup(extra = "", resolveHost?: (h: string) => Promise<string[]>) {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  await Deno.mkdir(join(dir, "notes"));
  await Deno.mkdir(join(dir, "out"));
  await Deno.writeTextFile(join(dir, "notes", "a.txt"), "a");
  await Deno.writeTextFile(join(dir, "secret.txt"), "secret");
  const manifest = parseManifest(
    `[agent]\nname = "g"\nkind = "wasm"\nmodule = "g.wasm"\n[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n${extra}`,
    { path: join(dir, "agent.toml") },
  );
  const policy = resolvePolicy(manifest, parseRuntimeConfig("", { path: join(dir, "ironclaw.toml") }));
  const events: RunEvent[] = [];
  const gate = new HostGate(policy, { emit: (e) => events.push(e), ...(resolveHost ? { resolveHost } : {}) });
  return { dir, gate, events, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("HostGate refuses a path through a symlink that leads out", async (t) => {
  await using s = await setup();
  // Links made after the run started (by something other than the guest): the gate resolves them.
  await Deno.symlink(join(s.dir, "secret.txt"), join(s.dir, "notes", "leak"));
  await Deno.symlink(s.dir, join(s.dir, "out", "up"));
  await Deno.symlink(join(s.dir, "notes"), join(s.dir, "out", "back"));
  await t.step("read through a link to a file outside", async () => {
    const r = await s.gate.call("fs.read", JSON.stringify({ path: "notes/leak" }));
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.equal(s.events.at(-1)?.rule, "symlink");
  });
  await t.step("write through a link to a folder outside, to a file not yet made", async () => {
    const r = await s.gate.call("fs.write", JSON.stringify({ path: "out/up/new.txt", data: "x" }));
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    await assert.rejects(Deno.stat(join(s.dir, "new.txt")), Deno.errors.NotFound);
  });
  await t.step("write through a link into a read-only grant", async () => {
    const r = await s.gate.call("fs.write", JSON.stringify({ path: "out/back/a.txt", data: "x" }));
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.equal(await Deno.readTextFile(join(s.dir, "notes", "a.txt")), "a");
  });
  await t.step("read through a link that stays inside the grants", async () => {
    const r = await s.gate.call("fs.read", JSON.stringify({ path: "out/back/a.txt" }));
    assert.ok(r.ok);
    assert.deepEqual(JSON.parse(r.json), { data: "a" });
  });
});

Deno.test("HostGate files: encodings, append, listing, sizes", async (t) => {
  await using s = await setup();
  await t.step("base64 round trip", async () => {
    const bytes = btoa(String.fromCharCode(0, 255, 10));
    const w = await s.gate.call(
      "fs.write",
      JSON.stringify({ path: "out/b.bin", data: bytes, encoding: "base64" }),
    );
    assert.ok(w.ok);
    assert.deepEqual([...await Deno.readFile(join(s.dir, "out", "b.bin"))], [0, 255, 10]);
    const r = await s.gate.call("fs.read", JSON.stringify({ path: "out/b.bin", encoding: "base64" }));
    assert.ok(r.ok && JSON.parse(r.json).data === bytes);
  });
  await t.step("append", async () => {
    await s.gate.call("fs.write", JSON.stringify({ path: "out/log.txt", data: "1" }));
    await s.gate.call("fs.write", JSON.stringify({ path: "out/log.txt", data: "2", append: true }));
    assert.equal(await Deno.readTextFile(join(s.dir, "out", "log.txt")), "12");
  });
  await t.step("write makes the folders it needs inside the grant", async () => {
    const r = await s.gate.call("fs.write", JSON.stringify({ path: "out/deep/er/x.txt", data: "x" }));
    assert.ok(r.ok);
  });
  await t.step("list reports kinds and sizes", async () => {
    const r = await s.gate.call("fs.list", JSON.stringify({ path: "notes" }));
    assert.ok(r.ok);
    assert.deepEqual(JSON.parse(r.json), {
      entries: [{ name: "a.txt", kind: "file", size: 1 }],
      total: 1,
      truncated: false,
    });
  });
  await t.step("a file over the size cap is refused", async () => {
    await Deno.writeFile(join(s.dir, "notes", "big.bin"), new Uint8Array(MAX_FILE_BYTES + 1));
    const r = await s.gate.call("fs.read", JSON.stringify({ path: "notes/big.bin" }));
    assert.equal(!r.ok && r.error.code, "ERR_LIMIT");
  });
  await t.step("a folder is not a file", async () => {
    const r = await s.gate.call("fs.read", JSON.stringify({ path: "notes" }));
    assert.equal(!r.ok && r.error.code, "ERR_INVALID_ARGS");
  });
  await t.step("args must be a JSON object", async () => {
    for (const args of ["[]", "nope", "null", '"x"']) {
      const r = await s.gate.call("fs.read", args);
      assert.equal(!r.ok && r.error.code, "ERR_INVALID_ARGS", args);
    }
  });
});

Deno.test("HostGate network: private addresses only by explicit grant, names resolved first", async (t) => {
  const resolved: Record<string, string[]> = {
    "public.example": ["93.184.216.34"],
    "rebind.example": ["93.184.216.34", "10.0.0.7"],
  };
  await using s = await setup(
    `[capabilities.net]\nallow = ["public.example:9", "rebind.example:9", "unresolvable.example:9", "10.0.0.7:9"]\n`,
    (h) => resolved[h] ? Promise.resolve(resolved[h]) : Promise.reject(new Error("NXDOMAIN")),
  );
  await t.step("a name with a private address among its answers", async () => {
    const r = await s.gate.call("http.fetch", JSON.stringify({ url: "http://rebind.example:9/" }));
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.equal(s.events.at(-1)?.rule, "net.private");
  });
  await t.step("a name that does not resolve fails closed", async () => {
    const r = await s.gate.call("http.fetch", JSON.stringify({ url: "http://unresolvable.example:9/" }));
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.equal(s.events.at(-1)?.rule, "net.dns");
  });
  await t.step("methods not granted", async () => {
    await using t2 = await setup(
      `[capabilities.net]\nallow = [{ url = "http://public.example:9/api/", methods = ["GET"] }]\n`,
    );
    const r = await t2.gate.call(
      "http.fetch",
      JSON.stringify({ url: "http://public.example:9/api/x", method: "DELETE" }),
    );
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.match(!r.ok ? r.error.hint : "", /DELETE/);
  });
});

Deno.test("HostGate counts every call against max_tool_calls", async () => {
  await using s = await setup("[limits]\nmax_tool_calls = 2\n");
  const codes = [];
  for (let i = 0; i < 4; i++) {
    const r = await s.gate.call("fs.list", JSON.stringify({ path: "notes" }));
    codes.push(r.ok ? "ok" : r.error.code);
  }
  assert.deepEqual(codes, ["ok", "ok", "ERR_LIMIT", "ERR_LIMIT"]);
  assert.equal(s.gate.calls, 4);
});

Deno.test("HostGate.callSync serves files and refuses ops that must wait", async () => {
  await using s = await setup(`[capabilities.net]\nallow = ["example.com"]\n`);
  const r = s.gate.callSync("fs.read", JSON.stringify({ path: "notes/a.txt" }));
  assert.ok(r.ok);
  const f = s.gate.callSync("http.fetch", JSON.stringify({ url: "https://example.com/" }));
  assert.equal(!f.ok && f.error.code, "ERR_UNSUPPORTED");
  // What is not granted is refused as such, even where it could not have waited.
  const g = s.gate.callSync("http.fetch", JSON.stringify({ url: "https://example.org/" }));
  assert.equal(!g.ok && g.error.code, "ERR_CAPABILITY_DENIED");
  const p = s.gate.callSync("proc.run", JSON.stringify({ cmd: "git" }));
  assert.equal(!p.ok && p.error.code, "ERR_CAPABILITY_DENIED");
});

Deno.test("HostGate records decisions without file contents", async () => {
  await using s = await setup();
  await s.gate.call("fs.write", JSON.stringify({ path: "out/x.txt", data: "private words" }));
  const e = s.events.at(-1)!;
  assert.equal(e.decision, "allow");
  assert.deepEqual(e.args, { path: "out/x.txt", data: "<13 chars>" });
  assert.ok(!JSON.stringify(s.events).includes("private words"));
});

Deno.test("HostGate dispatches through GATE_OPS: unknown ops, uncounted and waiting ops", async (t) => {
  await using s = await setup("[limits]\nmax_tool_calls = 1\n");
  await t.step("an unknown op is refused with the table's ops as the hint", async () => {
    const r = await s.gate.call("fs.delete", "{}");
    assert.equal(!r.ok && r.error.code, "ERR_INVALID_ARGS");
    assert.equal(!r.ok && r.error.hint, `the ops are ${GATE_OP_NAMES.join(", ")}`);
    assert.equal(s.gate.calls, 1);
  });
  await t.step("model.complete does not count against max_tool_calls", async () => {
    const r = await s.gate.call("model.complete", `{"messages":[]}`);
    assert.equal(!r.ok && r.error.code, "ERR_CAPABILITY_DENIED");
    assert.equal(s.gate.calls, 1);
  });
});

Deno.test("HostGate.callSync answers ERR_UNSUPPORTED to the waiting ops it cannot precheck", async () => {
  await using s = await setup(`[model]\nprovider = "ollama"\nname = "m"\n`);
  for (const op of ["model.complete", "tool.call"] as const) {
    assert.ok(GATE_OPS[op].waits);
    const r = s.gate.callSync(op, "{}");
    assert.equal(!r.ok && r.error.code, "ERR_UNSUPPORTED", op);
  }
});

Deno.test("HostGate asks for approval after the grants, and only for the calls [approvals] require", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "ironclaw-gate-approval-" });
  await Deno.mkdir(`${dir}/out`);
  const extra = `[capabilities.fs]\nwrite = ["out"]\n[approvals]\nrequire = ["fs.write"]\n`;
  const policy = policyOf(extra, { dir });
  const asked: string[] = [];
  const gateWith = (answer: "approve" | "deny") =>
    new HostGate(policy, {
      emit: () => {},
      approve: (op, args) => {
        asked.push(`${op} ${String(args.path)}`);
        return answer === "approve"
          ? Promise.resolve({ approved: true })
          : Promise.reject(Object.assign(new Error("Denied"), { code: "ERR_APPROVAL_DENIED", hint: "ask" }));
      },
    });
  try {
    await t.step("approved: the write happens", async () => {
      const reply = await gateWith("approve").call(
        "fs.write",
        JSON.stringify({ path: "out/a.txt", data: "x" }),
      );
      assert.ok(reply.ok);
      assert.equal(await Deno.readTextFile(`${dir}/out/a.txt`), "x");
    });
    await t.step("denied: ERR_APPROVAL_DENIED, nothing written", async () => {
      const reply = await gateWith("deny").call("fs.write", JSON.stringify({ path: "out/b.txt", data: "x" }));
      assert.ok(!reply.ok && reply.error.code === "ERR_APPROVAL_DENIED");
      await assert.rejects(Deno.stat(`${dir}/out/b.txt`), Deno.errors.NotFound);
    });
    await t.step("outside the grants: refused without asking", async () => {
      asked.length = 0;
      const reply = await gateWith("approve").call("fs.write", JSON.stringify({ path: "a.txt", data: "x" }));
      assert.ok(!reply.ok && reply.error.code === "ERR_CAPABILITY_DENIED");
      assert.deepEqual(asked, []);
    });
    await t.step("a caller that cannot wait is refused; needsApproval() tells it to await call()", () => {
      const gate = gateWith("approve");
      const args = JSON.stringify({ path: "out/c.txt", data: "x" });
      assert.equal(gate.needsApproval("fs.write", args), true);
      assert.equal(gate.needsApproval("fs.read", args), false);
      const reply = gate.callSync("fs.write", args);
      assert.ok(!reply.ok && reply.error.code === "ERR_APPROVAL_DENIED");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
