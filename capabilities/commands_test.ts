import assert from "node:assert/strict";
import { checkEnvGrant, checkProgramGrant, matchEnv, matchProgram } from "./commands.ts";

Deno.test("checkProgramGrant() allows tools and refuses interpreters without the second opt-in", async (t) => {
  const cases: [string, boolean, string][] = [
    ["git", false, "ok"],
    ["/usr/bin/git", false, "ok"],
    ["rg", false, "ok"],
    ["bash", false, "ERR_RUN_INTERPRETER"],
    ["/bin/sh", false, "ERR_RUN_INTERPRETER"],
    ["deno", false, "ERR_RUN_INTERPRETER"],
    ["python3.11", false, "ERR_RUN_INTERPRETER"],
    ["env", false, "ERR_RUN_INTERPRETER"],
    ["bash", true, "ok"],
    ["deno", true, "ok"],
    ["git status", false, "ERR_RUN_INVALID"],
    ["git,rm", false, "ERR_RUN_INVALID"],
    ["/usr/bin/../bin/git", false, "ERR_RUN_INVALID"],
  ];
  for (const [program, interpreters, expected] of cases) {
    await t.step(`${program} (allow_interpreters = ${interpreters})`, () => {
      const r = checkProgramGrant(program, interpreters);
      if (expected === "ok") assert.deepEqual(r, { ok: true, value: program });
      else assert.equal(!r.ok && r.code, expected);
    });
  }
});

Deno.test("matchProgram() matches by name or resolved path only", () => {
  const granted = [{ name: "git", path: "/usr/bin/git" }, { name: "tool", path: null }];
  assert.equal(matchProgram(granted, "git"), true);
  assert.equal(matchProgram(granted, "/usr/bin/git"), true);
  assert.equal(matchProgram(granted, "tool"), true);
  assert.equal(matchProgram(granted, "/usr/local/bin/git"), false);
  assert.equal(matchProgram(granted, "git2"), false);
  assert.equal(matchProgram([], "git"), false);
});

Deno.test("matchEnv() and checkEnvGrant() handle names, prefixes and secrets", async (t) => {
  await t.step("absent", () => assert.equal(matchEnv([], "TZ"), false));
  await t.step("allowed", () => assert.equal(matchEnv(["TZ"], "TZ"), true));
  await t.step("denied", () => assert.equal(matchEnv(["TZ"], "TZ2"), false));
  await t.step("prefix wildcard", () => {
    assert.equal(matchEnv(["APP_*"], "APP_MODE"), true);
    assert.equal(matchEnv(["APP_*"], "APPLE"), false);
  });
  await t.step("bare star refused", () => assert.equal(!checkEnvGrant("*", new Set()).ok, true));
  await t.step("a brokered key is refused, also through a prefix", () => {
    const reserved = new Set(["OPENAI_API_KEY"]);
    for (const p of ["OPENAI_API_KEY", "OPENAI_*", "O*"]) {
      const r = checkEnvGrant(p, reserved);
      assert.equal(!r.ok && r.code, "ERR_ENV_SECRET", p);
    }
  });
  await t.step("prefix grant warns", () => assert.ok(checkEnvGrant("APP_*", new Set()).ok));
});
