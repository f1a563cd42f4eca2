import { progressEnabled, startProgress } from "./_progress.ts";

function assert(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("startProgress() writes a progress line only when enabled", async (t) => {
  await t.step("enabled: draws, redraws, clears and writes the final line", async () => {
    const writes: string[] = [];
    const progress = startProgress("building agent.js", {
      enabled: true,
      write: (s) => writes.push(s),
      color: false,
      intervalMs: 5,
    });
    await sleep(40);
    progress.stop("built agent.wasm");
    const all = writes.join("");
    assert(writes.length >= 3, `expected redraws, got ${JSON.stringify(writes)}`);
    assert(writes[0]!.startsWith("\r") && writes[0]!.includes("building agent.js"), writes[0]!);
    const shown = writes[writes.length - 3]!.length - 1; // the last draw, without its \r
    assert(writes.at(-2) === `\r${" ".repeat(shown)}\r`, `not cleared: ${JSON.stringify(writes.at(-2))}`);
    assert(writes.at(-1) === "built agent.wasm\n", JSON.stringify(writes.at(-1)));
    assert(all.indexOf("\n") === all.length - 1, `a newline before the final line: ${JSON.stringify(all)}`);
  });

  await t.step("disabled: writes nothing, not even the final line", async () => {
    const writes: string[] = [];
    const progress = startProgress("building", {
      enabled: false,
      write: (s) => writes.push(s),
      intervalMs: 5,
    });
    await sleep(20);
    progress.stop("built");
    assert(writes.length === 0, JSON.stringify(writes));
  });

  await t.step("stop() twice writes once", () => {
    const writes: string[] = [];
    const progress = startProgress("x", { enabled: true, write: (s) => writes.push(s), color: false });
    progress.stop("done");
    const n = writes.length;
    progress.stop("done");
    assert(writes.length === n, JSON.stringify(writes));
  });

  await t.step("a step quicker than delayMs prints nothing", async () => {
    const writes: string[] = [];
    const progress = startProgress("x", { enabled: true, write: (s) => writes.push(s), delayMs: 200 });
    await sleep(10);
    progress.stop();
    assert(writes.length === 0, JSON.stringify(writes));
    const later = startProgress("y", { enabled: true, write: (s) => writes.push(s), delayMs: 5 });
    await sleep(30);
    later.stop();
    assert(writes.some((w) => w.includes("y")), JSON.stringify(writes));
  });

  await t.step("without colour (NO_COLOR) no escape sequence is written", async () => {
    const plain: string[] = [];
    const p = startProgress("plain", {
      enabled: true,
      write: (s) => plain.push(s),
      color: false,
      intervalMs: 5,
    });
    await sleep(20);
    p.stop("ok");
    assert(!plain.join("").includes("\x1b"), JSON.stringify(plain));
    const colored: string[] = [];
    const c = startProgress("colour", { enabled: true, write: (s) => colored.push(s), color: true });
    c.stop();
    assert(colored.join("").includes("\x1b[2m"), JSON.stringify(colored));
  });

  await t.step("the line fits the terminal's width", () => {
    const writes: string[] = [];
    const p = startProgress("x".repeat(200), {
      enabled: true,
      write: (s) => writes.push(s),
      color: false,
      columns: 40,
    });
    p.stop();
    assert(writes[0]!.length - 1 <= 39, JSON.stringify(writes[0]));
  });
});

Deno.test("progressEnabled() is false with --json and when standard error is not a terminal", () => {
  assert(!progressEnabled({ json: true }), "json");
  assert(progressEnabled() === Deno.stderr.isTerminal(), "terminal");
});

Deno.test("prepareComponent() tells onProgress of a transpile, and nothing on a cache hit", async () => {
  const { prepareComponent } = await import("../supervisor/component_cache.ts");
  const wasm = await Deno.readFile(new URL("../examples/hello/agent.wasm", import.meta.url)).catch(() => {
    throw new Error("examples/hello/agent.wasm is missing: run deno task build-agents");
  });
  const stateDir = await Deno.makeTempDir();
  try {
    const phases: string[] = [];
    const first = await prepareComponent(wasm, stateDir, {
      maxPages: 1024,
      onProgress: (p) => phases.push(p),
    });
    assert(first.transpiled, "the first call transpiles");
    assert(phases.join() === "transpile-start,transpile-end", phases.join());
    phases.length = 0;
    const second = await prepareComponent(wasm, stateDir, {
      maxPages: 1024,
      onProgress: (p) => phases.push(p),
    });
    assert(!second.transpiled && phases.length === 0, phases.join());
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("prepareComponent() ends its progress when the transpile fails", async () => {
  const { prepareComponent } = await import("../supervisor/component_cache.ts");
  const stateDir = await Deno.makeTempDir();
  try {
    const phases: string[] = [];
    // A component header with nothing after it: jco refuses it.
    const bad = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0xff]);
    const error = await prepareComponent(bad, stateDir, { maxPages: 1024, onProgress: (p) => phases.push(p) })
      .then(
        () => null,
        (e) => e,
      );
    assert(error !== null, "a broken component was prepared");
    assert(phases.join() === "transpile-start,transpile-end", phases.join());
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
