/**
 * A WASI preview1 agent (C) against links made by another process while it
 * runs, hard links to files outside its grants, probes for whether outside
 * paths exist, and two granted folders that want the same guest path. Each
 * attack runs in a real sandbox; the links are made after the run started
 * (a run refuses to start while a link leads out of its grants), and the
 * effect on the host is checked, not only the agent's answer.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./_cli.ts";
import { type AgentDir, agentDir, agentFolder, PROBE_C, type Ran, run } from "./_sandbox.ts";

/** WASI's ENOTCAPABLE, as the probe prints it. */
const NOTCAPABLE = "ERRNO 76";

/**
 * Runs the probe on `after` once `setup` has changed the agent's folder, which it does after the guest has
 * started (the guest makes out/ready, then waits for out/go). Returns the lines printed for `after`.
 */
async function attack(
  agent: AgentDir,
  setup: () => void,
  after: string[],
): Promise<{ out: string[]; ran: Ran }> {
  const task = ["create /out/ready", "waitfor /out/go", ...after];
  let ended = false;
  const running = run(agent, task.join("\n")).finally(() => ended = true);
  while (!ended && !exists(join(agent.dir, "out/ready"))) await new Promise((r) => setTimeout(r, 20));
  if (!ended) {
    setup();
    Deno.writeTextFileSync(join(agent.dir, "out/go"), "");
  }
  const ran = await running;
  assert.equal(ran.outcome.state, "ok", JSON.stringify(ran.outcome.error));
  const lines = (ran.outcome.output ?? "").split("\n").filter((l) => l !== "");
  assert.equal(lines[1], "OK waitfor /out/go");
  return { out: lines.slice(2), ran };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function rules(ran: Ran): string[] {
  return ran.events.flatMap((e) => e.type === "gate" && e.decision === "deny" ? [String(e.rule)] : []);
}

Deno.test("a link made while the agent runs cannot carry a create, truncate or write out", async (t) => {
  await using agent = await agentDir(PROBE_C);
  const at = (p: string) => join(agent.dir, p);
  Deno.writeTextFileSync(at("out/in.txt"), "inside\n");
  const { out, ran } = await attack(agent, () => {
    Deno.symlinkSync(at("created-outside.txt"), at("out/dangling"));
    Deno.symlinkSync("../created-relative.txt", at("out/dangling-rel"));
    Deno.symlinkSync(at("secret.txt"), at("out/to-secret"));
    Deno.symlinkSync(agent.dir, at("out/to-dir"));
    Deno.symlinkSync("in.txt", at("out/to-inside"));
  }, [
    "create /out/dangling",
    "create /out/dangling-rel",
    "write /out/dangling",
    "create /out/to-dir/created-in-dir.txt",
    "trunc /out/to-secret",
    "append /out/to-secret",
    "append /out/to-inside",
    "cat /out/to-inside",
  ]);
  await t.step("every write through a link is refused with ENOTCAPABLE", () => {
    for (const [i, line] of out.slice(0, 7).entries()) {
      // fopen(w) prints the errno's text
      assert.match(
        line,
        i === 2 ? /^ERR \/out\/dangling: Capabilities insufficient/ : new RegExp(`^${NOTCAPABLE} `),
      );
    }
  });
  await t.step("a link inside the grant may still be read", () => {
    assert.equal(out[7], "OK /out/to-inside inside\n".trimEnd());
  });
  await t.step("nothing was made or changed outside", () => {
    assert.ok(!exists(at("created-outside.txt")), "created-outside.txt was made");
    assert.ok(!exists(at("created-relative.txt")), "created-relative.txt was made");
    assert.ok(!exists(at("created-in-dir.txt")), "created-in-dir.txt was made");
    assert.equal(Deno.readTextFileSync(at("secret.txt")), "the secret\n");
    assert.equal(Deno.readTextFileSync(at("out/in.txt")), "inside\n");
  });
  await t.step("the refusals are recorded", () => {
    assert.ok(rules(ran).includes("fs.no-links"), rules(ran).join());
  });
});

Deno.test("a file with a hard link to outside is neither read nor written", async (t) => {
  await using agent = await agentDir(PROBE_C);
  const at = (p: string) => join(agent.dir, p);
  Deno.writeTextFileSync(at("hard-secret.txt"), "hard secret\n");
  const { out, ran } = await attack(agent, () => {
    Deno.linkSync(at("hard-secret.txt"), at("out/hard"));
    Deno.linkSync(at("hard-secret.txt"), at("notes/hard"));
  }, ["cat /out/hard", "append /out/hard", "trunc /out/hard", "create /out/hard", "cat /notes/hard"]);
  await t.step("each open is refused with ENOTCAPABLE", () => {
    assert.deepEqual(out, [
      `${NOTCAPABLE} /out/hard`,
      `${NOTCAPABLE} /out/hard`,
      `${NOTCAPABLE} /out/hard`,
      `${NOTCAPABLE} /out/hard`,
      `${NOTCAPABLE} /notes/hard`,
    ]);
  });
  await t.step("the outside file is unchanged", () => {
    assert.equal(Deno.readTextFileSync(at("hard-secret.txt")), "hard secret\n");
  });
  await t.step("the refusals are recorded", () => {
    assert.ok(rules(ran).includes("fs.no-hardlinks"), rules(ran).join());
  });
});

Deno.test("an outside path answers ENOTCAPABLE whether or not it exists", async (t) => {
  await using agent = await agentDir(PROBE_C);
  const at = (p: string) => join(agent.dir, p);
  const { out } = await attack(
    agent,
    () => {
      Deno.symlinkSync(at("secret.txt"), at("out/to-secret"));
      Deno.symlinkSync(at("nothing.txt"), at("out/to-nothing"));
      Deno.symlinkSync("../nothing.txt", at("out/rel-nothing"));
      Deno.symlinkSync("../secret.txt", at("out/rel-secret"));
      Deno.symlinkSync(agent.dir, at("out/to-dir"));
      Deno.symlinkSync(at("no-dir"), at("out/to-no-dir"));
    },
    [
      "/out/to-secret",
      "/out/to-nothing",
      "/out/rel-secret",
      "/out/rel-nothing",
      "/out/to-dir/secret.txt",
      "/out/to-dir/nothing.txt",
      "/out/to-no-dir/secret.txt",
      "/notes/../secret.txt",
      "/notes/../nothing.txt",
      "/secret.txt",
      "/nothing.txt",
    ].flatMap((p) => [`cat ${p}`, `stat ${p}`, `opendir ${p}`, `create ${p}/x`]).concat(
      "cat /out/nothing.txt",
    ),
  );
  await t.step("every outside path, existing or not", () => {
    for (const line of out.slice(0, -1)) assert.match(line, new RegExp(`^${NOTCAPABLE} `));
  });
  await t.step("a missing path inside the grants is still ENOENT", () => {
    assert.equal(out.at(-1), "ERRNO 44 /out/nothing.txt");
  });
});

Deno.test("two granted folders that want one guest path get two, and the read-only one stays read-only", async (t) => {
  // An outside writable folder /tmp/X and a read-only folder <agent>/tmp/X both want the guest path /tmp/X.
  const outside = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-outside-" }));
  await using agent = await agentFolder(
    { "notes/a.txt": "note a\n", "out/": "", [`${outside.slice(1)}/keep.txt`]: "read only\n" },
    `[agent]\nname = "probe"\nkind = "wasm"\nmodule = "${PROBE_C}"\n\n` +
      `[capabilities.fs]\nread = ["notes", "${outside.slice(1)}"]\nwrite = ["out", "${outside}"]\n`,
  );
  const mirror = join(agent.dir, outside.slice(1));
  try {
    const ran = await run(
      agent,
      [`write ${outside}/w.txt`, `write ${outside}-2/w.txt`, `cat ${outside}-2/keep.txt`].join("\n"),
    );
    const out = (ran.outcome.output ?? "").split("\n").filter((l) => l !== "");
    await t.step("the read-only folder is not written", () => {
      assert.deepEqual([...Deno.readDirSync(mirror)].map((e) => e.name), ["keep.txt"]);
      assert.equal(Deno.readTextFileSync(join(mirror, "keep.txt")), "read only\n");
    });
    await t.step("each folder is reachable under its own guest path", () => {
      assert.equal(out[0], `OK ${outside}/w.txt`);
      assert.match(out[1]!, new RegExp(`^ERR ${outside}-2/w\\.txt`));
      assert.equal(out[2], `OK ${outside}-2/keep.txt read only\n`.trimEnd());
      assert.ok(exists(join(outside, "w.txt")));
    });
    await t.step("ironclaw check shows the guest path of each", async () => {
      const text = await runCli(["check", agent.manifest, "--config", "tests/ironclaw.test.toml"], {
        env: { NO_COLOR: "1" },
      });
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`\\n  ${outside} +${outside} +read-write, fd 4\\n`));
      assert.match(text.stdout, new RegExp(`\\n  ${outside}-2 +${mirror} +read-only, fd 6\\n`));
      const json = await runCli(["check", agent.manifest, "--json", "--config", "tests/ironclaw.test.toml"]);
      const guests = JSON.parse(json.stdout).preopens.map((p: { guest: string }) => p.guest);
      assert.deepEqual(guests, ["/out", outside, "/notes", `${outside}-2`]);
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
