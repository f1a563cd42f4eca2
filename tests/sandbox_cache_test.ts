/**
 * The sandbox process gets a Deno cache folder of its own, empty, removed with
 * the run. So nothing in the caller's cache matters to it, and the storage Deno
 * grants without a permission (CacheStorage, localStorage, which persist under
 * the cache folder) cannot carry anything from one run to the next. Attacked
 * from Python, which reaches the sandbox's JavaScript globals.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { code, loopAgent, script } from "./_loops.ts";
import { run } from "./_sandbox.ts";

const WRITE = [
  "import js",
  "done = []",
  "try:",
  "    c = await js.caches.open('ironclaw-test')",
  "    await c.put('http://ironclaw.test/k', js.Response.new('left-by-run-1'))",
  "    done.append('caches')",
  "except Exception as e:",
  "    done.append('caches-error:' + str(e)[:40])",
  "try:",
  "    js.localStorage.setItem('k', 'left-by-run-1')",
  "    done.append('localStorage')",
  "except Exception as e:",
  "    done.append('localStorage-error:' + str(e)[:40])",
  "print('wrote', ' '.join(done))",
].join("\n");

const READ = [
  "import js",
  "found = []",
  "try:",
  "    c = await js.caches.open('ironclaw-test')",
  "    r = await c.match('http://ironclaw.test/k')",
  "    found.append('caches:' + ('none' if r is None or r == js.undefined else await r.text()))",
  "except Exception as e:",
  "    found.append('caches-error')",
  "try:",
  "    v = js.localStorage.getItem('k')",
  "    found.append('localStorage:' + (v if isinstance(v, str) else 'none'))",
  "except Exception as e:",
  "    found.append('localStorage-error')",
  "print('found', ' '.join(found))",
].join("\n");

Deno.test("nothing a sandbox stores without a permission reaches the next run", async () => {
  await using agent = await loopAgent({
    kind: "codeact",
    language: "python",
    turns: [],
    extra: "\n[limits]\nmemory_mb = 256\ntimeout_s = 120\nstep_timeout_s = 30\n",
  });
  await script(agent, [
    { reply: code("python", WRITE) },
    { expect: { lastRole: "user", contains: "wrote" }, reply: { content: "stored" } },
  ]);
  const first = await run(agent, "go");
  assert.equal(first.outcome.state, "ok", JSON.stringify(first.outcome.error));
  const wrote = JSON.stringify(first.events.filter((e) => e.type === "code" || e.type === "step"));
  // CacheStorage exists inside a run (so the second run's "none" means something); localStorage does not exist
  // at all in the interpreter's Worker.
  assert.match(wrote, /wrote caches localStorage-error/, wrote);

  await script(agent, [
    { reply: code("python", READ) },
    {
      expect: { lastRole: "user", contains: "found caches:none localStorage-error" },
      reply: { content: "nothing left" },
    },
  ]);
  const second = await run(agent, "go");
  assert.equal(
    second.outcome.state,
    "ok",
    JSON.stringify([
      second.outcome.error,
      second.events.filter((e) => e.type === "code" || e.type === "step"),
    ]),
  );
  assert.equal(second.outcome.output, "nothing left");
  // Each run's cache folder went with it.
  const left = [];
  try {
    for await (const e of Deno.readDir(join(agent.dir, "state", "sandbox-cache"))) left.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  assert.deepEqual(left, []);
});
