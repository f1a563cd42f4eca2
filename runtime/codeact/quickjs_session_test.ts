import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { bundleModule } from "../assets.ts";
import { type CodeSession, type CodeSessionOptions, createQuickJsSession } from "./quickjs_session.ts";

const MiB = 1024 * 1024;

function open(overrides: Partial<CodeSessionOptions> = {}): Promise<CodeSession> {
  return createQuickJsSession({
    tools: {
      echo: (args) => Promise.resolve(args),
      fail: () =>
        Promise.reject(Object.assign(new Error("no such file: data/a.csv"), { code: "ERR_NOT_FOUND" })),
    },
    memoryBytes: 16 * MiB,
    // Far above what any step here needs on a loaded machine; the deadline's own tests set theirs.
    stepDeadlineMs: 10_000,
    maxOutputBytes: 1024,
    ...overrides,
  });
}

/** The ECMAScript built-ins of this QuickJS build: what `globalThis` may hold besides console and tools. */
const BUILT_INS = [
  "AggregateError",
  "Array",
  "ArrayBuffer",
  "BigInt",
  "BigInt64Array",
  "BigUint64Array",
  "Boolean",
  "DataView",
  "Date",
  "Error",
  "EvalError",
  "FinalizationRegistry",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "Function",
  "Infinity",
  "Int16Array",
  "Int32Array",
  "Int8Array",
  "InternalError",
  "Iterator",
  "JSON",
  "Map",
  "Math",
  "NaN",
  "Number",
  "Object",
  "Promise",
  "Proxy",
  "RangeError",
  "ReferenceError",
  "Reflect",
  "RegExp",
  "Set",
  "SharedArrayBuffer",
  "String",
  "Symbol",
  "SyntaxError",
  "TypeError",
  "URIError",
  "Uint16Array",
  "Uint32Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "WeakMap",
  "WeakRef",
  "WeakSet",
  "decodeURI",
  "decodeURIComponent",
  "encodeURI",
  "encodeURIComponent",
  "escape",
  "eval",
  "globalThis",
  "isFinite",
  "isNaN",
  "parseFloat",
  "parseInt",
  "undefined",
  "unescape",
];

