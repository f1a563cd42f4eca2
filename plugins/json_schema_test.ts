import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { inputProblem, schemaProblems } from "./json_schema.ts";
import { parsePluginManifest } from "./plugin_manifest.ts";
import type { Issue } from "../manifests/errors.ts";

const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: "object",
  properties,
  ...extra,
});

Deno.test("inputProblem() checks anyOf and oneOf, naming the choice that was meant", async (t) => {
  const schema = object({
    id: { anyOf: [{ type: "string", minLength: 1 }, { type: "integer", minimum: 0 }] },
    shape: {
      oneOf: [
        object({ kind: { const: "circle" }, r: { type: "number" } }, { required: ["kind", "r"] }),
        object({ kind: { const: "square" }, side: { type: "number" } }, { required: ["kind", "side"] }),
      ],
    },
    tag: { oneOf: [{ type: "string", maxLength: 5 }, { type: "string", pattern: "^x" }] },
  });
  assert.deepEqual(schemaProblems(schema), []);
  await t.step("values that fit", () => {
    assert.equal(inputProblem(schema, { id: "a", shape: { kind: "circle", r: 1 }, tag: "xyyyyyy" }), null);
    assert.equal(inputProblem(schema, { id: 3, shape: { kind: "square", side: 2 }, tag: "abc" }), null);
  });
  await t.step("anyOf: no choice has the value's type", () => {
    assert.equal(inputProblem(schema, { id: true }), "input.id: expected string or integer, found boolean");
  });
  await t.step("anyOf: the one choice of the value's type says what is wrong", () => {
    assert.equal(inputProblem(schema, { id: -1 }), "input.id: -1 is less than 0");
    assert.equal(inputProblem(schema, { id: "" }), "input.id: shorter than 1 characters");
  });
  await t.step("oneOf: none fits; a tag (a const property) tells which choice was meant", () => {
    assert.equal(
      inputProblem(schema, { shape: { kind: "triangle" } }),
      'input.shape.kind: must be one of "circle", "square"',
    );
    assert.equal(inputProblem(schema, { shape: { kind: "circle" } }), 'input.shape: "r" is missing');
    assert.equal(
      inputProblem(schema, { shape: { kind: "square", side: "2" } }),
      "input.shape.side: expected number, found string",
    );
  });
  await t.step("anyOf: several choices could have been meant, each says why it does not fit", () => {
    const either = { anyOf: [{ type: "string", minLength: 3 }, { type: "string", pattern: "^x" }] };
    assert.equal(
      inputProblem(either, "ab"),
      'input: fits none of the choices of "anyOf": shorter than 3 characters; or does not match ^x',
    );
  });
  await t.step("oneOf: more than one fits", () => {
    assert.equal(
      inputProblem(schema, { tag: "xy" }),
      'input.tag: fits 2 of the choices of "oneOf", and must fit exactly one',
    );
  });
});

Deno.test("inputProblem() follows $ref into $defs, recursive ones included", async (t) => {
  const tree = {
    type: "object",
    $defs: {
      node: object({
        name: { type: "string" },
        children: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 3 },
      }, { required: ["name"], additionalProperties: false }),
    },
    properties: { root: { $ref: "#/$defs/node" } },
    required: ["root"],
  };
  assert.deepEqual(schemaProblems(tree), []);
  await t.step("a deep tree that fits", () => {
    const leaf = { name: "leaf" };
    assert.equal(
      inputProblem(tree, { root: { name: "a", children: [{ name: "b", children: [leaf] }, leaf] } }),
      null,
    );
  });
  await t.step("the deepest failing value is named, with its path", () => {
    assert.equal(
      inputProblem(tree, { root: { name: "a", children: [{ name: "b", children: [{ nam: "typo" }] }] } }),
      'input.root.children[0].children[0]: "name" is missing',
    );
    assert.equal(
      inputProblem(tree, { root: { name: "a", children: [{ name: "b", extra: 1 }] } }),
      'input.root.children[0]: "extra" is not expected',
    );
    assert.equal(
      inputProblem(tree, { root: { name: "a", children: [{ name: 5 }] } }),
      "input.root.children[0].name: expected string, found integer",
    );
  });
  await t.step("a recursive $ref to the root", () => {
    const list = { type: "object", properties: { next: { $ref: "#" }, v: { type: "integer" } } };
    assert.deepEqual(schemaProblems(list), []);
    assert.equal(inputProblem(list, { v: 1, next: { v: 2, next: { v: 3 } } }), null);
    assert.equal(
      inputProblem(list, { next: { next: { v: "3" } } }),
      "input.next.next.v: expected integer, found string",
    );
  });
  await t.step("draft-07 schemas (as zod makes them) use definitions and their own $ref rules", () => {
    const seven = {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      definitions: { pair: { type: "array", items: [{ type: "string" }, { type: "number" }] } },
      properties: { p: { $ref: "#/definitions/pair" } },
    };
    assert.deepEqual(schemaProblems(seven), []);
    assert.equal(inputProblem(seven, { p: ["a", 1] }), null);
    assert.equal(inputProblem(seven, { p: ["a", "b"] }), "input.p[1]: expected number, found string");
  });
});

