import assert from "node:assert/strict";
import { join } from "node:path";
import { DENO_FS, type FsIo, fsOps } from "./fs.ts";
import { contextOf, type Outcome, outcomeOf, policyOf } from "./_testing.ts";

const GRANTS = `[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n`;

/**
 * A real agent folder in a temporary folder: notes/ (read), out/ (write), and outside the grants secret.txt
 * and elsewhere/ (a folder with its own inner.txt). Removed when disposed.
 */
async function tree(extra = "", options: { checks?: boolean; io?: (dir: string) => FsIo } = {}) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-fs-test-" }));
  const files: Record<string, string> = {
    "notes/a.txt": "a",
    "notes/b.txt": "bee",
    "notes/sub/inner.txt": "inside",
    "out/w.txt": "w",
    "out/sub/keep.txt": "keep",
    "secret.txt": "the secret",
    "elsewhere/inner.txt": "the secret",
    "elsewhere/only-outside.txt": "x",
  };
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), text);
  }
  const ctx = contextOf(policyOf(GRANTS + extra, { dir }), { checks: options.checks ?? true });
  const ops = fsOps(ctx, options.io?.(dir) ?? DENO_FS);
  const at = (p: string) => join(dir, p);
  return { dir, ops, at, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

function refused(r: Outcome, code: string, rule: string) {
  assert.ok(!r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  assert.equal(r.code, code, r.message);
  assert.equal(r.rule, rule, r.message);
  assert.ok(r.hint.length > 0);
}

/** DENO_FS, but `swap` runs once, just before the first call of `when` on a path ending in `suffix`. */
function swapBefore(when: keyof FsIo, suffix: string, swap: () => void): FsIo {
  let done = false;
  const fire = (p: string) => {
    if (!done && p.endsWith(suffix)) {
      done = true;
      swap();
    }
  };
  return {
    ...DENO_FS,
    [when]: (p: string, ...rest: unknown[]) => {
      fire(p);
      return (DENO_FS[when] as (...a: unknown[]) => unknown)(p, ...rest);
    },
  };
}

/** Replaces `path` (a file or folder) by a symbolic link to `to`, keeping the original beside it. */
function linkInPlace(path: string, to: string) {
  Deno.renameSync(path, `${path}.was`);
  Deno.symlinkSync(to, path);
}

Deno.test("fsOps() fs.read reads inside a read or write grant, and nothing else", async (t) => {
  await using d = await tree();
  Deno.symlinkSync(d.at("secret.txt"), d.at("notes/leak"));
  await t.step("allowed by the read grant", async () => {
    assert.deepEqual(await outcomeOf(d.ops["fs.read"], { path: "notes/a.txt" }), {
      ok: true,
      value: { data: "a" },
      rule: `fs.read:${d.at("notes")}`,
    });
  });
  await t.step("allowed by a write grant (write implies read), as base64", async () => {
    const r = await outcomeOf(d.ops["fs.read"], { path: "out/w.txt", encoding: "base64" });
    assert.deepEqual(r, { ok: true, value: { data: btoa("w") }, rule: `fs.write:${d.at("out")}` });
  });
  await t.step("denied outside the grants", async () => {
    refused(await outcomeOf(d.ops["fs.read"], { path: "secret.txt" }), "ERR_CAPABILITY_DENIED", "fs.read");
  });
  await t.step("denied through a link that leads out", async () => {
    refused(await outcomeOf(d.ops["fs.read"], { path: "notes/leak" }), "ERR_CAPABILITY_DENIED", "symlink");
  });
  await t.step("malformed: no path, NUL, a folder, an unknown encoding", async () => {
    for (
      const args of [{}, { path: "" }, { path: "notes/a\0" }, { path: "notes" }, {
        path: "notes/a.txt",
        encoding: "hex",
      }]
    ) {
      const r = await outcomeOf(d.ops["fs.read"], args);
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", JSON.stringify(args));
    }
  });
  await t.step("a missing file is not found", async () => {
    const r = await outcomeOf(d.ops["fs.read"], { path: "notes/none.txt" });
    assert.equal(!r.ok && r.code, "ERR_NOT_FOUND");
  });
});

Deno.test("fsOps() a refusal of the process flags is a denial", async () => {
  const notCapable = () => {
    throw new Deno.errors.NotCapable("no");
  };
  await using d = await tree("", { io: () => ({ ...DENO_FS, openSync: notCapable }) });
  refused(await outcomeOf(d.ops["fs.read"], { path: "notes/a.txt" }), "ERR_CAPABILITY_DENIED", "deno-flags");
});

Deno.test("fsOps() fs.write writes inside a write grant only, creating new files and folders", async (t) => {
  await using d = await tree();
  await t.step("a new file in new folders", async () => {
    const r = await outcomeOf(d.ops["fs.write"], { path: "out/deep/er/x.txt", data: "hello" });
    assert.deepEqual(r, { ok: true, value: { bytes: 5 }, rule: `fs.write:${d.at("out")}` });
    assert.equal(await Deno.readTextFile(d.at("out/deep/er/x.txt")), "hello");
  });
  await t.step("overwriting keeps no temporary file and the file's mode", async () => {
    await Deno.chmod(d.at("out/w.txt"), 0o640);
    await outcomeOf(d.ops["fs.write"], { path: "out/w.txt", data: "new" });
    assert.equal(await Deno.readTextFile(d.at("out/w.txt")), "new");
    assert.equal((await Deno.stat(d.at("out/w.txt"))).mode! & 0o777, 0o640);
    assert.deepEqual([...Deno.readDirSync(d.at("out"))].map((e) => e.name).sort(), ["deep", "sub", "w.txt"]);
  });
  await t.step("appending, to an existing file and to a new one", async () => {
    await outcomeOf(d.ops["fs.write"], { path: "out/w.txt", data: "+1", append: true });
    await outcomeOf(d.ops["fs.write"], { path: "out/fresh.txt", data: "first", append: true });
    assert.equal(await Deno.readTextFile(d.at("out/w.txt")), "new+1");
    assert.equal(await Deno.readTextFile(d.at("out/fresh.txt")), "first");
  });
  await t.step("denied in a read-only grant", async () => {
    refused(
      await outcomeOf(d.ops["fs.write"], { path: "notes/a.txt", data: "x" }),
      "ERR_CAPABILITY_DENIED",
      "fs.write",
    );
    assert.equal(await Deno.readTextFile(d.at("notes/a.txt")), "a");
  });
  await t.step("a folder is not a file", async () => {
    const r = await outcomeOf(d.ops["fs.write"], { path: "out/sub", data: "x" });
    assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS");
  });
  await t.step("malformed data", async () => {
    for (const args of [{ path: "out/x" }, { path: "out/x", data: "%%", encoding: "base64" }]) {
      const r = await outcomeOf(d.ops["fs.write"], args);
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", JSON.stringify(args));
    }
  });
});

Deno.test("fsOps() fs.list lists a granted folder, sorted, and refuses a file", async () => {
  await using d = await tree();
  assert.deepEqual(await outcomeOf(d.ops["fs.list"], { path: "notes" }), {
    ok: true,
    value: {
      entries: [
        { name: "a.txt", kind: "file", size: 1 },
        { name: "b.txt", kind: "file", size: 3 },
        { name: "sub", kind: "dir", size: 0 },
      ],
      total: 3,
      truncated: false,
    },
    rule: `fs.read:${d.at("notes")}`,
  });
  refused(await outcomeOf(d.ops["fs.list"], { path: "." }), "ERR_CAPABILITY_DENIED", "fs.read");
  const r = await outcomeOf(d.ops["fs.list"], { path: "notes/a.txt" });
  assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS");
});

Deno.test("fsOps() fs.list of a folder past 10,000 entries gives the first 10,000 by name, the total, and says so", async () => {
  await using d = await tree();
  const names = Array.from({ length: 10_050 }, (_, i) => `f${String(10_049 - i).padStart(5, "0")}`);
  for (const name of names) Deno.writeTextFileSync(d.at(`notes/${name}`), "");
  const r = await outcomeOf(d.ops["fs.list"], { path: "notes" });
  assert.ok(r.ok);
  const value = r.value as { entries: { name: string }[]; total: number; truncated: boolean };
  const expected = [...names, "a.txt", "b.txt", "sub"].sort().slice(0, 10_000);
  assert.equal(value.total, 10_053);
  assert.equal(value.truncated, true);
  assert.deepEqual(value.entries.map((e) => e.name), expected, "the first 10,000 by name, in order");
});

Deno.test("fsOps() refuses files with more than one hard link, unless hardlinks = true", async (t) => {
  await t.step("refused for read, write and append; the outside file unchanged", async () => {
    await using d = await tree();
    Deno.linkSync(d.at("secret.txt"), d.at("notes/hl.txt"));
    Deno.linkSync(d.at("secret.txt"), d.at("out/hl.txt"));
    refused(
      await outcomeOf(d.ops["fs.read"], { path: "notes/hl.txt" }),
      "ERR_CAPABILITY_DENIED",
      "fs.hardlink",
    );
    refused(
      await outcomeOf(d.ops["fs.read"], { path: "out/hl.txt" }),
      "ERR_CAPABILITY_DENIED",
      "fs.hardlink",
    );
    for (const append of [false, true]) {
      const r = await outcomeOf(d.ops["fs.write"], { path: "out/hl.txt", data: "pwned", append });
      refused(r, "ERR_CAPABILITY_DENIED", "fs.hardlink");
    }
    assert.equal(await Deno.readTextFile(d.at("secret.txt")), "the secret");
  });
  await t.step("allowed with hardlinks = true", async () => {
    await using d = await tree("hardlinks = true\n");
    Deno.linkSync(d.at("secret.txt"), d.at("notes/hl.txt"));
    Deno.linkSync(d.at("secret.txt"), d.at("out/hl.txt"));
    assert.deepEqual(await outcomeOf(d.ops["fs.read"], { path: "notes/hl.txt" }), {
      ok: true,
      value: { data: "the secret" },
      rule: `fs.read:${d.at("notes")}`,
    });
    // Appending writes through the link; overwriting renames a new file over it, breaking the link.
    assert.ok((await outcomeOf(d.ops["fs.write"], { path: "out/hl.txt", data: "+", append: true })).ok);
    assert.equal(await Deno.readTextFile(d.at("secret.txt")), "the secret+");
    assert.ok((await outcomeOf(d.ops["fs.write"], { path: "out/hl.txt", data: "new" })).ok);
    assert.equal(await Deno.readTextFile(d.at("out/hl.txt")), "new");
  });
});

Deno.test("fsOps() proves what it opened: a link swapped in after the check is refused, never followed", async (t) => {
  await t.step("read: the file becomes a link to a secret", async () => {
    await using d = await tree("", {
      io: (dir) =>
        swapBefore(
          "openSync",
          "notes/a.txt",
          () => linkInPlace(join(dir, "notes/a.txt"), join(dir, "secret.txt")),
        ),
    });
    refused(await outcomeOf(d.ops["fs.read"], { path: "notes/a.txt" }), "ERR_CAPABILITY_DENIED", "fs.race");
  });
  await t.step("read: a folder on the path becomes a link to an outside folder", async () => {
    await using d = await tree("", {
      io: (dir) =>
        swapBefore(
          "openSync",
          "notes/sub/inner.txt",
          () => linkInPlace(join(dir, "notes/sub"), join(dir, "elsewhere")),
        ),
    });
    refused(
      await outcomeOf(d.ops["fs.read"], { path: "notes/sub/inner.txt" }),
      "ERR_CAPABILITY_DENIED",
      "fs.race",
    );
  });
  await t.step("list: the folder becomes a link to an outside folder", async () => {
    await using d = await tree("", {
      io: (dir) =>
        swapBefore(
          "readDirSync",
          "notes/sub",
          () => linkInPlace(join(dir, "notes/sub"), join(dir, "elsewhere")),
        ),
    });
    refused(await outcomeOf(d.ops["fs.list"], { path: "notes/sub" }), "ERR_CAPABILITY_DENIED", "fs.race");
  });
  await t.step("write: the folder becomes a link to an outside folder; nothing is left there", async () => {
    await using d = await tree("", {
      io: (dir) =>
        swapBefore("openSync", ".tmp", () => linkInPlace(join(dir, "out/sub"), join(dir, "elsewhere"))),
    });
    const r = await outcomeOf(d.ops["fs.write"], { path: "out/sub/new.txt", data: "pwned" });
    refused(r, "ERR_CAPABILITY_DENIED", "fs.race");
    assert.deepEqual([...Deno.readDirSync(d.at("elsewhere"))].map((e) => e.name).sort(), [
      "inner.txt",
      "only-outside.txt",
    ]);
  });
  await t.step(
    "write: the target becomes a link to a secret; the link is replaced, the secret unchanged",
    async () => {
      await using d = await tree("", {
        io: (dir) =>
          swapBefore(
            "renameSync",
            ".tmp",
            () => linkInPlace(join(dir, "out/w.txt"), join(dir, "secret.txt")),
          ),
      });
      assert.ok((await outcomeOf(d.ops["fs.write"], { path: "out/w.txt", data: "mine" })).ok);
      assert.equal(await Deno.readTextFile(d.at("secret.txt")), "the secret");
      assert.ok((await Deno.lstat(d.at("out/w.txt"))).isFile);
      assert.equal(await Deno.readTextFile(d.at("out/w.txt")), "mine");
    },
  );
  await t.step("append: the target becomes a link to a secret", async () => {
    await using d = await tree("", {
      io: (dir) =>
        swapBefore(
          "openSync",
          "out/w.txt",
          () => linkInPlace(join(dir, "out/w.txt"), join(dir, "secret.txt")),
        ),
    });
    const r = await outcomeOf(d.ops["fs.write"], { path: "out/w.txt", data: "pwned", append: true });
    refused(r, "ERR_CAPABILITY_DENIED", "fs.race");
    assert.equal(await Deno.readTextFile(d.at("secret.txt")), "the secret");
  });
});

/** `io` with the link to `/proc/self/cwd` made in `dir/runtime`, as the supervisor makes it beside the sandbox's code. */
function withLink(dir: string, io: FsIo = DENO_FS): FsIo {
  const link = join(dir, "runtime", "working-folder");
  Deno.mkdirSync(join(dir, "runtime"), { recursive: true });
  Deno.symlinkSync("/proc/self/cwd", link);
  return { ...io, workingFolderLink: () => link };
}

Deno.test("fsOps() with the link to the working folder holds the folder: a swap before or during the op is refused, and nothing outside is shown", async (t) => {
  const toElsewhere = (dir: string, what: string) => () =>
    linkInPlace(join(dir, what), join(dir, "elsewhere"));
  await t.step("list: the folder becomes a link before it is held", async () => {
    await using d = await tree("", {
      io: (dir) => withLink(dir, swapBefore("chdirSync", "notes/sub", toElsewhere(dir, "notes/sub"))),
    });
    refused(await outcomeOf(d.ops["fs.list"], { path: "notes/sub" }), "ERR_CAPABILITY_DENIED", "fs.race");
  });
  await t.step(
    "list: the held folder is moved away and a link put in its place: refused, nothing shown",
    async () => {
      await using d = await tree("", {
        io: (dir) =>
          withLink(dir, swapBefore("readDirSync", "working-folder", toElsewhere(dir, "notes/sub"))),
      });
      refused(await outcomeOf(d.ops["fs.list"], { path: "notes/sub" }), "ERR_CAPABILITY_DENIED", "fs.race");
      assert.ok(
        Deno.lstatSync(d.at("notes/sub")).isSymlink,
        "the swap was made (the listing went through the link)",
      );
    },
  );
  await t.step(
    "list: another thread changes the working folder meanwhile: refused, nothing shown",
    async () => {
      await using d = await tree("", {
        io: (dir) =>
          withLink(
            dir,
            swapBefore("readDirSync", "working-folder", () => Deno.chdir(join(dir, "elsewhere"))),
          ),
      });
      refused(await outcomeOf(d.ops["fs.list"], { path: "notes/sub" }), "ERR_CAPABILITY_DENIED", "fs.race");
    },
  );
  await t.step(
    "read: a folder on the path becomes a link after it is held: refused, the secret not read",
    async () => {
      await using d = await tree("", {
        io: (dir) => withLink(dir, swapBefore("openSync", "inner.txt", toElsewhere(dir, "notes/sub"))),
      });
      const r = await outcomeOf(d.ops["fs.read"], { path: "notes/sub/inner.txt" });
      refused(r, "ERR_CAPABILITY_DENIED", "fs.race");
      assert.ok(Deno.lstatSync(d.at("notes/sub")).isSymlink, "the swap was made");
    },
  );
  await t.step("read: the file becomes a link to a secret before it is opened", async () => {
    await using d = await tree("", {
      io: (dir) =>
        withLink(
          dir,
          swapBefore(
            "openSync",
            "a.txt",
            () => linkInPlace(join(dir, "notes/a.txt"), join(dir, "secret.txt")),
          ),
        ),
    });
    refused(await outcomeOf(d.ops["fs.read"], { path: "notes/a.txt" }), "ERR_CAPABILITY_DENIED", "fs.race");
  });
  await t.step("list of a file, and of a missing folder: typed errors, as without the link", async () => {
    await using d = await tree("", { io: (dir) => withLink(dir) });
    const file = await outcomeOf(d.ops["fs.list"], { path: "notes/a.txt" });
    assert.equal(!file.ok && file.code, "ERR_INVALID_ARGS");
    const missing = await outcomeOf(d.ops["fs.list"], { path: "notes/none" });
    assert.equal(!missing.ok && missing.code, "ERR_NOT_FOUND");
  });
  await t.step("the working folder is put back after each op, refused or not", async () => {
    await using d = await tree("", { io: (dir) => withLink(dir) });
    const before = Deno.cwd();
    assert.ok((await outcomeOf(d.ops["fs.list"], { path: "notes" })).ok);
    assert.ok((await outcomeOf(d.ops["fs.read"], { path: "notes/b.txt" })).ok);
    await outcomeOf(d.ops["fs.read"], { path: "notes/missing.txt" });
    await outcomeOf(d.ops["fs.list"], { path: "notes/a.txt" });
    assert.equal(Deno.cwd(), before);
  });
});

Deno.test("fsOps() without checks executes anything and says so", async () => {
  await using d = await tree("", { checks: false });
  assert.deepEqual(await outcomeOf(d.ops["fs.read"], { path: "secret.txt" }), {
    ok: true,
    value: { data: "the secret" },
    rule: "unchecked",
  });
});
