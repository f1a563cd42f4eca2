/** `ironclaw approvals list|approve|deny`: the gate calls waiting for a person, decided from any process. */

import { printable } from "../manifests/errors.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { decideApproval } from "../supervisor/approver.ts";
import {
  type Approval,
  type ApprovalState,
  openConfiguredStore,
  type RunStore,
} from "../supervisor/store/mod.ts";
import {
  COMMON_OPTIONS,
  configOption,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw approvals`. */
export const APPROVALS_HELP = `List and decide the gate calls that wait for a person's approval

Examples:
  ironclaw approvals list --state pending
  ironclaw approvals approve ap_3fa2c19e0b7d4a61
  ironclaw approvals approve ap_3fa2c19e0b7d4a61 --remember run
  ironclaw approvals deny ap_3fa2c19e0b7d4a61
  ironclaw approvals list --json

Usage:
  ironclaw approvals list [--state pending|approved|denied|expired] [--run <id>] [--json]
  ironclaw approvals approve <id> [--remember run] [--json]
  ironclaw approvals deny <id> [--json]
  (each takes --config <file>)

  list     the approvals, oldest first: id, state, agent, op, arguments (redacted), digest
  approve  lets the call go ahead; --remember run approves identical calls (same digest) for the rest
           of the run without asking again
  deny     refuses it: the agent gets ERR_APPROVAL_DENIED

A manifest's [approvals] require names the calls that wait (after their grants allowed them), at most
[approvals] timeout_s; no decision by then is a denial ("expired"). The run's wall time pauses meanwhile.
A decision binds to the digest of the exact op and arguments, and is made once: the first one wins.
It is recorded with the OS user's name (USER), or "cli".
`;

const OPTIONS = {
  ...COMMON_OPTIONS,
  state: { type: "string" },
  run: { type: "string" },
  remember: { type: "string" },
} as const;

const STATES: readonly ApprovalState[] = ["pending", "approved", "denied", "expired"];

/**
 * One approval as a line of `list`.
 *
 * @param a The approval.
 * @param io Whether to colour.
 * @returns The line.
 */
export function approvalLine(a: Approval, io: Io): string {
  const s = styles(io);
  const state = a.state === "pending"
    ? s.bold(a.state)
    : a.state === "approved"
    ? s.green(a.state)
    : s.red(a.state);
  return `${a.id}  ${state.padEnd(8)}  ${printable(a.agent).padEnd(16)}  ${a.op.padEnd(14)}  ${
    printable(JSON.stringify(a.args)).slice(0, 80)
  }  ${s.dim(`run ${a.runId}, digest ${a.digest.slice(0, 12)}`)}\n`;
}

/**
 * Runs `ironclaw approvals`.
 *
 * @param args The arguments after `approvals`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function approvalsCommand(args: string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs(
      { args, options: OPTIONS, allowPositionals: true, strict: true },
      "approvals",
    );
    if (values.help) {
      io.out(APPROVALS_HELP);
      return 0;
    }
    const [sub, ...rest] = positionals;
    const shapeOk = (sub === "list" && rest.length === 0) ||
      ((sub === "approve" || sub === "deny") && rest.length === 1);
    if (!shapeOk) {
      throw new UsageError("Expected approvals list, approve <id> or deny <id>", "ironclaw help approvals");
    }
    if (values.state !== undefined && !STATES.includes(values.state as ApprovalState)) {
      throw new UsageError(`Invalid --state "${values.state}"`, `give one of ${STATES.join(", ")}`);
    }
    if (values.remember !== undefined && (values.remember !== "run" || sub !== "approve")) {
      throw new UsageError(`Invalid --remember "${values.remember}"`, "only approve takes --remember run");
    }
    const config = await loadRuntimeConfig(configOption(values));
    const store = await openConfiguredStore(config, { readOnly: sub === "list" });
    try {
      const json = values.json === true;
      if (sub === "list") {
        const filter = {
          ...(values.state !== undefined ? { state: values.state as ApprovalState } : {}),
          ...(values.run !== undefined ? { runId: values.run } : {}),
        };
        return await list(store, filter, { ...io, json });
      }
      return await decide(store, { id: rest[0]!, approve: sub === "approve", remember: values.remember }, {
        ...io,
        json,
      });
    } finally {
      await store.close();
    }
  } catch (e) {
    return reportError(io, e);
  }
}

async function list(
  store: RunStore,
  filter: { state?: ApprovalState; runId?: string },
  io: Io & { json: boolean },
): Promise<number> {
  const approvals = await store.listApprovals(filter);
  if (io.json) io.out(JSON.stringify(approvals) + "\n");
  else if (approvals.length === 0) io.err(`no ${filter.state ?? ""}${filter.state ? " " : ""}approvals\n`);
  else for (const a of approvals) io.out(approvalLine(a, io));
  return 0;
}

async function decide(
  store: RunStore,
  what: { id: string; approve: boolean; remember: string | undefined },
  io: Io & { json: boolean },
): Promise<number> {
  const decided = await decideApproval(store, {
    id: what.id,
    decision: what.approve ? "approve" : "deny",
    ...(what.remember === "run" ? { remember: "run" as const } : {}),
  });
  if (io.json) io.out(JSON.stringify(decided) + "\n");
  else {
    const remembered = decided.remember === "run" ? ", remembered for the run" : "";
    io.out(`${decided.id} ${decided.state} (${decided.op}, by ${decided.decidedBy}${remembered})\n`);
  }
  return 0;
}
