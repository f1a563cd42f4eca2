/**
 * The file ops against an attacker beside the sandbox, in real runs of the
 * probe component: while it calls fs.read, fs.list and fs.write hundreds of
 * times, another process swaps paths inside the grants between the real file
 * or folder (or a link to it) and a symbolic link leading out
 * (tests/children/swapper.ts). No
 * read may return the outside secret, no listing may show the outside folder,
 * and nothing outside may be created or changed. Hard links to outside files
 * are refused unless the manifest says `hardlinks = true`. Each runs with the
 * process flags and the gate, and again in worker mode with the process
 * widened to `--allow-all` (the gate and the Worker's permissions): Deno's
 * permissions do not see through links or hard links, so the gate is the wall.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./_cli.ts";
import { type AgentDir, agentDir, agentFolder, PROBE, probeCalls } from "./_sandbox.ts";
import { loadPolicy } from "../supervisor/load.ts";
import { runAgent, type RunAgentOptions } from "../supervisor/run.ts";
import type { RunEvent } from "../protocol/protocol.ts";

const SWAPPER = join(ROOT, "tests/children/swapper.ts");
const SECRET = "OUTSIDE SECRET";
/** A deep chain of folders, the same inside and outside. */
const DEEP = Array.from({ length: 24 }, (_, n) => `d${n}`).join("/");
/** Calls in one run: enough that the code before the proofs lost within a few seconds. */
const ROUNDS = 1500;

const MODES: { name: string; options: Omit<RunAgentOptions, "task" | "onEvent"> }[] = [
  { name: "process mode", options: {} },
  {
    name: "worker mode, process --allow-all",
    options: { sandboxMode: "worker", unsafeWidenProcessFlags: true },
  },
];

/** An agent folder whose grants hold the paths to swap, and outside them a secret and two folders. */
function raceAgent(extra = ""): Promise<AgentDir> {
  return agentFolder(
    {
      "notes/f.txt": "inside",
      "notes/sub/inner.txt": "inside",
      "notes/real/inner.txt": "inside",
      "out/target.txt": "inside",
      "out/sub/keep.txt": "inside",
      "secret.txt": SECRET,
      "elsewhere/inner.txt": SECRET,
      "elsewhere/only-outside.txt": SECRET,
      [`elsewhere/${DEEP}/only-outside.txt`]: SECRET,
      [`notes/real/${DEEP}/inside.txt`]: "inside",
      [`elsewhere/${DEEP}/inside.txt`]: SECRET,
      [`out/real/${DEEP}/inside.txt`]: "inside",
      [`drop/${DEEP}/inside.txt`]: SECRET,
      "drop/target.txt": SECRET,
      "drop/inner.txt": SECRET,
    },
    `[agent]\nname = "racer"\nkind = "wasm"\nmodule = "${PROBE}"\n\n` +
      `[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n${extra}\n` +
      `[limits]\nmax_tool_calls = 10000\nmax_output_kb = 8192\ntimeout_s = 120\n`,
  );
}

/** Every file and folder under `dir`, with each file's text. */
async function snapshot(dir: string): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    out[e.name] = e.isFile ? await Deno.readTextFile(path) : null;
    if (e.isDirectory) {
      for (const [k, v] of Object.entries(await snapshot(path))) out[`${e.name}/${k}`] = v;
    }
  }
  return out;
}

type Reply = { ok?: Record<string, unknown>; error?: { code: string; message: string; hint: string } };

/** Runs the probe on `calls` while the swapper swaps `swaps`; the swapper starts at the first gate call. */
async function racedRun(
  agent: AgentDir,
  calls: [string, unknown][],
  swaps: Swap[],
  options: Omit<RunAgentOptions, "task" | "onEvent">,
): Promise<{ replies: Reply[]; events: RunEvent[] }> {
  const swapper = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SWAPPER, join(agent.dir, "stage"), JSON.stringify(swaps)],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const go = swapper.stdin.getWriter();
  try {
    const policy = await loadPolicy(agent.manifest, agent.config, { home: "/nonexistent-home" });
    const events: RunEvent[] = [];
    let started = false;
    const handle = await runAgent(policy, agent.config, {
      ...options,
      task: JSON.stringify({ calls }),
      onEvent: (e) => {
        events.push(e);
        if (e.type === "gate" && !started) {
          started = true;
          void go.write(new TextEncoder().encode("go\n"));
        }
      },
    });
    const outcome = await handle.done;
    assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
    return { replies: JSON.parse(outcome.output!), events };
  } finally {
    swapper.kill();
    await swapper.status;
    await go.close().catch(() => {});
  }
}

type Swap = { path: string; kind: "file" | "dir" | "link"; to: string; from?: string };

/** One class of race: the calls of round `i`, and what the swapper swaps (paths relative to the agent). */
interface Race {
  name: string;
  call: (i: number) => [string, unknown];
  swaps: Swap[];
}

