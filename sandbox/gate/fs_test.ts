import assert from "node:assert/strict";
import { posix } from "node:path";
import { type FsIo, fsOps } from "./fs.ts";
import { contextOf, outcomeOf, policyOf } from "./_testing.ts";

const GRANTS = `[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n`;

/** A file tree in memory: files (text), folders (null), and links (a path and where it leads). */
function fakeFs(tree: Record<string, string | null>, links: Record<string, string> = {}) {
  const entries = new Map<string, string | null>(Object.entries(tree));
  const written: { path: string; text: string; append: boolean }[] = [];
  const real = (p: string): string => {
    for (const [from, to] of Object.entries(links)) {
      if (p === from || p.startsWith(from + "/")) return real(to + p.slice(from.length));
    }
    return p;
  };
  const find = (p: string) => {
    const r = real(p);
    if (!entries.has(r)) throw new Deno.errors.NotFound(`no ${p}`);
    return { path: r, value: entries.get(r)! };
  };
  const io: FsIo = {
    realPathSync: (p) => find(p).path,
    statSync: (p) => {
      const { value } = find(p);
      return { isDirectory: value === null, size: value?.length ?? 0 };
    },
    readFileSync: (p) => new TextEncoder().encode(find(p).value ?? ""),
    mkdirSync: (p) => void entries.set(p, null),
    writeFileSync: (p, data, { append }) => {
      written.push({ path: p, text: new TextDecoder().decode(data), append });
      entries.set(p, new TextDecoder().decode(data));
    },
    readDirSync: (p) =>
      [...entries].filter(([k]) => posix.dirname(k) === find(p).path && k !== "/").map(([k, v]) => ({
        name: posix.basename(k),
        isFile: typeof v === "string",
        isDirectory: v === null,
        isSymlink: false,
      })),
    lstatSync: (p) => ({ size: find(p).value?.length ?? 0 }),
  };
  return { io, written };
}

const TREE = {
  "/": null,
  "/srv": null,
  "/srv/a": null,
  "/srv/a/notes": null,
  "/srv/a/notes/b.txt": "bee",
  "/srv/a/notes/a.txt": "a",
  "/srv/a/out": null,
  "/srv/a/secret.txt": "secret",
};

Deno.test("fsOps() fs.read reads inside a read or write grant, and nothing else", async (t) => {
  const { io } = fakeFs({ ...TREE, "/srv/a/out/w.txt": "w" }, { "/srv/a/notes/leak": "/srv/a/secret.txt" });
  const ops = fsOps(contextOf(policyOf(GRANTS)), io);
  await t.step("allowed by the read grant", async () => {
    assert.deepEqual(await outcomeOf(ops["fs.read"], { path: "notes/a.txt" }), {
      ok: true,
      value: { data: "a" },
      rule: "fs.read:/srv/a/notes",
    });
  });
  await t.step("allowed by a write grant (write implies read), as base64", async () => {
    const r = await outcomeOf(ops["fs.read"], { path: "out/w.txt", encoding: "base64" });
    assert.deepEqual(r, { ok: true, value: { data: btoa("w") }, rule: "fs.write:/srv/a/out" });
  });
  await t.step("denied outside the grants", async () => {
    const r = await outcomeOf(ops["fs.read"], { path: "secret.txt" });
    assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
    assert.equal(r.rule, "fs.read");
  });
  await t.step("denied through a link that leads out", async () => {
    const r = await outcomeOf(ops["fs.read"], { path: "notes/leak" });
    assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
    assert.equal(r.rule, "symlink");
  });
  await t.step("malformed: no path, NUL, a folder, an unknown encoding", async () => {
    for (
      const args of [{}, { path: "" }, { path: "notes/a\0" }, { path: "notes" }, {
        path: "notes/a.txt",
        encoding: "hex",
      }]
    ) {
      const r = await outcomeOf(ops["fs.read"], args);
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", JSON.stringify(args));
    }
  });
  await t.step("a missing file is not found", async () => {
    const r = await outcomeOf(ops["fs.read"], { path: "notes/none.txt" });
    assert.equal(!r.ok && r.code, "ERR_NOT_FOUND");
  });
  await t.step("a refusal of the process flags is a denial", async () => {
    const refusing = fsOps(contextOf(policyOf(GRANTS)), {
      ...io,
      readFileSync: () => {
        throw new Deno.errors.NotCapable("no");
      },
    });
    const r = await outcomeOf(refusing["fs.read"], { path: "notes/a.txt" });
    assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
    assert.equal(r.rule, "deno-flags");
  });
});

Deno.test("fsOps() fs.write writes inside a write grant only", async (t) => {
  const { io, written } = fakeFs(TREE);
  const ops = fsOps(contextOf(policyOf(GRANTS)), io);
  await t.step("allowed, appending", async () => {
    const r = await outcomeOf(ops["fs.write"], { path: "out/deep/x.txt", data: "hello", append: true });
    assert.deepEqual(r, { ok: true, value: { bytes: 5 }, rule: "fs.write:/srv/a/out" });
    assert.deepEqual(written, [{ path: "/srv/a/out/deep/x.txt", text: "hello", append: true }]);
  });
  await t.step("denied in a read-only grant", async () => {
    const r = await outcomeOf(ops["fs.write"], { path: "notes/a.txt", data: "x" });
    assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
    assert.equal(r.rule, "fs.write");
    assert.equal(written.length, 1);
  });
  await t.step("malformed data", async () => {
    for (const args of [{ path: "out/x" }, { path: "out/x", data: "%%", encoding: "base64" }]) {
      const r = await outcomeOf(ops["fs.write"], args);
      assert.equal(!r.ok && r.code, "ERR_INVALID_ARGS", JSON.stringify(args));
    }
  });
});

Deno.test("fsOps() fs.list lists a granted folder, sorted", async () => {
  const { io } = fakeFs(TREE);
  const ops = fsOps(contextOf(policyOf(GRANTS)), io);
  assert.deepEqual(await outcomeOf(ops["fs.list"], { path: "notes" }), {
    ok: true,
    value: { entries: [{ name: "a.txt", kind: "file", size: 1 }, { name: "b.txt", kind: "file", size: 3 }] },
    rule: "fs.read:/srv/a/notes",
  });
  const r = await outcomeOf(ops["fs.list"], { path: "." });
  assert.equal(!r.ok && r.code, "ERR_CAPABILITY_DENIED");
});

Deno.test("fsOps() without checks executes anything and says so", async () => {
  const { io } = fakeFs(TREE);
  const ops = fsOps(contextOf(policyOf(GRANTS), { checks: false }), io);
  assert.deepEqual(await outcomeOf(ops["fs.read"], { path: "secret.txt" }), {
    ok: true,
    value: { data: "secret" },
    rule: "unchecked",
  });
});