Deno.test("inputProblem() checks format: date-time, email, uri and more", () => {
  const schema = object({
    at: { type: "string", format: "date-time" },
    mail: { type: "string", format: "email" },
    link: { type: "string", format: "uri" },
    day: { type: "string", format: "date" },
    id: { type: "string", format: "uuid" },
  });
  assert.deepEqual(schemaProblems(schema), []);
  const good = {
    at: "2026-12-01T15:13:10Z",
    mail: "dev@example.com",
    link: "https://example.com/a?b=c",
    day: "2024-02-29",
    id: "123e4567-e89b-12d3-a456-426614174000",
  };
  assert.equal(inputProblem(schema, good), null);
  const bad: [string, unknown, string][] = [
    ["at", "2026-12-01 15:13", 'input.at: "2026-12-01 15:13" is not a valid date-time'],
    ["at", "2026-02-30T00:00:00Z", 'input.at: "2026-02-30T00:00:00Z" is not a valid date-time'],
    ["mail", "dev@", 'input.mail: "dev@" is not a valid email'],
    ["link", "not a uri", 'input.link: "not a uri" is not a valid uri'],
    ["day", "2023-02-29", 'input.day: "2023-02-29" is not a valid date'],
    ["id", "123", 'input.id: "123" is not a valid uuid'],
  ];
  for (const [key, value, message] of bad) {
    assert.equal(inputProblem(schema, { ...good, [key]: value }), message);
  }
});

Deno.test("inputProblem() words every failing keyword with the value's path", () => {
  const schema = object({
    n: { type: "number", exclusiveMinimum: 0, multipleOf: 0.5 },
    s: { type: "string", maxLength: 3, pattern: "^[a-z]+$" },
    l: { type: "array", uniqueItems: true, minItems: 1, contains: { const: "x" } },
    e: { enum: ["a", "b"] },
    m: { type: "object", propertyNames: { pattern: "^[a-z]+$" }, maxProperties: 1 },
    "odd key": { type: "boolean" },
    no: { not: { type: "null" } },
  });
  assert.deepEqual(schemaProblems(schema), []);
  const cases: [Record<string, unknown>, string][] = [
    [{ n: 0 }, "input.n: 0 is not more than 0"],
    [{ n: 0.3 }, "input.n: 0.3 is not a multiple of 0.5"],
    [{ s: "abcd" }, "input.s: longer than 3 characters"],
    [{ s: "AB" }, "input.s: does not match ^[a-z]+$"],
    [{ l: [] }, "input.l: fewer than 1 items"],
    [{ l: ["x", "x"] }, "input.l: has items that are equal, and they must be unique"],
    [{ l: ["y"] }, 'input.l: has no item that fits "contains"'],
    [{ e: "c" }, 'input.e: must be one of "a", "b"'],
    [{ m: { a: 1, b: 2 } }, "input.m: more than 1 properties"],
    [{ "odd key": 1 }, 'input["odd key"]: expected boolean, found integer'],
    [{ no: null }, 'input.no: fits the schema under "not", which it must not'],
  ];
  for (const [value, message] of cases) {
    assert.equal(inputProblem(schema, value), message, JSON.stringify(value));
  }
  assert.match(inputProblem(schema, { m: { B: 1 } })!, /^input\.m/);
});

Deno.test("inputProblem() never throws: frozen schemas, values that are not JSON, nesting without end", async (t) => {
  await t.step("a frozen schema (as a frozen policy holds it) is checked, and left as it was", () => {
    const freeze = <T>(v: T): T => {
      if (typeof v === "object" && v !== null) { for (const x of Object.values(v)) freeze(x); }
      return Object.freeze(v);
    };
    const schema = freeze({
      type: "object",
      properties: { a: { $ref: "#/$defs/a" } },
      $defs: { a: { type: "string" } },
    });
    assert.equal(inputProblem(schema, { a: 1 }), "input.a: expected string, found integer");
    assert.deepEqual(Object.keys(schema), ["type", "properties", "$defs"]);
  });
  await t.step("values JSON cannot carry", () => {
    const schema = object({ a: { type: "string" } });
    assert.match(inputProblem(schema, { a: undefined })!, /^input: holds a value that is not JSON/);
    assert.match(inputProblem(schema, { a: 1n })!, /not JSON/);
    assert.match(inputProblem(schema, { a: () => 1 })!, /not JSON/);
  });
  await t.step("a cycle, and nesting far too deep for the stack", () => {
    const list = { type: "object", properties: { next: { $ref: "#" } } };
    const cyclic: Record<string, unknown> = {};
    cyclic.next = cyclic;
    assert.match(inputProblem(list, cyclic)!, /nests too deeply/);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200_000; i++) deep = { next: deep };
    assert.match(inputProblem(list, deep)!, /nests too deeply/);
  });
  await t.step("a schema that does not compile is a problem, not an exception", () => {
    assert.match(
      inputProblem({ $ref: "#/nowhere" }, {})!,
      /^input: cannot be checked against the tool's input schema/,
    );
    assert.match(
      inputProblem({ properties: { a: () => 1 } }, {})!,
      /^input: cannot be checked, the tool's input schema/,
    );
  });
});

