import assert from "node:assert/strict";
import { checkPathGrant, isWithin } from "./paths.ts";

const base = "/srv/agents/notes";
const home = "/home/ada";
const links: Record<string, string> = {
  "/srv/agents/notes/to-root": "/",
  "/srv/agents/notes/to-etc": "/etc",
  "/srv/agents/notes/to-other": "/srv/other/data",
  "/srv/agents/notes/inside": "/srv/agents/notes/real",
  "/srv/agents/notes/to-home": "/home/ada",
};
const realPath = (p: string) => links[p] ?? p;

Deno.test("checkPathGrant() resolves, normalises and refuses", async (t) => {
  const cases: [string, string, string][] = [
    // [case, written, expected path or error code]
    ["relative folder", "notes", "/srv/agents/notes/notes"],
    ["dot", ".", "/srv/agents/notes"],
    ["trailing slash", "out/", "/srv/agents/notes/out"],
    ["inner dot-dot that stays inside", "a/../b", "/srv/agents/notes/b"],
    ["absolute folder", "/srv/shared/data", "/srv/shared/data"],
    ["folder inside home", "/home/ada/projects", "/home/ada/projects"],
    ["symlink inside the folder", "inside", "/srv/agents/notes/real"],
    ["empty", "", "ERR_PATH_EMPTY"],
    ["NUL byte", "notes\0/x", "ERR_NUL_BYTE"],
    ["tilde", "~", "ERR_PATH_TILDE"],
    ["tilde path", "~/notes", "ERR_PATH_TILDE"],
    ["dot-dot escape", "..", "ERR_PATH_ESCAPE"],
    ["escape after normalising", "notes/../../x", "ERR_PATH_ESCAPE"],
    ["root", "/", "ERR_PATH_ROOT"],
    ["root by dot-dot", "/srv/../..", "ERR_PATH_ROOT"],
    ["top-level folder", "/etc", "ERR_PATH_SYSTEM"],
    ["tmp as a whole", "/tmp/", "ERR_PATH_SYSTEM"],
    ["kernel tree", "/proc/self/environ", "ERR_PATH_SYSTEM"],
    ["devices", "/dev/sda", "ERR_PATH_SYSTEM"],
    ["home itself", "/home/ada", "ERR_PATH_HOME"],
    ["home with slash", "/home/ada/", "ERR_PATH_HOME"],
    ["symlink to root", "to-root", "ERR_PATH_SYMLINK"],
    ["symlink to a system folder", "to-etc", "ERR_PATH_SYMLINK"],
    ["symlink out of the folder", "to-other", "ERR_PATH_SYMLINK"],
    ["symlink to home", "to-home", "ERR_PATH_SYMLINK"],
  ];
  for (const [name, written, expected] of cases) {
    await t.step(name, () => {
      const r = checkPathGrant(written, { baseDir: base, home, realPath });
      if (expected.startsWith("ERR_")) {
        assert.equal(r.ok, false, `${written} should be refused`);
        if (!r.ok) {
          assert.equal(r.code, expected);
          assert.ok(r.hint.length > 0);
        }
      } else {
        assert.deepEqual(r.ok && r.value, expected);
      }
    });
  }
});

Deno.test("checkPathGrant() warns when a granted path is a symlink", () => {
  const r = checkPathGrant("inside", { baseDir: base, realPath });
  assert.ok(r.ok && r.warning?.includes("symbolic link"));
});

Deno.test("isWithin() matches on path segments", () => {
  assert.equal(isWithin("/a/b", "/a/b"), true);
  assert.equal(isWithin("/a/b", "/a/b/c/d"), true);
  assert.equal(isWithin("/a/b", "/a/bc"), false);
  assert.equal(isWithin("/a/b", "/a"), false);
  assert.equal(isWithin("/", "/x"), true);
});
