/**
 * Approvals in the run store: the types both backends share, and the errors
 * they raise. A gate call that `[approvals] require` names is stored as a
 * pending approval, bound to the digest of its exact op and arguments; any
 * process holding the store (the run's own prompt, `ironclaw approvals`, a
 * server) may decide it once.
 *
 * @module
 */

import { IronclawError } from "../../manifests/errors.ts";

/** Where an approval is: waiting, or decided one way, or expired (no decision within `timeout_s`: a denial). */
export type ApprovalState = "pending" | "approved" | "denied" | "expired";

/** A person's decision. */
export type ApprovalDecision = "approve" | "deny";

/** One approval, as the store keeps it. */
export interface Approval {
  /** Its id (`ap_` and random letters). */
  id: string;
  /** The run that asked. */
  runId: string;
  /** The run's agent. */
  agent: string;
  /** The gate op, such as `fs.write`. */
  op: string;
  /** Its arguments, redacted (no secret value, no file contents). */
  args: Record<string, unknown>;
  /** The SHA-256 (hex) of the canonical JSON of `{op, args}` as the guest sent them: what a decision binds to. */
  digest: string;
  /** Its state. */
  state: ApprovalState;
  /** ISO time of the request. */
  requested: string;
  /** ISO time of the decision, or null while pending. */
  decided: string | null;
  /** Who decided (a user name, `cli`, `timeout`), or null while pending. */
  decidedBy: string | null;
  /** `run` when the approval holds for identical calls for the rest of the run. */
  remember: "run" | null;
}

/** What a run asks to be approved. */
export interface ApprovalRequest {
  /** The gate op. */
  op: string;
  /** Its arguments, already redacted. */
  args: Record<string, unknown>;
  /** The digest of the exact op and arguments. */
  digest: string;
}

/** A decision, for {@linkcode ApprovalStore.decideApproval}. */
export interface DecideApproval {
  /** Approve or deny. */
  decision: ApprovalDecision;
  /** Who decides. */
  by: string;
  /** `run`: identical calls (same digest) are approved for the rest of the run (approvals only). */
  remember?: "run";
}

/** Filters of {@linkcode ApprovalStore.listApprovals}. */
export interface ApprovalFilter {
  /** Only approvals in this state. */
  state?: ApprovalState;
  /** Only approvals of this run. */
  runId?: string;
}

/** The approval methods of a run store. */
export interface ApprovalStore {
  /**
   * Stores a pending approval of a run the caller holds.
   *
   * @throws {IronclawError} `ERR_LOST` when the lease was lost, `ERR_STORE` when the store cannot be written.
   */
  requestApproval(
    lease: { readonly id: string; readonly fence: number },
    request: ApprovalRequest,
  ): Promise<Approval>;
  /**
   * Decides a pending approval, once: of two deciders racing, exactly one wins.
   *
   * @throws {IronclawError} `ERR_NOT_FOUND` for an unknown id, `ERR_ALREADY_DECIDED` when it is not pending.
   */
  decideApproval(id: string, decision: DecideApproval): Promise<Approval>;
  /**
   * Marks a pending approval `expired` (a denial by time); an approval decided meanwhile is left as it is.
   *
   * @returns The approval as it now stands.
   * @throws {IronclawError} `ERR_NOT_FOUND` for an unknown id.
   */
  expireApproval(id: string): Promise<Approval>;
  /** Approvals, oldest first, with their run's agent. */
  listApprovals(filter?: ApprovalFilter): Promise<Approval[]>;
  /**
   * One approval.
   *
   * @throws {IronclawError} `ERR_NOT_FOUND` for an unknown id.
   */
  getApproval(id: string): Promise<Approval>;
}

/** A row of `approvals` joined with its run's agent. */
export interface ApprovalRow {
  id: string;
  run_id: string;
  agent: string;
  op: string;
  args: string;
  digest: string;
  state: string;
  requested: string;
  decided: string | null;
  decided_by: string | null;
  remember: string | null;
}

/**
 * A row as the approval the store answers.
 *
 * @param r The row.
 * @returns The approval.
 */
export function approvalOf(r: ApprovalRow): Approval {
  return {
    id: r.id,
    runId: r.run_id,
    agent: r.agent,
    op: r.op,
    args: JSON.parse(r.args) as Record<string, unknown>,
    digest: r.digest,
    state: r.state as ApprovalState,
    requested: r.requested,
    decided: r.decided,
    decidedBy: r.decided_by,
    remember: r.remember === "run" ? "run" : null,
  };
}

/**
 * A new approval id.
 *
 * @returns `ap_` and 16 random hex digits.
 */
export function newApprovalId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "ap_" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Checks a decision before it reaches the database.
 *
 * @param d The decision.
 * @throws {IronclawError} `ERR_USAGE` for a decision that is neither approve nor deny, or a remembered denial.
 */
export function checkDecision(d: DecideApproval): void {
  if (d.decision !== "approve" && d.decision !== "deny") {
    throw new IronclawError("ERR_USAGE", `Unknown decision "${String(d.decision)}"`, {
      hint: 'decide "approve" or "deny"',
    });
  }
  if (d.remember !== undefined && (d.remember !== "run" || d.decision !== "approve")) {
    throw new IronclawError("ERR_USAGE", `Cannot remember "${String(d.remember)}" for a ${d.decision}`, {
      hint: 'remember = "run" goes with an approval only',
    });
  }
}

/**
 * The `ERR_NOT_FOUND` of an unknown approval id.
 *
 * @param id The id.
 * @returns The error.
 */
export function approvalNotFound(id: string): IronclawError {
  return new IronclawError("ERR_NOT_FOUND", `No approval "${id}"`, {
    hint: "ironclaw approvals list shows the approvals",
  });
}

/**
 * The `ERR_ALREADY_DECIDED` of an approval that is not pending.
 *
 * @param a The approval as it stands.
 * @returns The error.
 */
export function alreadyDecided(a: Approval): IronclawError {
  return new IronclawError(
    "ERR_ALREADY_DECIDED",
    `The approval "${a.id}" is already ${a.state}${a.decidedBy ? ` (by "${a.decidedBy}")` : ""}`,
    { hint: "a decision is made once; ironclaw approvals list --state pending shows those still waiting" },
  );
}
