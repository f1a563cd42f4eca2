/** Writing a bench's section of bench/RESULTS.md. */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RESULTS = join(fileURLToPath(new URL(".", import.meta.url)), "RESULTS.md");

/**
 * Writes a section of bench/RESULTS.md: it replaces the section under the same heading (its first line, up to
 * the next `## `), else goes before the section headed `before` when there is one, else at the end.
 *
 * @param section The section's text, its `## ` heading first.
 * @param options The heading (its start) of the section to put a new one before.
 */
export async function writeSection(section: string, options: { before?: string } = {}): Promise<void> {
  const text = await Deno.readTextFile(RESULTS).catch(() => "# Benchmarks\n");
  const head = section.slice(0, section.indexOf("\n"));
  const body = section.endsWith("\n") ? section : `${section}\n`;
  const at = text.indexOf(head);
  if (at >= 0) {
    const next = text.indexOf("\n## ", at + head.length);
    return await Deno.writeTextFile(
      RESULTS,
      text.slice(0, at) + body + (next < 0 ? "" : text.slice(next + 1)),
    );
  }
  const before = options.before === undefined ? -1 : text.indexOf(options.before);
  await Deno.writeTextFile(
    RESULTS,
    before < 0 ? `${text.trimEnd()}\n\n${body}` : `${text.slice(0, before)}${body}\n${text.slice(before)}`,
  );
}
