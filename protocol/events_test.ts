import assert from "node:assert/strict";
import { join } from "node:path";
import { isRunEventType, RUN_EVENTS, SUPERVISOR_EVENTS } from "./events.ts";
import { EVENT_MARKERS, withEventTable } from "./write_event_docs.ts";
import { ROOT, runCli } from "../tests/_cli.ts";

/** A Markdown table's rows with the padding `deno fmt` adds taken out. */
function rows(text: string): string[] {
  return text.split("\n").filter((l) => l.startsWith("|")).map((l) =>
    l.replace(/\s+/g, " ").replace(/-{3,}/g, "---").trim()
  );
}

Deno.test("docs/protocol.md's event table is the one RUN_EVENTS makes (deno task docs)", async () => {
  const doc = await Deno.readTextFile(join(ROOT, "docs", "protocol.md"));
  const between = (text: string) =>
    text.slice(text.indexOf(EVENT_MARKERS[0]), text.indexOf(EVENT_MARKERS[1]));
  assert.deepEqual(rows(between(doc)), rows(between(withEventTable(doc))), "run `deno task docs`");
});

Deno.test("the supervisor-only events are exactly those RUN_EVENTS marks so", () => {
  for (const [type, spec] of Object.entries(RUN_EVENTS)) {
    assert.equal(SUPERVISOR_EVENTS.has(type), spec.from === "supervisor", type);
  }
  assert.ok(SUPERVISOR_EVENTS.has("end") && SUPERVISOR_EVENTS.has("model") && !SUPERVISOR_EVENTS.has("gate"));
});

Deno.test("real runs record only event types of RUN_EVENTS", async (t) => {
  for (const example of ["hello", "wasi-wordcount", "codeact-data", "react-files"]) {
    await t.step(example, async () => {
      const r = await runCli([
        "run",
        join(ROOT, "examples", example, "agent.toml"),
        "--task",
        "go",
        "--json",
      ]);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.ok(lines.length > 3, r.stderr);
      const unknown = lines.map((e: { type: string }) => e.type).filter((type: string) =>
        !isRunEventType(type)
      );
      assert.deepEqual(unknown, []);
    });
  }
});
