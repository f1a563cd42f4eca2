/**
 * `deno task docs`: writes the event table of `docs/protocol.md` from
 * {@linkcode RUN_EVENTS}, between its `events:begin` and `events:end` markers.
 *
 * @module
 */

import { eventTableMarkdown } from "./events.ts";

/** The markers around the generated table. */
export const EVENT_MARKERS = ["<!-- events:begin -->", "<!-- events:end -->"] as const;

/**
 * The document with its event table replaced by the generated one.
 *
 * @param doc The text of `docs/protocol.md`.
 * @returns The new text.
 * @throws {Error} When the markers are missing.
 */
export function withEventTable(doc: string): string {
  const [begin, end] = EVENT_MARKERS;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from < 0 || to < from) throw new Error(`docs/protocol.md lacks the markers ${begin} ... ${end}`);
  return `${doc.slice(0, from + begin.length)}\n\n${eventTableMarkdown()}\n\n${doc.slice(to)}`;
}

if (import.meta.main) {
  const url = new URL("../docs/protocol.md", import.meta.url);
  Deno.writeTextFileSync(url, withEventTable(Deno.readTextFileSync(url)));
}