Deno.test("schemaProblems() refuses what is not JSON Schema in IronClaw's own schemas, and only there", async (t) => {
  await t.step("a typo is refused with a did-you-mean; ignored for a third-party schema", () => {
    const schema = object({ q: { type: "string", maxLenght: 3 } }, { requird: ["q"] });
    assert.deepEqual(schemaProblems(schema), [
      'input.properties.q.maxLenght: "maxLenght" is not a JSON Schema keyword (did you mean "maxLength"?)',
      'input.requird: "requird" is not a JSON Schema keyword (did you mean "required"?)',
    ]);
    assert.deepEqual(schemaProblems(schema, "input", { unknownKeywords: "ignore" }), []);
  });
  await t.step("an unknown format is refused, unless ignored", () => {
    const schema = object({ c: { type: "string", format: "colour" } });
    assert.match(schemaProblems(schema)[0]!, /"colour" is not a format IronClaw checks \(it knows date, /);
    assert.deepEqual(schemaProblems(schema, "input", { unknownKeywords: "ignore" }), []);
  });
  await t.step("keywords with values of the wrong kind, in every mode", () => {
    for (const mode of ["refuse", "ignore"] as const) {
      const problems = schemaProblems(
        object({
          a: { type: "int" },
          b: { type: "string", pattern: "(" },
          c: { anyOf: [] },
          d: { type: "array", minItems: -1 },
          e: { $ref: "#/$defs/none" },
          f: { $dynamicRef: "#node" },
          g: { required: ["x", "x"] },
          h: { type: "array", items: [{ type: "string" }] },
        }),
        "input",
        { unknownKeywords: mode },
      );
      assert.deepEqual(problems, [
        'input.properties.a.type "int" is not one of string, number, integer, boolean, object, array, null',
        "input.properties.b.pattern is not a valid regular expression",
        "input.properties.c.anyOf must be a list of one or more schemas",
        "input.properties.d.minItems must be a whole number, 0 or more",
        `input.properties.f.$dynamicRef: IronClaw's validator does not implement "$dynamicRef": use "$ref"`,
        "input.properties.g.required must be a list of distinct property names",
        'input.properties.h.items must be one schema (a list of schemas is "prefixItems")',
      ]);
    }
  });
  await t.step("a TOML date where a schema should be", () => {
    assert.deepEqual(schemaProblems(object({ when: new Date(0) })), [
      "input.properties.when must be a table (a JSON Schema object) or true or false",
    ]);
  });
  await t.step("a $ref that points out of the schema", () => {
    assert.deepEqual(
      schemaProblems(object({ e: { $ref: "#/$defs/none" }, f: { $ref: "https://example.com/s" } })),
      [
        'input.properties.e.$ref: "#/$defs/none" does not point into this schema (write "#/$defs/NAME" and define NAME under "$defs"; nothing is fetched)',
        'input.properties.f.$ref: "https://example.com/s" does not point into this schema (write "#/$defs/NAME" and define NAME under "$defs"; nothing is fetched)',
      ],
    );
  });
  await t.step("the full vocabulary is welcome", () => {
    assert.deepEqual(
      schemaProblems({
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        $defs: { n: { type: "integer" } },
        properties: {
          a: { allOf: [{ $ref: "#/$defs/n" }], deprecated: true, examples: [1] },
          b: { type: "array", prefixItems: [{ type: "string" }], items: false, minContains: 0 },
          c: { if: { type: "string" }, then: { minLength: 1 }, else: { type: "null" } },
          d: { type: "object", patternProperties: { "^x-": true }, unevaluatedProperties: false },
          e: { dependentRequired: { a: ["b"] }, dependentSchemas: { a: { required: ["c"] } } },
        },
      }),
      [],
    );
  });
});

Deno.test("plugin.toml: a tool schema with a keyword that is not JSON Schema is refused with a hint", () => {
  const text = `[plugin]\nname = "p"\n[[tools]]\nname = "go"\ndescription = "Go"\n` +
    `input = { type = "object", properties = { when = { type = "string", fromat = "date-time" } } }\n`;
  const issues: Issue[] = [];
  parsePluginManifest(text, "/opt/plugins/p/plugin.toml", issues);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.code, "ERR_PLUGIN_SCHEMA");
  assert.equal(
    issues[0]!.message,
    'The input schema of "go" is invalid: input.properties.when.fromat: "fromat" is not a JSON Schema keyword (did you mean "format"?)',
  );
  assert.match(issues[0]!.hint, /keywords spelled as the standard spells them/);
  assert.equal(issues[0]!.pos.line, 6);
  const good = text.replace("fromat", "format");
  assert.equal(parsePluginManifest(good, "/opt/plugins/p/plugin.toml").tools[0]?.name, "go");
});

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  "a",
  "name",
  "kind",
  "r",
  "next",
  "children",
  "__proto__",
  "constructor",
  "",
  "x y",
  "é",
  "$ref",
];
const STRINGS = [
  "",
  "a",
  "xy",
  "2026-12-01T00:00:00Z",
  "dev@example.com",
  "https://e.com",
  "\u0000",
  "ü".repeat(70),
];

