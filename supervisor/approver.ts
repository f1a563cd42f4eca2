/**
 * Approvals from the supervisor's side: the sandbox's `approval.request`
 * (a gate call that `[approvals] require` names, already allowed by its
 * grants) becomes a pending approval in the run store, bound to the digest of
 * the exact op and arguments, and waits for a decision from any process that
 * holds the store (the run's own prompt, `ironclaw approvals`, a server),
 * polling the store, at most `[approvals] timeout_s`; then it is `expired`,
 * a denial. The run's wall time pauses while it waits.
 *
 * @module
 */

import { IronclawError } from "../manifests/errors.ts";
import type { RunEvent } from "../protocol/protocol.ts";
import type { Approval, ApprovalDecision, ApprovalStore, DecideApproval, RunLease } from "./store/mod.ts";

/** How often a waiting call looks at the store for a decision, in ms. */
export const APPROVAL_POLL_MS = 250;

/**
 * Asks a person on a terminal: resolves with their decision, or null when they gave none (the signal aborts
 * once the approval was decided elsewhere or expired).
 */
export type ApprovalPrompt = (approval: Approval, signal: AbortSignal) => Promise<DecideApproval | null>;

/** Options of {@linkcode Approver}. */
export interface ApproverOptions {
  /** The run store: where approvals wait and are decided. */
  store: ApprovalStore;
  /** The run's lease: only the process that holds the run may ask. */
  lease: RunLease;
  /** `[approvals] timeout_s`: the longest one call waits. */
  timeoutS: number;
  /** The secret values the run holds: never written to the record or the store. */
  secrets: readonly string[];
  /** Records an event. */
  emit(event: RunEvent): void;
  /** The run's wall time: paused while a call waits. */
  wall: { pause(): void; resume(): void };
  /** Aborts when the run is over: a waiting approval then expires. */
  signal: AbortSignal;
  /** A prompt on the terminal, raced against decisions made through the store. */
  prompt?: ApprovalPrompt;
  /** How often to poll the store, in ms; default {@linkcode APPROVAL_POLL_MS}. */
  pollMs?: number;
}

/**
 * JSON with object keys sorted at every level: the same value always gives the same text.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./approver.ts";
 * if (canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }) !== '{"a":[{"c":3,"d":2}],"b":1}') throw new Error();
 * ```
 *
 * @param value Any JSON value.
 * @returns Its canonical JSON text.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The digest a decision is bound to: SHA-256 (hex) of the canonical JSON of `{op, args}`.
 *
 * @example
 * ```ts
 * import { approvalDigest } from "./approver.ts";
 * const a = await approvalDigest("fs.write", { path: "a", data: "x" });
 * const b = await approvalDigest("fs.write", { data: "x", path: "a" });
 * if (a !== b || a.length !== 64) throw new Error("same call, same digest");
 * ```
 *
 * @param op The gate op.
 * @param args Its exact arguments.
 * @returns 64 hex digits.
 */
export async function approvalDigest(op: string, args: Record<string, unknown>): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson({ op, args }));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The argument keys whose values are contents (a file's, a body, a program's input): only their size is kept. */
const CONTENTS: ReadonlySet<string> = new Set(["data", "body", "stdin"]);

/**
 * The arguments as an approval shows and stores them: every secret value replaced by `[redacted]` wherever it
 * appears, contents (`data`, `body`, `stdin`) as their size, long strings cut.
 *
 * @example
 * ```ts
 * import { redactApprovalArgs } from "./approver.ts";
 * const shown = redactApprovalArgs({ url: "https://a.example/?k=s3cret", body: "hi" }, ["s3cret"]);
 * if (JSON.stringify(shown) !== '{"url":"https://a.example/?k=[redacted]","body":"<2 chars>"}') throw new Error();
 * ```
 *
 * @param args The guest's arguments.
 * @param secrets The secret values the run holds.
 * @returns The redacted arguments.
 */
export function redactApprovalArgs(
  args: Record<string, unknown>,
  secrets: readonly string[],
): Record<string, unknown> {
  const clean = (v: unknown): unknown => {
    if (typeof v === "string") {
      const text = secrets.reduce((t, s) => (s ? t.replaceAll(s, "[redacted]") : t), v);
      return text.length > 500 ? `${text.slice(0, 500)}...` : text;
    }
    if (Array.isArray(v)) return v.slice(0, 64).map(clean);
    if (typeof v === "object" && v !== null) {
      return Object.fromEntries(Object.entries(v).slice(0, 64).map(([k, x]) => [k, clean(x)]));
    }
    return v;
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    out[k] = CONTENTS.has(k) ? (typeof v === "string" ? `<${v.length} chars>` : typeof v) : clean(v);
  }
  return out;
}

/** A failure of `approval.request`, as the sandbox's gate receives it. */
function denial(message: string, hint: string): IronclawError {
  return new IronclawError("ERR_APPROVAL_DENIED", message, { hint });
}

/** Waits `ms`, or until the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The approvals of one run. */
export class Approver {
  readonly #o: ApproverOptions;
  /** Digests approved with remember = run, and the approval that did it. */
  readonly #remembered = new Map<string, string>();

  /**
   * @param options The store, the run's lease, the timeout, the secrets, the wall time and the prompt.
   */
  constructor(options: ApproverOptions) {
    this.#o = options;
  }

