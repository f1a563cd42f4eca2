/**
 * The hostile-manifest corpus: every file in tests/corpus/NN-*.toml is a broken
 * or malicious agent manifest that must be refused with an InvalidDocumentError
 * naming the codes on its first line (`# expect: CODE ...`), each problem at a
 * real file position with a message and a hint. An optional `# line: N` on line
 * 2 or 3 is the line of the first problem reported.
 *
 * Symlinks, over-large files and other cases that cannot be committed are
 * built in temporary folders below.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { InvalidDocumentError, type Issue, loadPolicy, loadRuntimeConfig } from "../mod.ts";
import { MAX_DOCUMENT } from "../manifests/document.ts";
import { ROOT, runCli } from "./_cli.ts";

const CORPUS = join(ROOT, "tests", "corpus");
const CONFIG_PATH = join(CORPUS, "ironclaw.toml");
/** The home folder every corpus manifest is checked against (the HOME variable is not consulted). */
const HOME = "/home/agentuser";

interface Header {
  expect: string[];
  what: string;
  line?: number;
}

/** Reads `# expect: ...`, the description and the optional `# line: N` of a corpus file. */
function readHeader(name: string, text: string): Header {
  const lines = text.split(/\r?\n/);
  const expect = lines[0]?.match(/^# expect: ([A-Z_ ]+)$/);
  assert.ok(expect, `${name}: line 1 must be "# expect: ERR_CODE ..."`);
  const what = lines[1]?.match(/^# (.+)$/)?.[1] ?? "";
  assert.ok(what && !/^(expect|line):/.test(what), `${name}: line 2 must say what the attack or mistake is`);
  const lineComment = lines.slice(1, 3).map((l) => l.match(/^# line: (\d+)$/)).find((m) => m);
  return {
    expect: expect[1]!.trim().split(/\s+/),
    what,
    ...(lineComment ? { line: Number(lineComment[1]) } : {}),
  };
}

/** True when `s` holds a control character other than tab and newline. */
function hasControl(s: string): boolean {
  for (let n = 0; n < s.length; n++) {
    const c = s.charCodeAt(n);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f) return true;
  }
  return false;
}

/** Runs `load` and returns the InvalidDocumentError it must throw; anything else fails. */
async function refusal(load: () => Promise<unknown>, what: string): Promise<InvalidDocumentError> {
  let result: unknown;
  try {
    result = await load();
  } catch (e) {
    if (e instanceof InvalidDocumentError) return e;
    assert.fail(`${what}: expected InvalidDocumentError, got ${e instanceof Error ? e.stack : String(e)}`);
  }
  assert.fail(`${what}: was ACCEPTED, expected InvalidDocumentError; policy: ${JSON.stringify(result)}`);
}

/** Checks the shape every issue must have: positioned in `file`, with a message and a hint. */
function assertIssues(e: InvalidDocumentError, file: string, lineCount: number): void {
  assert.equal(e.code, "ERR_INVALID_DOCUMENT");
  assert.ok(e.issues.length >= 1, "at least one issue");
  for (const i of e.issues) {
    const label = `${i.code} at ${i.pos.line}:${i.pos.column} ${i.pos.key}`;
    assert.equal(i.pos.file, file, `${label}: pos.file`);
    assert.ok(Number.isInteger(i.pos.line) && i.pos.line >= 1, `${label}: line >= 1`);
    assert.ok(i.pos.line <= lineCount, `${label}: line within the file's ${lineCount} lines`);
    assert.ok(Number.isInteger(i.pos.column) && i.pos.column >= 1, `${label}: column >= 1`);
    assert.match(i.code, /^ERR_[A-Z0-9_]+$/, `${label}: code`);
    assert.ok(i.message.trim().length > 0, `${label}: empty message`);
    assert.ok(i.hint.trim().length > 0, `${label}: empty hint (message: ${i.message})`);
    assert.ok(!hasControl(i.message), `${label}: control character in message ${JSON.stringify(i.message)}`);
    assert.ok(!hasControl(i.hint), `${label}: control character in hint ${JSON.stringify(i.hint)}`);
  }
}

function assertCodes(issues: readonly Issue[], expect: readonly string[], what: string): void {
  const codes: readonly string[] = issues.map((i) => i.code);
  for (const code of expect) {
    assert.ok(codes.includes(code), `${what}: expected ${code} among [${codes.join(", ")}]`);
  }
}

async function corpusFiles(): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(CORPUS)) {
    if (e.isFile && /^\d{2}-[a-z0-9-]+\.toml$/.test(e.name)) names.push(e.name);
  }
  return names.sort();
}

Deno.test("hostile-manifest corpus: every file is refused with its codes, each at its place", async (t) => {
  const config = await loadRuntimeConfig({ path: CONFIG_PATH });
  const names = await corpusFiles();

  await t.step("the corpus has at least 45 manifests, each with a header", async () => {
    assert.ok(names.length >= 45, `only ${names.length} corpus files`);
    for (const name of names) readHeader(name, await Deno.readTextFile(join(CORPUS, name)));
    const numbers = names.map((n) => n.slice(0, 2));
    assert.equal(new Set(numbers).size, numbers.length, "corpus numbers are unique");
  });

  for (const name of names) {
    const file = join(CORPUS, name);
    await t.step({
      name: `corpus: ${name}`,
      fn: async () => {
        const text = await Deno.readTextFile(file);
        const header = readHeader(name, text);
        const e = await refusal(() => loadPolicy(file, config, { home: HOME }), name);
        assertCodes(e.issues, header.expect, name);
        assertIssues(e, file, text.split("\n").length);
        if (header.line !== undefined) {
          const first = e.issues[0]!;
          assert.equal(first.pos.line, header.line, `${name}: first issue ${first.code} ${first.pos.key}`);
        }
      },
    });
  }
});

Deno.test("hostile manifests built at test time", async (t) => {
  const config = await loadRuntimeConfig({ path: CONFIG_PATH });
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-corpus-" }));
  try {
    await t.step(`a manifest over MAX_DOCUMENT (${MAX_DOCUMENT}) characters`, async () => {
      const file = join(dir, "huge.toml");
      const head = `[agent]\nname = "huge"\nkind = "wasm"\nmodule = "agent.wasm"\n`;
      const pad = "# padding padding padding padding padding padding padding padding padding padding\n";
      const text = head + pad.repeat(Math.ceil((MAX_DOCUMENT + 1 - head.length) / pad.length));
      assert.ok(text.length > MAX_DOCUMENT);
      await Deno.writeTextFile(file, text);
      const e = await refusal(() => loadPolicy(file, config, { home: HOME }), "huge.toml");
      assert.deepEqual(e.issues.map((i) => [i.code, i.pos.line, i.pos.column]), [["ERR_TOO_LARGE", 1, 1]]);
      assertIssues(e, file, 1);
    });

    await t.step({
      name: "a 120 KB key of 60000 dotted parts is refused within 5 s",
      fn: async () => {
        const file = join(dir, "dotted.toml");
        await Deno.writeTextFile(file, "a" + ".a".repeat(60_000) + " = 1\n");
        const started = performance.now();
        const e = await refusal(() => loadPolicy(file, config, { home: HOME }), "dotted.toml");
        assert.ok(performance.now() - started < 5000, "took longer than 5 s");
        assertCodes(e.issues, ["ERR_UNKNOWN_KEY", "ERR_MISSING_KEY"], "dotted.toml");
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("symlinked grants are resolved with the real file system (loadPolicy)", async (t) => {
  const config = await loadRuntimeConfig({ path: CONFIG_PATH });
  // realPath: the temporary folder may itself sit behind a symlink (macOS /var -> /private/var).
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-symlinks-" }));
  const agent = join(dir, "agent");
  const outside = join(dir, "outside");
  const home = join(dir, "home");

  let n = 0;
  const manifest = async (body: string, module = "real.wasm"): Promise<string> => {
    const file = join(agent, `agent-${++n}.toml`);
    await Deno.writeTextFile(
      file,
      `[agent]\nname = "links"\nkind = "wasm"\nmodule = "${module}"\n\n[capabilities.fs]\n${body}\n`,
    );
    return file;
  };
  const refused = async (file: string, code: string, line: number, options = { home: HOME }) => {
    const text = await Deno.readTextFile(file);
    const e = await refusal(() => loadPolicy(file, config, options), file);
    assertIssues(e, file, text.split("\n").length);
    assert.deepEqual(e.issues.map((i) => [i.code, i.pos.line]), [[code, line]], e.message);
    return e;
  };

  try {
    await Deno.mkdir(join(agent, "notes"), { recursive: true });
    await Deno.mkdir(outside);
    await Deno.mkdir(home);
    await Deno.symlink("/", join(agent, "root"));
    await Deno.symlink("/etc", join(agent, "etc"));
    await Deno.symlink(outside, join(agent, "out"));
    await Deno.symlink(home, join(agent, "homelink"));
    await Deno.symlink("/etc/passwd", join(agent, "agent.wasm"));
    await Deno.symlink(join(agent, "notes"), join(agent, "inside"));

    await t.step("a link to / is refused", async () => {
      const e = await refused(await manifest(`read = ["root"]`), "ERR_PATH_SYMLINK", 7);
      assert.match(e.issues[0]!.message, /"\/"/);
    });
    await t.step("a link to /etc is refused", async () => {
      const e = await refused(await manifest(`write = ["etc"]`), "ERR_PATH_SYMLINK", 7);
      assert.match(e.issues[0]!.message, /\/etc/);
    });
    await t.step("a link to a folder outside the manifest's folder is refused", async () => {
      const e = await refused(await manifest(`write = ["notes", "out"]`), "ERR_PATH_SYMLINK", 7);
      assert.equal(e.issues[0]!.pos.key, "capabilities.fs.write[1]");
      assert.ok(e.issues[0]!.message.includes(outside));
    });
    await t.step("a link to the home folder is refused", async () => {
      await refused(await manifest(`read = ["homelink"]`), "ERR_PATH_SYMLINK", 7, { home });
    });
    await t.step("an absolute grant naming a link to /etc is refused", async () => {
      await refused(await manifest(`read = ["${join(agent, "etc")}"]`), "ERR_PATH_SYMLINK", 7);
    });
    await t.step("a module that is a link out of the manifest's folder is refused", async () => {
      await refused(await manifest(`read = ["notes"]`, "agent.wasm"), "ERR_PATH_SYMLINK", 4);
    });
    await t.step("a link inside the manifest's folder is granted as its target, with a warning", async () => {
      const policy = await loadPolicy(await manifest(`read = ["inside"]`), config, { home: HOME });
      assert.deepEqual(policy.fs.read.map((g) => g.path), [join(agent, "notes")]);
      assert.ok(policy.warnings.some((w) => w.message.includes("symbolic link")));
    });
    await t.step({
      name: "a path that does not exist yet, under a link out of the folder, is refused",
      fn: async () => {
        await refused(await manifest(`write = ["out/new.txt"]`), "ERR_PATH_SYMLINK", 7);
        await refused(await manifest(`write = ["etc/cron.d/evil"]`), "ERR_PATH_SYMLINK", 7);
      },
    });
    await t.step({
      name: "a manifest reached through a symlinked folder keeps its relative grants",
      fn: async () => {
        await Deno.symlink(agent, join(dir, "alias"));
        const file = await manifest(`read = ["notes"]`);
        const aliased = join(dir, "alias", file.slice(agent.length + 1));
        const policy = await loadPolicy(aliased, config, { home: HOME });
        assert.equal(policy.fs.read.length, 1);
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ironclaw check on corpus files: exit 2, every problem on stderr, --json on stdout", async (t) => {
  const config = await loadRuntimeConfig({ path: CONFIG_PATH });
  const names = await corpusFiles();
  const picks = ["duplicate-key", "kind-typo", "path-traversal", "env-secret", "many-problems"];
  const run = (args: string[]) => runCli(["check", ...args, "--config", "tests/corpus/ironclaw.toml"]);
  for (const pick of picks) {
    const name = names.find((n) => n.endsWith(`-${pick}.toml`));
    assert.ok(name, `no corpus file *-${pick}.toml`);
    const file = join(CORPUS, name);
    const header = readHeader(name, await Deno.readTextFile(file));
    // The CLI takes HOME from the environment: these files do not depend on it.
    const expected = await refusal(() => loadPolicy(file, config, { home: HOME }), name);

    await t.step(`check ${name}`, async () => {
      const r = await run([`tests/corpus/${name}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      for (const code of header.expect) {
        assert.ok(r.stderr.includes(code), `stderr lacks ${code}:\n${r.stderr}`);
      }
      for (const i of expected.issues) {
        const at = `${file}:${i.pos.line}:${i.pos.column}: ${i.code}`;
        assert.ok(r.stderr.includes(at), `stderr lacks "${at}":\n${r.stderr}`);
      }
      if (header.line !== undefined) assert.ok(r.stderr.includes(`${file}:${header.line}:`));
    });

    await t.step(`check --json ${name}`, async () => {
      const r = await run(["--json", `tests/corpus/${name}`]);
      assert.equal(r.code, 2, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, false);
      assert.equal(out.error.code, "ERR_INVALID_DOCUMENT");
      const errors = out.error.errors as { code: string; file: string; line: number; column: number }[];
      assert.deepEqual(
        errors.map((x) => [x.code, x.file, x.line, x.column]),
        expected.issues.map((i) => [i.code, i.pos.file, i.pos.line, i.pos.column]),
      );
      for (const code of header.expect) assert.ok(errors.some((x) => x.code === code), code);
    });
  }
});