const RACES: Race[] = [
  {
    name: "fs.read of a file, or through a link, swapped for a link to a secret",
    call: (i) => ["fs.read", { path: i % 2 === 0 ? "notes/f.txt" : `notes/view/${DEEP}/inside.txt` }],
    swaps: [
      { path: "notes/f.txt", kind: "file", to: "secret.txt" },
      { path: "notes/view", kind: "link", to: "elsewhere", from: "notes/real" },
    ],
  },
  {
    name: "fs.read through a folder swapped for a link to an outside folder",
    call: () => ["fs.read", { path: "notes/sub/inner.txt" }],
    swaps: [{ path: "notes/sub", kind: "dir", to: "elsewhere" }],
  },
  {
    name: "fs.list of a folder, or a link to one, swapped for a link to an outside folder",
    // A deep tail after the swapped link makes the check's walk long, so the old code lost often.
    call: (i) => ["fs.list", { path: i % 2 === 0 ? "notes/sub" : `notes/view/${DEEP}` }],
    swaps: [
      { path: "notes/sub", kind: "dir", to: "elsewhere" },
      { path: "notes/view", kind: "link", to: "elsewhere", from: "notes/real" },
    ],
  },
  {
    name: "fs.write (and append) to a file, or into a folder, swapped for a link leading out",
    call: (i) =>
      [
        ["fs.write", { path: "out/target.txt", data: "agent", append: i % 2 === 0 }],
        ["fs.write", { path: "out/sub/inner.txt", data: "agent", append: i % 2 === 0 }],
        ["fs.write", { path: `out/view/${DEEP}/inside.txt`, data: "agent", append: i % 2 === 0 }],
      ][i % 3] as [string, unknown],
    swaps: [
      { path: "out/target.txt", kind: "file", to: "drop/target.txt" },
      { path: "out/sub", kind: "dir", to: "drop" },
      { path: "out/view", kind: "link", to: "drop", from: "out/real" },
    ],
  },
];

for (const { name, options } of MODES) {
  for (const race of RACES) {
    Deno.test(`${race.name}: never leads out (${name})`, async (t) => {
      await using agent = await raceAgent();
      const at = (p: string) => join(agent.dir, p);
      Deno.symlinkSync(at("notes/real"), at("notes/view"));
      Deno.symlinkSync(at("out/real"), at("out/view"));
      const before = { elsewhere: await snapshot(at("elsewhere")), drop: await snapshot(at("drop")) };
      const calls = Array.from({ length: ROUNDS }, (_, i) => race.call(i));
      const swaps = race.swaps.map((s) => ({
        ...s,
        path: at(s.path),
        to: at(s.to),
        ...(s.from ? { from: at(s.from) } : {}),
      }));
      const { replies, events } = await racedRun(agent, calls, swaps, options);
      assert.equal(replies.length, calls.length);

      await t.step("no read returned the outside secret", () => {
        const leaked = replies.filter((r) => String(r.ok?.data).includes(SECRET));
        assert.equal(leaked.length, 0, `${leaked.length} reads returned the secret`);
      });
      await t.step("no listing showed the outside folder", () => {
        const shown = replies.filter((r) =>
          (r.ok?.entries as { name: string }[] | undefined)?.some((e) => e.name === "only-outside.txt")
        );
        assert.equal(shown.length, 0, `${shown.length} listings showed the outside folder`);
      });
      await t.step("nothing outside was created or changed", async () => {
        assert.deepEqual(await snapshot(at("elsewhere")), before.elsewhere);
        assert.deepEqual(await snapshot(at("drop")), before.drop);
        assert.equal(await Deno.readTextFile(at("secret.txt")), SECRET);
      });
      await t.step("the swaps were seen, and refused with clear errors", () => {
        const refusals = events.filter((e) => e.type === "gate" && e.decision === "deny");
        assert.ok(refusals.length > 0, "the swapper never got in the way: the test proved nothing");
        for (const e of refusals) {
          assert.ok(["symlink", "fs.race", "io", "deno-flags"].includes(String(e.rule)), String(e.rule));
        }
        for (const r of replies) if (r.error) assert.ok(r.error.hint.length > 0, JSON.stringify(r.error));
      });
    });
  }

  Deno.test(`a hard link to an outside file is refused, unless hardlinks = true (${name})`, async (t) => {
    const calls: [string, unknown][] = [
      ["fs.read", { path: "notes/hl.txt" }],
      ["fs.write", { path: "out/hl.txt", data: "pwned" }],
      ["fs.write", { path: "out/hl.txt", data: "pwned", append: true }],
    ];
    await t.step("refused for read, write and append; the outside file unchanged", async () => {
      await using agent = await raceAgent();
      Deno.linkSync(join(agent.dir, "secret.txt"), join(agent.dir, "notes/hl.txt"));
      Deno.linkSync(join(agent.dir, "secret.txt"), join(agent.dir, "out/hl.txt"));
      const { replies, ran } = await probeCalls(agent, calls, options);
      for (const r of replies) assert.equal(r.error?.code, "ERR_CAPABILITY_DENIED", JSON.stringify(r));
      assert.match(replies[0]!.error!.hint, /hardlinks = true/);
      const rules = ran.events.filter((e) => e.type === "gate").map((e) => e.rule);
      assert.deepEqual(rules, ["fs.hardlink", "fs.hardlink", "fs.hardlink"]);
      assert.equal(await Deno.readTextFile(join(agent.dir, "secret.txt")), SECRET);
    });
    await t.step("allowed with hardlinks = true", async () => {
      await using agent = await raceAgent("hardlinks = true\n");
      Deno.linkSync(join(agent.dir, "secret.txt"), join(agent.dir, "notes/hl.txt"));
      Deno.linkSync(join(agent.dir, "secret.txt"), join(agent.dir, "out/hl.txt"));
      const { replies } = await probeCalls(agent, calls.slice(0, 1), options);
      assert.deepEqual(replies[0]?.ok, { data: SECRET });
    });
  });
}

