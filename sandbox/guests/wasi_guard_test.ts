/**
 * The WASI guard around a real node:wasi instance (a module that only exports
 * its memory), called directly: hard links with and without
 * `allowHardlinks`, folders opened from a preopen, renumbered fds, and
 * read-only kept by fd.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import process from "node:process";
import { WASI } from "node:wasi";
import { guardWasi } from "./wasi_guard.ts";

// (module (memory (export "memory") 1) (func (export "_initialize")))
const MODULE = new Uint8Array([
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  4,
  1,
  96,
  0,
  0,
  3,
  2,
  1,
  0,
  5,
  3,
  1,
  0,
  1,
  7,
  24,
  2,
  6,
  109,
  101,
  109,
  111,
  114,
  121,
  2,
  0,
  11,
  95,
  105,
  110,
  105,
  116,
  105,
  97,
  108,
  105,
  122,
  101,
  0,
  0,
  10,
  4,
  1,
  2,
  0,
  11,
]);
const PATH_AT = 1024;
const FD_AT = 2048;
const O_CREAT = 1;
const O_DIRECTORY = 2;
const READ = 1n << 1n;
const WRITE = 1n << 6n;

/** A guarded WASI over `folders` (fds 3, 4, ...), and the refusals it recorded. */
function guarded(folders: string[], options: { readOnly?: number[]; allowHardlinks?: boolean } = {}) {
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  const preopens = Object.fromEntries(folders.map((f, n) => [`/p${n}`, f]));
  const wasi = new WASI({ version: "preview1", preopens, returnOnExit: true });
  process.emitWarning = emitWarning;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE), {});
  wasi.initialize(instance);
  const memory = instance.exports.memory as WebAssembly.Memory;
  const refused: string[] = [];
  const imports = guardWasi(wasi.wasiImport as Record<string, (...a: unknown[]) => number>, {
    readOnlyFds: options.readOnly ?? [],
    folders: new Map(folders.map((f, n) => [3 + n, f])),
    allowHardlinks: options.allowHardlinks ?? false,
    memory: () => memory,
    onRefused: (_call, rule) => refused.push(rule),
  });
  /** path_open relative to `dirfd`: [errno, new fd]. */
  const open = (dirfd: number, path: string, oflags = 0, rights = READ): [number, number] => {
    const bytes = new TextEncoder().encode(path);
    new Uint8Array(memory.buffer).set(bytes, PATH_AT);
    const rc = imports.path_open!(dirfd, 1, PATH_AT, bytes.length, oflags, rights, rights, 0, FD_AT);
    return [rc, new DataView(memory.buffer).getUint32(FD_AT, true)];
  };
  return { imports, open, refused };
}

async function tempFolder(): Promise<string> {
  return await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-guard-" }));
}

Deno.test("guardWasi() refuses files with hard links unless allowHardlinks", async (t) => {
  const dir = await tempFolder();
  try {
    Deno.mkdirSync(join(dir, "grant"));
    Deno.writeTextFileSync(join(dir, "outside.txt"), "outside\n");
    Deno.linkSync(join(dir, "outside.txt"), join(dir, "grant/hard"));
    Deno.writeTextFileSync(join(dir, "grant/single"), "single\n");
    await t.step("refused by default, for reading and for writing", () => {
      const g = guarded([join(dir, "grant")]);
      assert.equal(g.open(3, "hard")[0], 76);
      assert.equal(g.open(3, "hard", 0, WRITE)[0], 76);
      assert.equal(g.open(3, "single")[0], 0);
      assert.deepEqual(g.refused, ["fs.no-hardlinks", "fs.no-hardlinks"]);
    });
    await t.step("opened with allowHardlinks", () => {
      const g = guarded([join(dir, "grant")], { allowHardlinks: true });
      assert.equal(g.open(3, "hard")[0], 0);
      assert.deepEqual(g.refused, []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("guardWasi() checks paths against folders opened from a preopen", async () => {
  const dir = await tempFolder();
  try {
    Deno.mkdirSync(join(dir, "grant/sub"), { recursive: true });
    Deno.writeTextFileSync(join(dir, "grant/top.txt"), "top\n");
    Deno.writeTextFileSync(join(dir, "grant/sub/in.txt"), "in\n");
    const g = guarded([join(dir, "grant")]);
    const [rc, sub] = g.open(3, "sub", O_DIRECTORY);
    assert.equal(rc, 0);
    assert.equal(g.open(sub, "in.txt")[0], 0);
    // A directory fd is a capability for its own folder: `..` leaves it, existing or not.
    assert.equal(g.open(sub, "../top.txt")[0], 76);
    assert.equal(g.open(sub, "../nothing.txt")[0], 76);
    Deno.symlinkSync(join(dir, "grant/top.txt"), join(dir, "grant/sub/up"));
    assert.equal(g.open(sub, "up")[0], 76);
    // Renumbered, the folder goes with the fd.
    assert.equal(g.imports.fd_renumber!(sub, 20), 0);
    assert.equal(g.open(20, "in.txt")[0], 0);
    assert.equal(g.open(sub, "in.txt")[0], 76);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("guardWasi() keeps read-only by fd, and makes new files itself", async () => {
  const dir = await tempFolder();
  try {
    Deno.mkdirSync(join(dir, "a/data"), { recursive: true });
    Deno.mkdirSync(join(dir, "b/data"), { recursive: true });
    const g = guarded([join(dir, "b/data"), join(dir, "a/data")], { readOnly: [4] });
    assert.equal(g.open(4, "new.txt", O_CREAT, WRITE)[0], 76);
    assert.deepEqual([...Deno.readDirSync(join(dir, "a/data"))], []);
    const [rc, fd] = g.open(3, "new.txt", O_CREAT, WRITE);
    assert.equal(rc, 0);
    assert.ok(Deno.statSync(join(dir, "b/data/new.txt")).isFile);
    assert.equal(g.imports.fd_close!(fd), 0);
    // A dangling link made by someone else is not created through.
    Deno.symlinkSync(join(dir, "made-outside.txt"), join(dir, "b/data/dangling"));
    assert.equal(g.open(3, "dangling", O_CREAT, WRITE)[0], 76);
    assert.throws(() => Deno.lstatSync(join(dir, "made-outside.txt")), Deno.errors.NotFound);
    assert.deepEqual(g.refused, ["fs.read-only", "fs.outside"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
