import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isRunEventType, RUN_EVENTS, SUPERVISOR_EVENTS } from "./events.ts";
import { EVENT_MARKERS, withEventTable } from "./write_event_docs.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

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
  const state = await Deno.makeTempDir();
  try {
    for (const example of ["hello", "wasi-wordcount", "codeact-data", "react-files"]) {
      await t.step(example, async () => {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--quiet",
            join(ROOT, "mod.ts"),
            "run",
            join(ROOT, "examples", example, "agent.toml"),
          ]
            .concat(["--task", "go", "--json"]),
          env: { NO_COLOR: "1", XDG_STATE_HOME: state },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
        assert.ok(lines.length > 3, new TextDecoder().decode(out.stderr));
        const unknown = lines.map((e: { type: string }) => e.type).filter((type: string) =>
          !isRunEventType(type)
        );
        assert.deepEqual(unknown, []);
      });
    }
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