Deno.test("runs writing one file at once all succeed: a later write superseding an earlier one is no race", async () => {
  await using agent = await agentDir(PROBE, "[limits]\nmax_tool_calls = 1000\n");
  const writes = (run: number): [string, unknown][] =>
    Array.from(
      { length: 300 },
      (_, i) => ["fs.write", { path: "out/same.txt", data: `run ${run} write ${i}` }],
    );
  const ran = await Promise.all([0, 1, 2].map((run) => probeCalls(agent, writes(run))));
  const refused = ran.flatMap((r) => r.replies.filter((x) => x.error));
  assert.deepEqual(refused, [], `${refused.length} of 900 writes were refused`);
  assert.match(await Deno.readTextFile(join(agent.dir, "out/same.txt")), /^run [0-2] write \d+$/);
  const left = [...Deno.readDirSync(join(agent.dir, "out"))].map((e) => e.name);
  assert.deepEqual(left, ["same.txt"], "a fresh file was left behind");
});

for (const { name, options } of MODES) {
  Deno.test(`a grant of one file, whose folder the sandbox may not enter: read and append work, a write is refused (${name})`, async () => {
    await using agent = await agentFolder(
      { "notes/one.txt": "one", "notes/other.txt": "other", "log.txt": "a" },
      `[agent]\nname = "onefile"\nkind = "wasm"\nmodule = "${PROBE}"\n\n` +
        `[capabilities.fs]\nread = ["notes/one.txt"]\nwrite = ["log.txt"]\n`,
    );
    const { replies, ran } = await probeCalls(agent, [
      ["fs.read", { path: "notes/one.txt" }],
      ["fs.read", { path: "notes/other.txt" }],
      ["fs.write", { path: "log.txt", data: "b", append: true }],
      ["fs.write", { path: "log.txt", data: "replaced" }],
      ["fs.list", { path: "notes/one.txt" }],
    ], options);
    assert.deepEqual(replies[0]?.ok, { data: "one" });
    assert.equal(replies[1]?.error?.code, "ERR_CAPABILITY_DENIED");
    assert.deepEqual(replies[2]?.ok, { bytes: 1 }, JSON.stringify(replies));
    // A write makes a fresh file beside the target and renames it: the folder must be granted.
    assert.equal(replies[3]?.error?.code, "ERR_CAPABILITY_DENIED");
    assert.equal(await Deno.readTextFile(join(agent.dir, "log.txt")), "ab");
    assert.equal(replies[4]?.error?.code, "ERR_INVALID_ARGS", JSON.stringify(replies[4]));
    const rules = ran.events.filter((e) => e.type === "gate").map((e) => e.rule);
    assert.ok(rules.every((r) => r !== "fs.race"), rules.join(", "));
  });
}

Deno.test("process mode: the sandbox holds the folder it reads (its working folder, seen from outside), never the manifest's folder", async () => {
  await using agent = await raceAgent();
  const policy = await loadPolicy(agent.manifest, agent.config, { home: "/nonexistent-home" });
  const calls: [string, unknown][] = Array.from(
    { length: 600 },
    (_, i) => i % 2 === 0 ? ["fs.list", { path: "notes/sub" }] : ["fs.read", { path: "notes/f.txt" }],
  );
  let pid: number | null = null;
  const seen = new Set<string>();
  const handle = await runAgent(policy, agent.config, {
    task: JSON.stringify({ calls }),
    onEvent: (e) => {
      if (e.type !== "gate" || pid === null) return;
      try {
        seen.add(Deno.readLinkSync(`/proc/${pid}/cwd`));
      } catch { /* exited */ }
    },
  });
  pid = handle.pid;
  const outcome = await handle.done;
  assert.equal(outcome.state, "ok", JSON.stringify(outcome.error));
  assert.ok(seen.size > 0, "the sandbox's working folder was looked at");
  // A gate proving paths never leaves the manifest's folder; one holding folders enters each folder it reads,
  // and goes back beside its code (the flags do not let it enter the manifest's folder again).
  for (const cwd of seen) {
    assert.notEqual(cwd, agent.dir);
    assert.ok(
      [join(agent.dir, "notes"), join(agent.dir, "notes/sub")].includes(cwd) || cwd.endsWith("/bundle"),
      `an unexpected working folder: ${cwd}`,
    );
  }
});
