import assert from "node:assert/strict";
import { formatKeyPath, locateKeys } from "./_locate.ts";

Deno.test("locateKeys() finds tables, dotted keys, array items and inline tables", () => {
  const text = `# comment
[agent]
name = "a" # trailing
"quoted key" = 1
[capabilities]
fs.read = ["x", 'y']
net.allow = [
  "a.example",
  { url = "https://b.example/", methods = ["GET"] },
]
[[items]]
v = """multi
line"""
[[items]]
v = 2
`;
  const at = locateKeys(text);
  const pos = (k: string) => {
    const p = at.get(k);
    return p && [p.line, p.column];
  };
  assert.deepEqual(pos("agent"), [2, 1]);
  assert.deepEqual(pos("agent.name"), [3, 1]);
  assert.deepEqual(pos('agent."quoted key"'), [4, 1]);
  assert.deepEqual(pos("capabilities.fs.read"), [6, 1]);
  assert.deepEqual(pos("capabilities.fs.read[1]"), [6, 17]);
  assert.deepEqual(pos("capabilities.net.allow[0]"), [8, 3]);
  assert.deepEqual(pos("capabilities.net.allow[1]"), [9, 3]);
  assert.deepEqual(pos("capabilities.net.allow[1].methods"), [9, 33]);
  assert.deepEqual(pos("capabilities.net.allow[1].methods[0]"), [9, 44]);
  assert.deepEqual(pos("items[0].v"), [12, 1]);
  assert.deepEqual(pos("items[1].v"), [15, 1]);
});

Deno.test("formatKeyPath() quotes what is not a bare key", () => {
  assert.equal(formatKeyPath(["a", "b c", 2, "d"]), 'a."b c"[2].d');
});
