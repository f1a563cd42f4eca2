/**
 * Run records: every run gets an id and an append-only event log
 * (`<state_dir>/runs/<id>/events.jsonl`), written line by line as events
 * arrive, plus a small `run.json` summary.
 *
 * @module
 */

import { join } from "node:path";
import { IronclawError } from "../manifests/errors.ts";
import type { RunEvent } from "../protocol/protocol.ts";

/** The summary of one run, as `run.json` holds it. */
export interface RunSummary {
  /** The run's id: sortable by start time. */
  id: string;
  /** The agent's name. */
  agent: string;
  /** The manifest's absolute path. */
  manifest: string;
  /** The task given. */
  task: string;
  /** ISO start time. */
  started: string;
  /** ISO end time, or null while running (or when the supervisor died). */
  ended: string | null;
  /** End state, or "running". */
  state: string;
  /** The exit code `ironclaw run` gave. */
  exitCode: number | null;
}

/** A new run id: UTC start time and a random suffix, so ids sort by start. */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const rand = crypto.getRandomValues(new Uint8Array(3));
  return `${stamp}-${[...rand].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The append-only record of one run. */
export class RunRecord {
  readonly #dir: string;
  readonly #file: Deno.FsFile;
  readonly #summary: RunSummary;
  readonly #started = performance.now();
  #seq = 0;
  #closed = false;

  private constructor(dir: string, file: Deno.FsFile, summary: RunSummary) {
    this.#dir = dir;
    this.#file = file;
    this.#summary = summary;
  }

  /**
   * Creates the run's folder and log.
   *
   * @param stateDir The runtime's state folder.
   * @param summary What is known at the start.
   * @returns The open record.
   */
  static create(stateDir: string, summary: Omit<RunSummary, "ended" | "state" | "exitCode">): RunRecord {
    const dir = join(stateDir, "runs", summary.id);
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = Deno.openSync(join(dir, "events.jsonl"), { create: true, append: true, mode: 0o600 });
    const record = new RunRecord(dir, file, { ...summary, ended: null, state: "running", exitCode: null });
    record.#writeSummary();
    return record;
  }

  /** The run's folder. */
  get dir(): string {
    return this.#dir;
  }

  /**
   * Appends an event, stamped with a sequence number and milliseconds since the start.
   * Written through at once: what was appended survives a crash of either process.
   *
   * @param event The event.
   * @returns The event as written.
   */
  append(event: RunEvent): RunEvent {
    // The stamps come first and cannot be overwritten by an event's own fields (the sandbox is not trusted).
    const seq = this.#seq++;
    const ms = Math.round((performance.now() - this.#started) * 10) / 10;
    const stamped = Object.assign({ seq, ms, ...event }, { seq, ms });
    if (this.#closed) return stamped;
    const bytes = new TextEncoder().encode(JSON.stringify(stamped) + "\n");
    let n = 0;
    while (n < bytes.length) n += this.#file.writeSync(bytes.subarray(n));
    return stamped;
  }

  /**
   * Writes the end state and closes the log.
   *
   * @param state The end state.
   * @param exitCode The exit code of `ironclaw run`.
   */
  close(state: string, exitCode: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#summary.state = state;
    this.#summary.exitCode = exitCode;
    this.#summary.ended = new Date().toISOString();
    this.#file.close();
    this.#writeSummary();
  }

  #writeSummary() {
    const tmp = join(this.#dir, `run.json.${crypto.randomUUID()}.tmp`);
    Deno.writeTextFileSync(tmp, JSON.stringify(this.#summary, null, 2) + "\n", { mode: 0o600 });
    Deno.renameSync(tmp, join(this.#dir, "run.json"));
  }
}

/**
 * The runs recorded in a state folder, newest first.
 *
 * @param stateDir The runtime's state folder.
 * @returns Their summaries; a run whose summary is unreadable is listed with state "unreadable".
 */
export async function listRuns(stateDir: string): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  try {
    for await (const e of Deno.readDir(join(stateDir, "runs"))) {
      if (!e.isDirectory) continue;
      out.push(await readSummary(stateDir, e.name));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => b.id.localeCompare(a.id));
}

async function readSummary(stateDir: string, id: string): Promise<RunSummary> {
  try {
    return JSON.parse(await Deno.readTextFile(join(stateDir, "runs", id, "run.json")));
  } catch {
    return {
      id,
      agent: "?",
      manifest: "?",
      task: "",
      started: "",
      ended: null,
      state: "unreadable",
      exitCode: null,
    };
  }
}

/**
 * One run's summary and events.
 *
 * @param stateDir The runtime's state folder.
 * @param id The run's id, or a unique prefix of it.
 * @returns The summary and every event; a torn last line (a crash mid-write) is skipped.
 * @throws {IronclawError} `ERR_NOT_FOUND` when no run matches, `ERR_USAGE` when several do.
 */
export async function showRun(
  stateDir: string,
  id: string,
): Promise<{ summary: RunSummary; events: RunEvent[] }> {
  const runs = await listRuns(stateDir);
  const matches = runs.filter((r) => r.id === id || r.id.startsWith(id));
  const exact = runs.find((r) => r.id === id);
  const run = exact ?? (matches.length === 1 ? matches[0] : undefined);
  if (!run) {
    if (matches.length > 1) {
      throw new IronclawError("ERR_USAGE", `"${id}" matches ${matches.length} runs`, {
        hint: "give more of the id",
      });
    }
    throw new IronclawError("ERR_NOT_FOUND", `No run "${id}" in "${stateDir}"`, {
      hint: "ironclaw runs list shows the runs",
    });
  }
  const text = await Deno.readTextFile(join(stateDir, "runs", run.id, "events.jsonl")).catch(() => "");
  const events: RunEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line));
    } catch { /* a torn last line */ }
  }
  return { summary: run, events };
}