  /**
   * Answers one `approval.request`: resolves once a person approved the exact call (or approved an identical
   * one with remember = run).
   *
   * @param request `{op, args}` as the sandbox sent them.
   * @returns How long the call waited, in ms.
   * @throws {IronclawError} `ERR_APPROVAL_DENIED` when denied, expired, or when the approval cannot be asked.
   */
  async request(request: Record<string, unknown>): Promise<{ approved: true; waitedMs: number }> {
    const { op, args } = request;
    if (typeof op !== "string" || typeof args !== "object" || args === null || Array.isArray(args)) {
      throw new IronclawError("ERR_INVALID_ARGS", "approval.request needs {op, args}", {
        hint: "this is a bug in the sandbox",
      });
    }
    const exact = args as Record<string, unknown>;
    const digest = await approvalDigest(op, exact);
    const earlier = this.#remembered.get(digest);
    if (earlier !== undefined) {
      this.#decided({ id: earlier, op, digest, state: "approved", decidedBy: null, remember: "run" }, {
        remembered: true,
        waitedMs: 0,
      });
      return { approved: true, waitedMs: 0 };
    }
    const shown = redactApprovalArgs(exact, this.#o.secrets);
    let asked: Approval;
    try {
      asked = await this.#o.store.requestApproval(this.#o.lease, { op, args: shown, digest });
    } catch (e) {
      throw denial(
        `The approval of "${op}" cannot be asked for: ${(e as Error).message}`,
        "see the run store",
      );
    }
    this.#o.emit({
      type: "approval-requested",
      approval: asked.id,
      op,
      args: shown,
      digest,
      timeoutS: this.#o.timeoutS,
    });
    const started = performance.now();
    this.#o.wall.pause();
    let final: Approval;
    try {
      final = await this.#wait(asked);
    } finally {
      this.#o.wall.resume();
    }
    const waitedMs = Math.round(performance.now() - started);
    this.#decided(final, { remembered: false, waitedMs });
    if (final.state !== "approved") throw this.#refusal(final);
    if (final.remember === "run") this.#remembered.set(digest, final.id);
    return { approved: true, waitedMs };
  }

  /** Polls the store (raced by the prompt, if any) until the approval is decided, or expires at timeout_s. */
  async #wait(asked: Approval): Promise<Approval> {
    const { store, signal } = this.#o;
    const end = Date.now() + this.#o.timeoutS * 1000;
    const prompting = new AbortController();
    this.#prompt(asked, prompting.signal);
    try {
      for (;;) {
        const now = await store.getApproval(asked.id).catch(() => asked);
        if (now.state !== "pending") return now;
        const left = end - Date.now();
        if (left <= 0 || signal.aborted) return await store.expireApproval(asked.id).catch(() => now);
        await sleep(Math.min(left, this.#o.pollMs ?? APPROVAL_POLL_MS), signal);
      }
    } finally {
      prompting.abort();
    }
  }

  /** Asks on the terminal, if there is one; the decision goes through the store, where the first decision wins. */
  #prompt(asked: Approval, signal: AbortSignal): void {
    const prompt = this.#o.prompt;
    if (!prompt) return;
    prompt(asked, signal).then(
      (d) => d && !signal.aborted ? this.#o.store.decideApproval(asked.id, d).then(() => {}) : undefined,
    ).catch(() => {/* decided elsewhere first, or the terminal went away: the store decides */});
  }

  #decided(
    a: Pick<Approval, "id" | "op" | "digest" | "state" | "decidedBy" | "remember">,
    how: { remembered: boolean; waitedMs: number },
  ): void {
    this.#o.emit({
      type: "approval-decided",
      approval: a.id,
      op: a.op,
      digest: a.digest,
      decision: a.state,
      by: how.remembered ? "remembered" : a.decidedBy,
      remember: a.remember,
      remembered: how.remembered,
      waitedMs: how.waitedMs,
    });
  }

  #refusal(a: Approval): IronclawError {
    if (a.state === "expired") {
      return denial(
        `No decision on "${a.op}" came within ${this.#o.timeoutS} s (approval "${a.id}"): denied`,
        "decide it in time with ironclaw approvals approve, or raise [approvals] timeout_s in the manifest",
      );
    }
    return denial(
      `A person denied "${a.op}" (approval "${a.id}"${a.decidedBy ? `, by "${a.decidedBy}"` : ""})`,
      "the call needs a person's approval ([approvals] require): ask again, or do without it",
    );
  }
}

/** A decision as a person or a server gives it, for {@linkcode decideApproval}. */
export interface ApprovalAnswer {
  /** The approval's id. */
  id: string;
  /** Approve or deny. */
  decision: ApprovalDecision;
  /** Who decides; default the OS user's name (USER, LOGNAME), else `cli`. */
  by?: string;
  /** `run`: identical calls are approved for the rest of the run without asking (approvals only). */
  remember?: "run";
}

/**
 * The name a decision is recorded under when none is given: the OS user's, else `cli`.
 *
 * @returns The name.
 */
export function deciderName(): string {
  const read = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // no permission to read it
    }
  };
  return read("USER") || read("LOGNAME") || "cli";
}

/**
 * Decides a pending approval in the run store, from any process (the waiting run sees it at its next poll).
 *
 * @example
 * ```ts ignore
 * import { decideApproval } from "./approver.ts";
 * import { openStore } from "./store/mod.ts";
 * const store = await openStore("state");
 * await decideApproval(store, { id: "ap_0123456789abcdef", decision: "approve", remember: "run" });
 * ```
 *
 * @param store The run store.
 * @param answer The approval's id, the decision, who makes it, and whether to remember it for the run.
 * @returns The approval as decided.
 * @throws {IronclawError} `ERR_NOT_FOUND` for an unknown id, `ERR_ALREADY_DECIDED` when it is not pending,
 *   `ERR_USAGE` for a malformed decision.
 */
export function decideApproval(
  store: Pick<ApprovalStore, "decideApproval">,
  answer: ApprovalAnswer,
): Promise<Approval> {
  return store.decideApproval(answer.id, {
    decision: answer.decision,
    by: answer.by ?? deciderName(),
    ...(answer.remember ? { remember: answer.remember } : {}),
  });
}
