import assert from "node:assert/strict";
import { GateError, mapIoError } from "./errors.ts";

/** Every error class of Deno, and a plain Error with an OS code, as an op could throw them. */
function thrown(): [string, unknown][] {
  const classes = Object.entries(Deno.errors) as [string, new (message: string) => Error][];
  const plain = Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
  return [
    ...classes.map(([name, C]): [string, unknown] => [name, new C(`raw ${name} text (os error 1)`)]),
    ["a plain Error with an OS code", plain],
    ["a plain Error", new Error("something odd (os error 99)")],
    ["not an Error", "a string"],
  ];
}

Deno.test("mapIoError() gives every error a hint, and never the system's text alone", async (t) => {
  for (const [name, e] of thrown()) {
    await t.step(name, () => {
      const g = mapIoError(e, "notes/a.txt");
      assert.ok(g instanceof GateError);
      assert.ok(g.hint.length > 0, `${g.code} without a hint`);
      const os = e instanceof Error ? e.message : String(e);
      assert.notEqual(g.message, os);
      assert.match(g.message, /notes\/a\.txt/);
      if (g.code === "ERR_IO") assert.match(g.message, /\(the system said: /);
    });
  }
});

Deno.test("mapIoError() names what happened in IronClaw's words", () => {
  const cases: [unknown, RegExp, string][] = [
    [new Deno.errors.AlreadyExists("File exists (os error 17)"), /already exists/, "ERR_IO"],
    [new Deno.errors.IsADirectory("Is a directory (os error 21)"), /is a folder/, "ERR_IO"],
    [new Deno.errors.NotADirectory("Not a directory (os error 20)"), /not a folder/, "ERR_IO"],
    [new Deno.errors.FilesystemLoop("Too many levels (os error 40)"), /loop/, "ERR_IO"],
    [Object.assign(new Error("No space left (os error 28)"), { code: "ENOSPC" }), /disk is full/, "ERR_IO"],
    [new Deno.errors.ConnectionRefused("Connection refused (os error 111)"), /network/, "ERR_IO"],
    [new Deno.errors.NotFound("No such file (os error 2)"), /does not exist/, "ERR_NOT_FOUND"],
    [new Deno.errors.NotCapable("Requires read access"), /may not reach/, "ERR_CAPABILITY_DENIED"],
  ];
  for (const [e, said, code] of cases) {
    const g = mapIoError(e, "out/x");
    assert.equal(g.code, code);
    assert.match(g.message, said);
  }
});

Deno.test("GateError() gives an ERR_IO made without a hint a default one", () => {
  assert.ok(new GateError("ERR_IO", "Something failed", "", "io").hint.length > 0);
  assert.equal(new GateError("ERR_LIMIT", "Too big", "", "size").hint, "");
});
