/**
 * The approval prompt of `ironclaw run` on a terminal (standard input and
 * error are terminals, and not `--json`): each gate call that waits for a
 * person is shown with its op, redacted arguments and digest, and the person
 * answers approve, deny or remember for the run. The prompt races decisions
 * made through the store (`ironclaw approvals`): the first decision wins, and
 * a prompt whose approval was decided elsewhere stops asking.
 *
 * @module
 */

import { printable } from "../manifests/errors.ts";
import type { ApprovalPrompt } from "../supervisor/approver.ts";
import type { Approval, DecideApproval } from "../supervisor/store/mod.ts";
import { deciderName } from "../supervisor/approver.ts";

/**
 * What the prompt shows of one approval.
 *
 * @param a The approval.
 * @returns The text, ending with the question.
 */
export function approvalPromptText(a: Approval): string {
  return `\napproval ${a.id}: the agent "${printable(a.agent)}" asks to ${a.op}\n` +
    `  args    ${printable(JSON.stringify(a.args))}\n` +
    `  digest  ${a.digest}\n` +
    `  (or decide elsewhere: ironclaw approvals approve|deny ${a.id})\n` +
    `[a]pprove, [d]eny, or [r]emember for the run? `;
}

/**
 * Reads one answer of the prompt.
 *
 * @param line What the person typed.
 * @param by Who decides.
 * @returns The decision, or null when the answer is not one of the choices (ask again).
 */
export function parseApprovalAnswer(line: string, by: string): DecideApproval | null {
  const word = line.trim().toLowerCase();
  if (["a", "approve", "y", "yes"].includes(word)) return { decision: "approve", by };
  if (["r", "remember"].includes(word)) return { decision: "approve", by, remember: "run" };
  if (["d", "deny", "n", "no"].includes(word)) return { decision: "deny", by };
  return null;
}

/** Splits text into lines (without their line ends). */
function splitLines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split(/\r?\n/);
      rest = parts.pop() ?? "";
      for (const line of parts) controller.enqueue(line);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}

/** The lines typed on standard input, read once started, each handed to the prompt that waits for one. */
class TerminalLines {
  #waiter: ((line: string | null) => void) | null = null;
  #ended = false;
  #started = false;
  readonly #source: () => ReadableStream<string>;

  constructor(source: () => ReadableStream<string>) {
    this.#source = source;
  }

  /** The next line, or null at the end of input or when the signal aborts. */
  next(signal: AbortSignal): Promise<string | null> {
    this.#start();
    if (this.#ended || signal.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiter = resolve;
      signal.addEventListener("abort", () => {
        if (this.#waiter !== resolve) return;
        this.#waiter = null;
        resolve(null);
      }, { once: true });
    });
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    (async () => {
      try {
        for await (const line of this.#source()) {
          const waiter = this.#waiter; // a line typed while no prompt waits is dropped
          this.#waiter = null;
          waiter?.(line);
        }
      } catch { /* the terminal went away */ }
      this.#ended = true;
      this.#waiter?.(null);
    })();
  }
}

/**
 * The prompt of a run: one question at a time, on standard error, answered on standard input.
 *
 * @param write Writes to standard error.
 * @param options The lines typed (default standard input's) and who decides (default the OS user).
 * @returns The prompt for {@linkcode RunOptions.approvalPrompt}.
 */
export function terminalPrompt(
  write: (text: string) => void,
  options: { lines?: () => ReadableStream<string>; by?: string } = {},
): ApprovalPrompt {
  const lines = new TerminalLines(
    options.lines ??
      (() => Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())),
  );
  const by = options.by ?? deciderName();
  let turn: Promise<unknown> = Promise.resolve();
  return (approval, signal) => {
    const asked = turn.then(async () => {
      while (!signal.aborted) {
        write(approvalPromptText(approval));
        const line = await lines.next(signal);
        if (line === null) break;
        const answer = parseApprovalAnswer(line, by);
        if (answer) return answer;
        write("please answer a, d or r\n");
      }
      if (signal.aborted) write(`\napproval ${approval.id} was decided elsewhere, or expired\n`);
      return null;
    });
    turn = asked.catch(() => {});
    return asked;
  };
}