function value(rand: () => number, depth: number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const r = rand();
  if (depth > 5 || r < 0.35) {
    return pick<unknown>([null, true, false, 0, -1, 1.5, 1e308, -0, 3, pick(STRINGS)]);
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(rand, depth + 1));
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 4); i > 0; i--) {
    Object.defineProperty(out, pick(KEYS), {
      value: value(rand, depth + 1),
      enumerable: true,
      configurable: true,
    });
  }
  return out;
}

Deno.test("fuzz: random JSON against schemas and random schemas never throws", async (t) => {
  const schemas = [
    object({ a: { type: "string" }, r: { type: "number", minimum: 0 } }, {
      required: ["a"],
      additionalProperties: false,
    }),
    {
      $defs: { t: { anyOf: [{ type: "string" }, { type: "array", items: { $ref: "#/$defs/t" } }] } },
      $ref: "#/$defs/t",
    },
    {
      type: "object",
      properties: {
        kind: { enum: ["a", "b"] },
        next: { $ref: "#" },
        children: { type: "array", uniqueItems: true },
      },
      oneOf: [{ required: ["kind"] }, { required: ["next"] }],
      propertyNames: { maxLength: 4 },
      if: { required: ["a"] },
      then: { properties: { a: { format: "date-time" } } },
      unevaluatedProperties: { type: ["string", "null", "array", "object"] },
    },
    {
      type: "array",
      prefixItems: [{ type: "object" }, { const: { a: [1] } }],
      items: { not: {} },
      contains: true,
    },
  ];
  for (const schema of schemas) assert.deepEqual(schemaProblems(schema), []);
  await t.step("values", () => {
    const rand = random(14);
    let fits = 0;
    for (let i = 0; i < 3000; i++) {
      const v = value(rand, 0);
      for (const schema of schemas) {
        const p = inputProblem(schema, v);
        assert.ok(p === null || (typeof p === "string" && p.startsWith("input")), String(p));
        assert.doesNotMatch(p ?? "", /cannot be checked|undefined/, JSON.stringify(v));
        if (p === null) fits++;
      }
    }
    assert.ok(fits > 100, `only ${fits} values fit: the generator is too narrow`);
  });
  await t.step("schemas", () => {
    const rand = random(7);
    for (let i = 0; i < 3000; i++) {
      const s = value(rand, 0);
      const problems = schemaProblems(s);
      assert.ok(Array.isArray(problems));
      const lenient = schemaProblems(s, "input", { unknownKeywords: "ignore" });
      if (lenient.length === 0) {
        const p = inputProblem(s as Record<string, unknown>, value(rand, 0));
        assert.ok(p === null || typeof p === "string");
      }
    }
  });
});

Deno.test("the validator runs where code generation from strings is disallowed", async () => {
  const module = new URL("./json_schema.ts", import.meta.url).href;
  const script = `import { inputProblem } from ${JSON.stringify(module)};
let refused = false;
try { new Function("return 1"); } catch { refused = true; }
const s = { type: "object", properties: { at: { format: "date-time" }, r: { $ref: "#/$defs/r" } }, $defs: { r: { anyOf: [{ type: "string" }, { type: "array", items: { $ref: "#/$defs/r" } }] } } };
console.log(JSON.stringify([refused, inputProblem(s, { at: "x" }), inputProblem(s, { r: [["a"]] })]));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `--config=${fileURLToPath(new URL("../deno.json", import.meta.url))}`,
      "--v8-flags=--disallow-code-generation-from-strings",
      script,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [
    true,
    'input.at: "x" is not a valid date-time',
    null,
  ]);
});
