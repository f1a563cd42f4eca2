/**
 * Disks against a real `ironclaw run` (issue 11, items 2 and 7): a state
 * folder whose disk fills mid-run, a read-only state folder, and a component
 * cache whose disk fills during a transpile (F3). Each test mounts a small
 * tmpfs of its own, so it needs root; without root it cannot make a disk
 * full or read-only (root ignores permission bits, and a user cannot mount),
 * and it is skipped outside CI and fails in CI, saying so.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { awaitNoProcessWith, type CliResult, processesWith, runCli } from "./_cli.ts";
import { type AgentDir, agentDir, PROBE, withConfig } from "./_sandbox.ts";
import { listRuns, showRun } from "../supervisor/records.ts";
import { EXIT_CODES } from "../supervisor/outcome.ts";

/** Whether this process may mount a tmpfs. */
const IS_ROOT = Deno.uid() === 0;

/** The tests run as root, and everywhere in CI (where not being root is a failure, not a skip). */
const ignore = !IS_ROOT && !Deno.env.get("CI");

/** A tmpfs mounted on a temporary folder; unmounted and removed when disposed. */
interface Tmpfs extends AsyncDisposable {
  dir: string;
  /** Remounts it read-only. */
  readOnly(): Promise<void>;
  /** Remounts it with another size. */
  resize(size: string): Promise<void>;
}