Deno.test("createQuickJsSession() keeps top-level declarations across steps", async (t) => {
  const session = await open();
  try {
    await t.step("const, let, var, function and class persist", async () => {
      const first = await session.run(
        "const a = 1; let b = 2; var c = 3; function f() { return 4 } class K { static five = 5 }",
      );
      assert.equal(first.error, null);
      const second = await session.run("a + b + c + f() + K.five");
      assert.deepEqual(second, { output: "", error: null, value: "15", timedOut: false, outOfMemory: false });
    });
    await t.step("let can be reassigned in a later step, const cannot", async () => {
      assert.equal((await session.run("b = 20; b")).value, "20");
      assert.equal((await session.run("a = 10")).error, "TypeError: 'a' is read-only");
    });
    await t.step("a top-level name cannot be declared again (documented limit)", async () => {
      assert.equal((await session.run("const a = 2")).error, "SyntaxError: redeclaration of 'a'");
      assert.equal((await session.run("a")).value, "1");
    });
    await t.step("closures from an earlier step keep working", async () => {
      await session.run("let count = 0; const inc = () => ++count;");
      await session.run("inc(); inc()");
      assert.equal((await session.run("count")).value, "2");
    });
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() bridges tools with top-level await", async (t) => {
  const received: unknown[] = [];
  const session = await open({
    tools: {
      read_file: (args) => {
        received.push(args);
        return Promise.resolve({ data: "a,b\n1,2\n" });
      },
      fail: () => Promise.reject(Object.assign(new Error("no such file: x"), { code: "ERR_NOT_FOUND" })),
      bigint: () => Promise.resolve(10n),
      nothing: () => Promise.resolve(undefined),
      sync_throw: () => {
        throw new Error("thrown before any promise");
      },
    },
  });
  try {
    await t.step("the awaited result is a plain value, the args arrive as JSON", async () => {
      const step = await session.run(
        'const d = await tools.read_file({ path: "data/a.csv", skip: undefined, n: 1 }); d.data.split("\\n").length',
      );
      assert.equal(step.error, null);
      assert.equal(step.value, "3");
      assert.deepEqual(received, [{ path: "data/a.csv", n: 1 }]);
      assert.equal((await session.run("d.data")).value, JSON.stringify("a,b\n1,2\n"));
    });
    await t.step("the code can catch a rejected tool call and see its message and code", async () => {
      const step = await session.run(
        "try { await tools.fail({}) } catch (e) { [e instanceof Error, e.name, e.message, e.code] }",
      );
      assert.equal(step.value, '[true,"Error","no such file: x","ERR_NOT_FOUND"]');
    });
    await t.step("an uncaught rejection becomes the step's error", async () => {
      const step = await session.run('console.log("before"); await tools.fail({}); console.log("after")');
      assert.equal(step.error, "Error: no such file: x");
      assert.equal(step.output, "before");
    });
    await t.step("a tool that throws synchronously rejects too", async () => {
      assert.equal((await session.run("await tools.sync_throw()")).error, "Error: thrown before any promise");
    });
    await t.step("a result that is not JSON rejects; undefined resolves to undefined", async () => {
      assert.match(
        (await session.run("await tools.bigint()")).error ?? "",
        /^Error: The tool result is not JSON/,
      );
      assert.equal((await session.run("typeof (await tools.nothing())")).value, '"undefined"');
    });
    await t.step("args that are not JSON reject inside QuickJS without calling the host", async () => {
      const before = received.length;
      const step = await session.run("const loop = {}; loop.loop = loop; await tools.read_file(loop)");
      assert.match(step.error ?? "", /^TypeError: circular reference/);
      assert.equal(received.length, before);
    });
    await t.step("only the given tools exist, and they are frozen", async () => {
      const step = await session.run(
        "[Object.keys(tools), typeof tools.nope, Object.isFrozen(tools), Object.isFrozen(tools.fail)]",
      );
      assert.equal(
        step.value,
        '[["read_file","fail","bigint","nothing","sync_throw"],"undefined",true,true]',
      );
    });
    await t.step("parallel calls with Promise.all", async () => {
      const step = await session.run(
        "(await Promise.all([1, 2, 3].map((n) => tools.read_file({ n })))).length",
      );
      assert.equal(step.value, "3");
    });
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() reports output, values and errors", async (t) => {
  const session = await open({ maxOutputBytes: 64 });
  try {
    await t.step("each console call is one line; non-strings are rendered JSON-ish", async () => {
      const step = await session.run('console.log("a", 1, { b: [true, null] }); console.error("e"); 5');
      assert.equal(step.output, 'a 1 {"b":[true,null]}\ne');
      assert.equal(step.value, "5");
    });
    await t.step("a flood of console.log is capped with a marker", async () => {
      const step = await session.run('for (let i = 0; i < 100000; i++) console.log("line " + i)');
      assert.equal(step.error, null);
      const [body, marker] = [
        step.output.slice(0, step.output.lastIndexOf("\n")),
        step.output.split("\n").at(-1),
      ];
      assert.equal(marker, "[output truncated]");
      assert.ok(new TextEncoder().encode(body).length <= 64);
      assert.ok(body.startsWith("line 0\nline 1\n"));
    });
    await t.step("the cap counts UTF-8 bytes and never splits a character", async () => {
      const step = await session.run('console.log("é".repeat(100))');
      assert.equal(step.output, `${"é".repeat(32)}\n[output truncated]`);
    });
    await t.step("completion values", async () => {
      const cases: [string, string | null][] = [
        ["1 + 1", "2"],
        ['"text"', '"text"'],
        ["({ a: 1, b: [1, 'x'] })", '{"a":1,"b":[1,"x"]}'],
        ["undefined", null],
        ["let nothing", null],
        ["null", "null"],
        ["-0", "-0"],
        ["12n", "12n"],
        ["[NaN, undefined]", "[NaN,undefined]"],
        ["new Set([1])", "Set(1) {1}"],
        ["(function named() {})", "[Function named]"],
        ["const cyc = {}; cyc.self = cyc; cyc", '{"self":[Circular]}'],
        ["if (true) { 'from block' }", '"from block"'],
      ];
      for (const [code, value] of cases) {
        const step = await session.run(code);
        assert.equal(step.error, null, code);
        assert.equal(step.value, value, code);
      }
    });
    await t.step("a long value is cut to the cap", async () => {
      const step = await session.run('"x".repeat(1000)');
      assert.equal(step.value?.length, 65);
    });
    await t.step("thrown errors", async () => {
      const cases: [string, string][] = [
        ['throw new TypeError("bad input")', "TypeError: bad input"],
        ["null.x", "TypeError: cannot read property 'x' of null"],
        ["notDefined", "ReferenceError: 'notDefined' is not defined"],
        ["let = = 1", "SyntaxError: unexpected token in expression: '='"],
        ['throw "plain string"', "plain string"],
        ["throw { code: 7 }", '{"code":7}'],
        ["throw new Error()", "Error"],
        ["await Promise.reject(new RangeError('late'))", "RangeError: late"],
      ];
      for (const [code, error] of cases) {
        const step = await session.run(code);
        assert.equal(step.error, error, code);
        assert.equal(step.value, null, code);
      }
    });
    await t.step("a step awaiting a promise nothing can settle ends at once", async () => {
      const step = await session.run("await new Promise(() => {})");
      assert.equal(step.error, "Error: the step awaits a promise that nothing can settle");
      assert.equal(step.timedOut, false);
    });
    await t.step("deep recursion is a catchable stack overflow", async () => {
      const step = await session.run("function down() { return down() } down()");
      assert.equal(step.error, "InternalError: stack overflow");
      assert.equal((await session.run("1")).value, "1");
    });
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() gives the code no ambient authority", async (t) => {
  const session = await open();
  const host = globalThis as Record<string, unknown>;
  host.__ironclawCanary = "host secret";
  try {
    await t.step("globalThis holds only the built-ins, console and tools", async () => {
      const step = await session.run("JSON.stringify(Reflect.ownKeys(globalThis).map(String).sort())");
      assert.deepEqual(
        JSON.parse(JSON.parse(step.value!)),
        [
          ...BUILT_INS,
          "Symbol(Symbol.toStringTag)",
          "console",
          "tools",
        ].sort(),
      );
    });
    await t.step("no Deno, process, require, fetch, timers, std or os", async () => {
      const names = [
        "Deno",
        "process",
        "require",
        "fetch",
        "setTimeout",
        "setInterval",
        "queueMicrotask",
        "std",
        "os",
      ];
      const step = await session.run(`${JSON.stringify(names)}.map((n) => typeof globalThis[n])`);
      assert.equal(step.value, JSON.stringify(names.map(() => "undefined")));
    });
    await t.step("dynamic import() rejects", async () => {
      for (const specifier of ["node:fs", "std", "os", "file:///etc/passwd", "https://example.com/x.js"]) {
        const step = await session.run(`await import(${JSON.stringify(specifier)})`);
        assert.notEqual(step.error, null, specifier);
        assert.equal(step.value, null);
      }
    });
    await t.step("Function and eval work but only reach QuickJS's own global", async () => {
      const step = await session.run(`[
        Function("return this")() === globalThis,
        eval("typeof __ironclawCanary"),
        Function("return typeof Deno")(),
        tools.echo.constructor("return this")() === globalThis,
        console.log.constructor === Function,
        (0, eval)("Object.keys(this).length") === Object.keys(globalThis).length,
      ]`);
      assert.equal(step.value, '[true,"undefined","undefined",true,true,true]');
    });
    await t.step("the host functions behind tools and console are not reachable", async () => {
      const step = await session.run(`[
        String(tools.echo).includes("native") || String(tools.echo),
        Object.getOwnPropertyNames(tools.echo).sort().join(),
        typeof write, typeof call,
      ]`);
      assert.equal(step.error, null);
      assert.match(step.value!, /,"length,name","undefined","undefined"\]$/);
    });
  } finally {
    delete host.__ironclawCanary;
    session.dispose();
  }
});

Deno.test("createQuickJsSession() keeps prototype pollution inside QuickJS", async (t) => {
  const hostResult = { user: { name: "ada" }, list: [1, 2] };
  let receivedArgs: unknown;
  const session = await open({
    tools: {
      get: () => Promise.resolve(hostResult),
      put: (args) => {
        receivedArgs = args;
        return Promise.resolve(JSON.parse('{"__proto__": {"admin": true}}'));
      },
    },
  });
  try {
    await t.step("mutating a tool result and its prototypes does not touch the host's objects", async () => {
      const step = await session.run(`
        const r = await tools.get({});
        r.user.name = "mallory";
        r.__proto__.polluted = "yes";
        r.list.__proto__.push = () => "hijacked";
        Object.prototype.polluted2 = "yes";
        Array.prototype.evil = 1;
        ({}).polluted + ({}).polluted2
      `);
      assert.equal(step.value, '"yesyes"');
      assert.equal(hostResult.user.name, "ada");
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(({} as Record<string, unknown>).polluted2, undefined);
      assert.equal(([] as unknown as Record<string, unknown>).evil, undefined);
      assert.equal([1].push(2), 2);
      assert.equal(Object.getPrototypeOf(hostResult), Object.prototype);
    });
    await t.step("a __proto__ key in args arrives as a plain own property", async () => {
      const step = await session.run(
        'await tools.put(JSON.parse(\'{"__proto__": {"admin": true}, "k": 1}\'))',
      );
      assert.equal(step.error, null);
      const args = receivedArgs as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(args), Object.prototype);
      assert.ok(Object.hasOwn(args, "__proto__"));
      assert.equal((args as { admin?: boolean }).admin, undefined);
      assert.equal(({} as { admin?: boolean }).admin, undefined);
    });
    await t.step("a __proto__ key in a result stays an own property in QuickJS", async () => {
      const step = await session.run(
        "const p = await tools.put({}); [Object.hasOwn(p, '__proto__'), p.admin, ({}).admin]",
      );
      assert.equal(step.value, "[true,undefined,undefined]");
    });
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() enforces the step deadline", async (t) => {
  let releaseSlow: (() => void) | undefined;
  const session = await open({
    stepDeadlineMs: 200,
    tools: {
      slow: () => new Promise((resolve) => releaseSlow = () => resolve("late")),
      echo: (args) => Promise.resolve(args),
    },
  });
  try {
    await t.step("while(true){} is interrupted at the deadline", async () => {
      const started = performance.now();
      const step = await session.run("while (true) {}");
      const took = performance.now() - started;
      assert.equal(step.timedOut, true);
      assert.match(step.error ?? "", /^InternalError: interrupted/);
      assert.ok(took >= 190 && took < 5000, `took ${took} ms`);
    });
    await t.step("catching the interrupt is impossible", async () => {
      const step = await session.run('try { while (true) {} } catch { console.log("caught") } "after"');
      assert.equal(step.timedOut, true);
      assert.equal(step.output, "");
    });
    await t.step("the deadline covers awaited tool calls", async () => {
      const started = performance.now();
      const step = await session.run('console.log("waiting"); await tools.slow({})');
      assert.equal(step.timedOut, true);
      assert.equal(step.output, "waiting");
      assert.ok(performance.now() - started < 5000);
    });
    await t.step("a call that settles after its step ended is dropped", async () => {
      releaseSlow?.();
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal((await session.run("'next step'")).value, '"next step"');
    });
    await t.step("a loop in a continuation after await is interrupted too", async () => {
      const step = await session.run("await tools.echo({}); for (;;) {}");
      assert.equal(step.timedOut, true);
    });
    await t.step("the session stays usable after a timeout", async () => {
      assert.equal((await session.run("6 * 7")).value, "42");
    });
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() contains memory bombs", async (t) => {
  const session = await open({ memoryBytes: 16 * MiB, stepDeadlineMs: 5_000 });
  try {
    await t.step("one huge allocation", async () => {
      const step = await session.run('"x".repeat(2 ** 28).length');
      assert.equal(step.outOfMemory, true);
      assert.equal(step.error, "InternalError: out of memory");
    });
    await t.step("many small allocations in a local array; the session stays usable", async () => {
      const step = await session.run(
        "(() => { const a = []; for (;;) a.push(new Uint8Array(10000)) })()",
      );
      assert.equal(step.outOfMemory, true);
      assert.equal(step.timedOut, false);
      assert.equal((await session.run("[1, 2, 3].map((n) => n * 2)")).value, "[2,4,6]");
      assert.equal((await session.run("new Uint8Array(4 * 1024 * 1024).length")).value, "4194304");
    });
    await t.step("code can catch an out-of-memory error", async () => {
      const step = await session.run(
        "let caught; try { const a = []; for (;;) a.push('y'.repeat(10000) + a.length) } catch (e) { caught = String(e) } caught",
      );
      assert.equal(step.value, '"InternalError: out of memory"');
    });
    await t.step("a bomb kept in a global fills the session until the code lets go of it", async () => {
      const bomb = await session.run("const kept = []; for (;;) kept.push(new Uint8Array(10000))");
      assert.equal(bomb.outOfMemory, true);
      const next = await session.run("new Uint8Array(4 * 1024 * 1024).length");
      assert.equal(next.outOfMemory, true);
      assert.equal((await session.run("kept.length = 0")).error, null);
      assert.equal((await session.run("new Uint8Array(4 * 1024 * 1024).length")).value, "4194304");
    });
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() dispose() releases everything", async (t) => {
  await t.step(
    "after timeouts, OOM, abandoned calls and errors, dispose() does not trip QuickJS's leak check",
    async () => {
      const session = await open({ tools: { never: () => new Promise(() => {}) }, stepDeadlineMs: 100 });
      await session.run("const x = { a: [1, 2, 3] }; console.log(x)");
      await session.run("tools.never({}); tools.never({}); 1");
      await session.run("await tools.never({})");
      await session.run("while (true) {}");
      await session.run("throw new Error('x')");
      await session.run("(() => { const a = []; for (;;) a.push(new Uint8Array(10000)) })()");
      await session.run("Promise.reject(new Error('unhandled')); 1");
      session.dispose();
      session.dispose();
    },
  );
  await t.step("run() after dispose() rejects", async () => {
    const session = await open();
    session.dispose();
    await assert.rejects(session.run("1"), /disposed/);
  });
  await t.step("dispose() during a step ends the step, then frees", async () => {
    const session = await open({ tools: { never: () => new Promise(() => {}) }, stepDeadlineMs: 10_000 });
    const running = session.run("await tools.never({})");
    await new Promise((resolve) => setTimeout(resolve, 20));
    session.dispose();
    const step = await running;
    assert.equal(step.error, "Error: the session was disposed during the step");
    await assert.rejects(session.run("1"), /disposed/);
  });
  await t.step("overlapping steps are refused", async () => {
    const session = await open();
    const first = session.run("await tools.echo({})");
    await assert.rejects(session.run("1"), /already running/);
    await first;
    session.dispose();
  });
});

Deno.test("createQuickJsSession() closes the session when V8's own stack overflows inside QuickJS", async () => {
  // Nesting that costs QuickJS little of its stack but V8 a lot of its native one: the engine is
  // unwound mid-call, so the session refuses further steps and dispose() drops the whole instance.
  const session = await open({ stepDeadlineMs: 5_000, memoryBytes: 64 * MiB });
  try {
    const step = await session.run("JSON.parse('['.repeat(100000) + ']'.repeat(100000)); 1");
    assert.match(step.error ?? "", /^InternalError: the JavaScript engine failed and the session is closed/);
    assert.equal((await session.run("1")).error, step.error);
  } finally {
    session.dispose();
  }
});

Deno.test("createQuickJsSession() loads in a sandbox child with no permissions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/child.ts`;
    const moduleUrl = new URL("./quickjs_session.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { createQuickJsSession } from ${JSON.stringify(moduleUrl)};
const session = await createQuickJsSession({
  tools: { add: (a) => Promise.resolve((a as { x: number }).x + 1) },
  memoryBytes: 8 * 1024 * 1024, stepDeadlineMs: 1000, maxOutputBytes: 100,
});
const step = await session.run("await tools.add({ x: 41 })");
session.dispose();
console.log(JSON.stringify(step));
`,
    );
    // Bundled and run on an empty Deno cache, as the sandbox runs.
    const bundle = `${dir}/child.js`;
    await bundleModule(script, bundle, {
      config: fileURLToPath(new URL("../../deno.json", import.meta.url)),
    });
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--cached-only", "--no-config", bundle],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", DENO_DIR: `${dir}/empty-deno-cache` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(child.stderr);
    assert.equal(child.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(child.stdout)), {
      output: "",
      error: null,
      value: "42",
      timedOut: false,
      outOfMemory: false,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createQuickJsSession() costs (printed)", async () => {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const creations: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    const session = await open();
    creations.push(performance.now() - started);
    session.dispose();
  }
  const session = await open({ stepDeadlineMs: 5_000 });
  const steps: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < 500; i++) {
      let started = performance.now();
      const step = await session.run(`const r${i} = await tools.echo({ i: ${i} }); r${i}.i`);
      steps.push(performance.now() - started);
      assert.equal(step.value, String(i));
      started = performance.now();
      await session.run(`${i} + 1`);
      bare.push(performance.now() - started);
    }
  } finally {
    session.dispose();
  }
  console.log(
    `session creation median ${median(creations).toFixed(2)} ms (first ${creations[0]!.toFixed(1)} ms); ` +
      `step with one tool call median ${(median(steps) * 1000).toFixed(0)} µs; ` +
      `step without tool median ${(median(bare) * 1000).toFixed(0)} µs`,
  );
});
