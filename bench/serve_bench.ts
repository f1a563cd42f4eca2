/**
 * 100 runs submitted at once to `ironclaw serve` (issue 12): the shipped hello agent (its manifest as shipped,
 * `timeout_s` included), posted in one burst over HTTP on loopback to a server with the default concurrency;
 * every run must end `ok`. Prints how many did, the time to the last end, and runs per second; writes the
 * "Runs submitted at once" section of bench/RESULTS.md.
 *
 * `deno run -A bench/serve_bench.ts [runs]` (default 100).
 *
 * @module
 */

import { join } from "node:path";
import { parseRuntimeConfig } from "../manifests/runtime_config.ts";
import { copyHello } from "./_hello.ts";
import { startServer } from "../supervisor/serve/mod.ts";
import { writeSection } from "./_results.ts";

const RUNS = Number(Deno.args[0] ?? 100);

const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-bench-serve-" }));
await copyHello(join(root, "agents", "hello"));
const config = parseRuntimeConfig(`[runtime]\nstate_dir = "state"\n`, { path: join(root, "ironclaw.toml") });
const server = await startServer({ config, agentsDir: join(root, "agents"), port: 0 });
const auth = { authorization: `Bearer ${server.token}`, "content-type": "application/json" };
try {
  // One run first, so the component is in the cache as for every later run.
  const warm = await (await fetch(`${server.url}/v1/runs`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ agent: "hello", task: "warm" }),
  })).json();
  await follow(warm.id);
  const started = performance.now();
  const posted = await Promise.all(Array.from({ length: RUNS }, (_, i) =>
    fetch(`${server.url}/v1/runs`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ agent: "hello", task: `run ${i}` }),
    }).then((r) => r.json())));
  const ends = await Promise.all(posted.map((p) => follow(p.id)));
  const seconds = (performance.now() - started) / 1000;
  const ok = ends.filter((s) => s === "ok").length;
  const states = Object.entries(
    ends.reduce<Record<string, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {}),
  ).map(([s, n]) => `${n} ${s}`).join(", ");
  const line = `| ${RUNS} runs of hello posted at once, concurrency ${server.concurrency} | ${states} | ${
    seconds.toFixed(1)
  } s | ${(RUNS / seconds).toFixed(2)} |`;
  console.log(line);
  const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
  const section = `## Runs submitted at once (\`deno run -A bench/serve_bench.ts\`)\n\n` +
    `Run ${stamp} UTC, ${navigator.hardwareConcurrency} cores: the shipped hello agent, posted in one burst to ` +
    `\`ironclaw serve\` (library entry, loopback HTTP, default concurrency: twice the cores); the rest wait ` +
    `queued, which \`timeout_s\` does not count.\n\n| what | end states | to the last end | runs per second |\n` +
    `| --- | --- | --- | --- |\n${line}\n`;
  await writeSection(section, { before: "## Loops" });
  if (ok !== RUNS) Deno.exitCode = 1;
} finally {
  await server.close({ stop: true });
  await Deno.remove(root, { recursive: true });
}

/** Follows a run's events to its end; its end state. */
async function follow(id: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/runs/${id}/events`, { headers: auth });
  const text = await res.text();
  const end = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)))
    .find((e) => e.type === "end");
  return String(end?.state ?? "no end");
}