async function sh(...args: string[]): Promise<void> {
  const out = await new Deno.Command(args[0]!, { args: args.slice(1), stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** Mounts a tmpfs of `size` (`mount -o size=`) on a new temporary folder, or on the existing folder `at`. */
async function tmpfs(size: string, at?: string): Promise<Tmpfs> {
  if (!IS_ROOT) {
    throw new Error(
      "this test mounts a tmpfs to make a disk full or read-only, which needs root: run it as root",
    );
  }
  const dir = at ?? await Deno.makeTempDir({ prefix: "ironclaw-tmpfs-" });
  try {
    await sh("mount", "-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir);
  } catch (e) {
    if (!at) await Deno.remove(dir);
    throw e;
  }
  return {
    dir,
    readOnly: () => sh("mount", "-o", "remount,ro", dir),
    resize: (to) => sh("mount", "-o", `remount,size=${to}`, dir),
    async [Symbol.asyncDispose]() {
      await sh("umount", "--lazy", dir);
      if (!at) await Deno.remove(dir);
    },
  };
}

/** Runs the probe through the CLI with `--json` and `task`. */
function runProbe(agent: AgentDir, task: unknown): Promise<CliResult> {
  return runCli(["run", agent.manifest, "--json", "--task", JSON.stringify(task)], { cwd: agent.dir });
}

/** What a `--json` run printed: its id and sandbox's `--channel=` argument (from the `run` event), its `end`. */
interface Printed {
  id: string;
  channel: string;
  // deno-lint-ignore no-explicit-any
  end: Record<string, any>;
}

/** Reads {@linkcode Printed} from a `--json` run's stdout. */
function printed(out: CliResult): Printed {
  const lines = out.stdout.trim().split("\n");
  const run = lines.find((l) => l.includes('"type":"run"'));
  assert.ok(run, `the run did not start: ${out.stdout}${out.stderr}`);
  const { id, command } = JSON.parse(run) as { id: string; command: string[] };
  return { id, channel: command.find((a) => a.startsWith("--channel="))!, end: JSON.parse(lines.at(-1)!) };
}

/** Names in `dir` (recursively, relative) that look like a half-written file: temporary names. */
async function halfFiles(dir: string, under = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(join(dir, under))) {
    const name = join(under, e.name);
    if (/\.tmp\b|\.pending$/.test(e.name)) found.push(name);
    if (e.isDirectory) found.push(...await halfFiles(dir, name));
  }
  return found;
}

/** Fills the disk of `dir` with one file, leaving about `leaveKb` KiB free. */
async function fill(dir: string, leaveKb: number): Promise<string> {
  const path = join(dir, "filler");
  const { stdout } = await new Deno.Command("df", { args: ["--output=avail", "-k", dir], stdout: "piped" })
    .output();
  const availKb = Number(new TextDecoder().decode(stdout).trim().split("\n").at(-1));
  const size = Math.max(0, availKb - leaveKb) * 1024;
  using file = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(1 << 20).fill(0x61);
  for (let left = size; left > 0; left -= chunk.length) {
    await file.write(chunk.subarray(0, Math.min(left, chunk.length)));
  }
  return path;
}

Deno.test({
  name:
    "a state folder whose disk fills mid-run: ERR_STORE with a hint, no sandbox left, earlier runs intact",
  ignore,
  async fn() {
    await using disk = await tmpfs("12m");
    await using agent = await withConfig(
      await agentDir(PROBE, "[limits]\ntimeout_s = 120\nmax_output_kb = 16384\n"),
      `[runtime]\nstate_dir = "${disk.dir}"\n`,
    );
    const first = await runProbe(agent, { do: "flood", n: 20 });
    assert.equal(first.code, 0, first.stderr);
    const firstId = printed(first).id;
    const before = await showRun(disk.dir, firstId);
    assert.equal(before.summary.state, "ok");
    const filler = await fill(disk.dir, 3 * 1024);
    // 16 MiB of log lines, far more than the disk has left.
    const full = await runProbe(agent, { do: "flood", n: 16_000 });
    const { id, end, channel } = printed(full);
    assert.equal(full.code, EXIT_CODES.error, full.stderr);
    assert.deepEqual(
      [end.type, end.state, end.error?.code],
      ["end", "error", "ERR_STORE"],
      JSON.stringify(end),
    );
    assert.match(end.error.hint, /room/);
    assert.doesNotMatch(full.stderr + full.stdout, /bug in IronClaw|Uncaught|\n\s+at /);
    await awaitNoProcessWith(channel);
    assert.deepEqual(processesWith(channel), [], "the sandbox outlived a full disk");
    assert.deepEqual(await halfFiles(disk.dir), []);
    // Room again: what was acknowledged before the disk filled is all there, and runs work again.
    await Deno.remove(filler);
    const after = await showRun(disk.dir, firstId);
    assert.deepEqual(after, before);
    // The failed run could not write its end: the next process to open the store marks it lost, after the
    // events that were written, with no gap.
    const failed = await showRun(disk.dir, id);
    assert.deepEqual([failed.summary.state, failed.events.at(-1)?.type], ["lost", "end"]);
    assert.deepEqual(failed.events.map((e) => e.seq), [...failed.events.keys()]);
    assert.equal((await listRuns(disk.dir)).length, 2);
    const again = await runProbe(agent, { do: "flood", n: 1 });
    assert.equal(again.code, 0, again.stderr);
  },
});

Deno.test({
  name:
    "a read-only state folder: ironclaw run fails with ERR_STORE before spawning; runs list and show read it",
  ignore,
  async fn(t) {
    await using disk = await tmpfs("16m");
    await using agent = await withConfig(
      await agentDir(PROBE),
      `[runtime]\nstate_dir = "${disk.dir}/state"\n`,
    );
    const state = join(disk.dir, "state");
    const refused = async () => {
      const out = await runProbe(agent, { calls: [] });
      assert.equal(out.code, EXIT_CODES.error, out.stderr);
      const lines = out.stdout.trim().split("\n");
      assert.equal(lines.length, 1, `only the end event, nothing was started: ${out.stdout}`);
      const end = JSON.parse(lines[0]!);
      assert.deepEqual([end.type, end.state, end.error?.code], ["end", "error", "ERR_STORE"]);
      assert.match(end.error.hint, /writable/);
      assert.doesNotMatch(out.stderr, /bug in IronClaw|Uncaught/);
    };
    const cli = (...args: string[]) => runCli(args, { cwd: agent.dir });
    await t.step("with no store yet, nothing can be run or read", async () => {
      await Deno.mkdir(state);
      await disk.readOnly();
      await refused();
      const listed = await cli("runs", "list");
      assert.equal(listed.code, 1, listed.stderr);
      assert.match(listed.stderr, /ERR_STORE/);
      assert.match(listed.stderr, /hint: .*writable/);
      await sh("mount", "-o", "remount,rw", disk.dir);
    });
    await t.step("with a store made before, it is read but never written", async () => {
      const ok = await runProbe(agent, { calls: [] });
      assert.equal(ok.code, 0, ok.stderr);
      const { id } = printed(ok);
      await disk.readOnly();
      await refused();
      const listed = await cli("runs", "list", "--json");
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual((JSON.parse(listed.stdout) as { id: string }[]).map((r) => r.id), [id]);
      const shown = await cli("runs", "show", id, "--json");
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(JSON.parse(shown.stdout).events.at(-1).type, "end");
      const tailed = await cli("runs", "tail", id, "--json");
      assert.equal(tailed.code, 0, tailed.stderr);
      const pruned = await cli("runs", "prune", "--older-than", "0s");
      assert.equal(pruned.code, 1);
      assert.match(pruned.stderr, /ERR_STORE/);
    });
  },
});

/** The entries of the component cache of a state folder. */
async function cacheEntries(state: string): Promise<string[]> {
  const names: string[] = [];
  try {
    // index.json is the cache's index of stamps (written whole, by rename), not an entry.
    for await (const e of Deno.readDir(join(state, "cache", "components"))) {
      if (e.name !== "index.json") names.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

Deno.test({
  name:
    "F3: a component cache whose disk fills during the transpile: ERR_IO with a hint, no entry; then a run works",
  ignore,
  async fn() {
    await using agent = await withConfig(await agentDir(PROBE), `[runtime]\nstate_dir = "state"\n`);
    const state = join(agent.dir, "state");
    await Deno.mkdir(join(state, "cache"), { recursive: true });
    // Room for the folders, not for the transpiled component (about a megabyte).
    await using disk = await tmpfs("256k", join(state, "cache"));
    const failed = await runProbe(agent, { calls: [] });
    assert.equal(failed.code, EXIT_CODES.error, failed.stderr);
    const end = JSON.parse(failed.stdout.trim().split("\n").at(-1)!);
    assert.deepEqual([end.type, end.state, end.error?.code], ["end", "error", "ERR_IO"], failed.stdout);
    assert.match(end.error.message, /Cannot store the prepared component/);
    assert.match(end.error.hint, /has room/);
    assert.doesNotMatch(failed.stderr + failed.stdout, /bug in IronClaw|Uncaught/);
    assert.deepEqual(await cacheEntries(state), [], "no entry, not even a temporary one");
    await disk.resize("32m");
    const ok = await runProbe(agent, { calls: [] });
    assert.equal(ok.code, 0, ok.stderr);
    const entries = await cacheEntries(state);
    assert.equal(entries.length, 1, entries.join(", "));
    assert.ok((await Deno.stat(join(state, "cache", "components", entries[0]!, "agent.js"))).size > 0);
    assert.deepEqual(await halfFiles(state), []);
  },
});

Deno.test("F3: a cache folder left by a process killed mid-transpile is never trusted, and is removed", async () => {
  await using agent = await withConfig(await agentDir(PROBE), `[runtime]\nstate_dir = "state"\n`);
  const state = join(agent.dir, "state");
  const first = await runProbe(agent, { calls: [] });
  assert.equal(first.code, 0, first.stderr);
  const [hash] = await cacheEntries(state);
  assert.ok(hash);
  const root = join(state, "cache", "components");
  const whole = await Deno.readFile(join(root, hash, "agent.js"));
  await Deno.remove(join(root, hash), { recursive: true });
  // What a process killed while writing the entry leaves: its temporary folder, half written. Its pid is one
  // that ran and ended.
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const left = `${hash}.${dead.pid}.1.0123456789abcdef.tmp`;
  await Deno.mkdir(join(root, left));
  await Deno.writeFile(join(root, left, "agent.js"), whole.subarray(0, 100));
  const again = await runProbe(agent, { calls: [] });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await cacheEntries(state), [hash], "the temporary folder is gone and the entry is whole");
  assert.deepEqual(await Deno.readFile(join(root, hash, "agent.js")), whole);
});
