/**
 * The routes of `ironclaw serve`: each answers one method on one path of
 * the API (see `openapi.ts`, which documents the same set).
 *
 * @module
 */

import type { Policy } from "../../capabilities/policy.ts";
import { grantsSummary } from "../../capabilities/grants_summary.ts";
import type { SandboxPool } from "../pool.ts";
import { taskProblem } from "../../capabilities/task_rule.ts";
import { approvalRuleNames } from "../../capabilities/approvals.ts";
import { explainDenoFlags } from "../../capabilities/deno_flags.ts";
import { IronclawError } from "../../manifests/errors.ts";
import type { RuntimeConfig } from "../../manifests/runtime_config.ts";
import { planAgent } from "../plan.ts";
import { newRunId } from "../records.ts";
import type { Approval, ApprovalState, RunStore, RunSummary } from "../store/mod.ts";
import { abortableSleep } from "../store/sqlite.ts";
import { checkTaskBytes } from "../supervisor.ts";
import type { WorkerHandle } from "../worker.ts";
import { json, readJson } from "./_http.ts";
import { bearerMatches } from "./auth.ts";
import { checkSameOrigin, sessionCookie, type SessionTable } from "./session.ts";
import { openApiDocument } from "./openapi.ts";
import { type EventBell, runEventStream } from "./sse.ts";

/** An agent the server runs: its manifest and the Policy read at start. */
export interface ServedAgent {
  /** The manifest's absolute path. */
  manifest: string;
  /** Its Policy. */
  policy: Policy;
}

/** What the routes answer from. */
export interface ServeContext {
  /** The store of runs and the queue. */
  store: RunStore;
  /** Which backend it is. */
  storeKind: "sqlite" | "postgres";
  /** The in-process worker. */
  worker: WorkerHandle;
  /** The served agents, by name. */
  agents: ReadonlyMap<string, ServedAgent>;
  /** Rung on every event this server's worker records (event streams look at once). */
  bell?: EventBell;
  /** Their warm sandboxes (`[serve] pool`), or null. */
  pool?: SandboxPool | null;
  /** IronClaw's version. */
  version: string;
  /** Aborted when the server stops: event streams end. */
  closing: AbortSignal;
  /** How often a quiet event stream sends a comment, in ms. */
  heartbeatMs?: number;
  /** Who decides approvals through the API, as recorded; default `api` (`dashboard` for a signed-in page). */
  decider?: string;
  /** The runtime config in force: `GET /v1/agents/{name}` plans a check of the agent with it. */
  config: RuntimeConfig;
  /** The bearer token, which signing in (`POST /v1/session`) takes once. */
  token: string;
  /** The dashboard's sessions. */
  sessions: SessionTable;
  /** Each agent's `ironclaw check` explanation, made on first request. */
  checks?: Map<string, Promise<Record<string, unknown>>>;
}

/** One request, as a route sees it. */
export interface RouteRequest {
  /** The request. */
  req: Request;
  /** Its URL. */
  url: URL;
  /** The path's parameters (`id`). */
  params: Record<string, string>;
  /** How the request was authenticated: by its bearer token or by a dashboard session's cookie. */
  auth?: "bearer" | "session";
}

/** A route's handler. */
export type Handler = (ctx: ServeContext, r: RouteRequest) => Promise<Response>;

/** The states a run can be in, for `GET /v1/runs?state=`. */
const STATES = ["queued", "running", "ok", "error", "timeout", "oom", "interrupted", "lost"];
/** How many runs `GET /v1/runs` answers by default, and at most. */
const LIST_DEFAULT = 50;
const LIST_MAX = 1000;

function invalid(message: string, hint: string): IronclawError {
  return new IronclawError("ERR_INVALID_ARGS", message, { hint });
}

/** A summary as the API shows it: without the manifest's path, which is the server's business. */
function shown(s: RunSummary): Omit<RunSummary, "manifest"> {
  const { manifest: _, ...rest } = s;
  return rest;
}

const health: Handler = async (ctx) => {
  const queued = (await ctx.store.listRuns({ state: "queued" })).filter((r) => ctx.agents.has(r.agent));
  return json({
    ok: true,
    version: ctx.version,
    store: ctx.storeKind,
    running: ctx.worker.running,
    queued: queued.length,
  });
};

const openapi: Handler = (ctx) => Promise.resolve(json(openApiDocument(ctx.version)));

const agents: Handler = (ctx) => {
  const list = [...ctx.agents.values()].map(({ policy }) => ({
    ...agentSummary(policy),
    pool: ctx.pool?.stats(policy.agent.name) ?? null,
  }));
  return Promise.resolve(json(list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))));
};

/** What the API tells of every served agent. */
function agentSummary(policy: ServedAgent["policy"]) {
  return {
    name: policy.agent.name,
    version: policy.agent.version,
    kind: policy.agent.kind,
    description: policy.agent.description,
    task: policy.agent.task,
    grants: grantsSummary(policy),
    limits: policy.limits,
  };
}

/** The agent of a `{name}` parameter, or `ERR_NOT_FOUND`. */
function servedAgent(ctx: ServeContext, name: string): ServedAgent {
  const served = ctx.agents.get(name);
  if (!served) {
    throw new IronclawError("ERR_NOT_FOUND", `No agent "${name}" is served here`, {
      hint: "GET /v1/agents lists the served agents, by their [agent] name",
    });
  }
  return served;
}

/** What `ironclaw check --json` tells of an agent: its approvals, sandbox command and each flag's reason. */
async function checkOf(ctx: ServeContext, served: ServedAgent): Promise<Record<string, unknown>> {
  const { policy } = served;
  const plan = await planAgent({ policy }, ctx.config, { check: true });
  return {
    ...agentSummary(policy),
    approvals: { require: approvalRuleNames(policy.approvals.require), timeout_s: policy.approvals.timeoutS },
    command: plan.command,
    explain: explainDenoFlags(policy, { runtime: plan.paths }).map((f) => ({
      flag: f.flag,
      why: f.why,
      from: f.from.map((o) => ({ source: o.source, line: o.line, key: o.key })),
    })),
  };
}

const showAgent: Handler = async (ctx, { params }) => {
  const served = servedAgent(ctx, params.name!);
  ctx.checks ??= new Map();
  let check = ctx.checks.get(params.name!);
  if (!check) {
    check = checkOf(ctx, served);
    ctx.checks.set(params.name!, check);
    check.catch(() => ctx.checks?.delete(params.name!)); // a failed plan is tried again next time
  }
  return json(await check);
};

/** The fields of `POST /v1/runs`, checked: only `agent` and `task`, of the right types. */
function newRunFields(body: unknown): { agent: string; task: string | undefined } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("The request body is not a JSON object", 'send {"agent": "NAME", "task": "..."}');
  }
  for (const key of Object.keys(body)) {
    if (key !== "agent" && key !== "task") {
      throw invalid(
        `The field "${key}" is not taken`,
        'a run names a served agent ("agent", see GET /v1/agents) and its "task"; manifests, paths and modules are the server\'s own',
      );
    }
  }
  const { agent, task } = body as Record<string, unknown>;
  if (typeof agent !== "string") throw invalid('The field "agent" is not a string', "give an agent's name");
  if (task !== undefined && typeof task !== "string") {
    throw invalid('The field "task" is not a string', 'give the task as text, or leave "task" out');
  }
  return { agent, task };
}

const postRun: Handler = async (ctx, { req }) => {
  const { agent, task } = newRunFields(await readJson(req));
  const served = servedAgent(ctx, agent);
  const problem = taskProblem(served.policy, task, { give: '"task": "..."', omit: 'the "task" field' });
  if (problem) throw new IronclawError("ERR_USAGE", problem.message, { hint: problem.hint });
  checkTaskBytes(task ?? "");
  const id = newRunId();
  await ctx.store.enqueueRun({
    id,
    agent,
    manifest: served.manifest,
    task: task ?? "",
    started: new Date().toISOString(),
    retries: served.policy.limits.retries,
  });
  ctx.worker.wake();
  return json({ id, state: "queued" }, { status: 201, headers: { location: `/v1/runs/${id}` } });
};

/** The `limit` of `GET /v1/runs`. */
function listLimit(text: string | null): number {
  if (text === null) return LIST_DEFAULT;
  const n = /^[0-9]{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= LIST_MAX)) {
    throw invalid(`"${text}" is not a limit`, `give limit from 1 to ${LIST_MAX} (default ${LIST_DEFAULT})`);
  }
  return n;
}

const listRuns: Handler = async (ctx, { url }) => {
  const q = url.searchParams;
  for (const key of q.keys()) {
    if (!["agent", "state", "limit", "before"].includes(key)) {
      throw invalid(`The query parameter "${key}" is not taken`, "filter by agent, state, limit and before");
    }
  }
  const before = q.get("before");
  if (before !== null && !/^[0-9A-Za-z_-]{1,100}$/.test(before)) {
    throw invalid(`"${before}" is not a run id`, "give the id of the last run of the page before");
  }
  const state = q.get("state");
  if (state !== null && !STATES.includes(state)) {
    throw invalid(`"${state}" is not a run state`, `give one of ${STATES.join(", ")}`);
  }
  const agent = q.get("agent");
  const runs = await ctx.store.listRuns({
    ...(agent !== null ? { agent } : {}),
    ...(state !== null ? { state } : {}),
    ...(before !== null ? { before } : {}),
    limit: listLimit(q.get("limit")),
  });
  return json(runs.map(shown));
};

const showRun: Handler = async (ctx, { params }) => {
  const { summary, events } = await ctx.store.showRun(params.id!);
  return json({ summary: shown(summary), events });
};

const cancelRun: Handler = async (ctx, { params }) => {
  // A run moves on while this looks (a worker takes it, it ends): look again, a few times.
  for (let tries = 0; tries < 30; tries++) {
    const { summary } = await ctx.store.showRun(params.id!);
    const id = summary.id;
    if (summary.state === "queued" && await ctx.store.cancelQueued(id)) {
      return json(shown((await ctx.store.showRun(id)).summary), { status: 202 });
    }
    if (summary.state === "running" && ctx.worker.cancel(id, "cancelled through the API")) {
      return json(shown(summary), { status: 202 });
    }
    if (summary.state !== "queued" && summary.state !== "running") {
      throw new IronclawError("ERR_CONFLICT", `The run "${id}" already ended (${summary.state})`, {
        hint: "only a queued or running run can be cancelled",
      });
    }
    await abortableSleep(100, ctx.closing);
  }
  throw new IronclawError("ERR_CONFLICT", `The run "${params.id}" is run by another worker`, {
    hint: "cancel it through the server whose worker runs it, or stop that worker",
  });
};

const events: Handler = async (ctx, { req, params }) => {
  const last = req.headers.get("last-event-id");
  if (last !== null && !/^(-1|[0-9]{1,9})$/.test(last.trim())) {
    throw invalid(
      `The Last-Event-ID "${last}" is not an event's seq`,
      "send the id of the last event received",
    );
  }
  const { summary } = await ctx.store.showRun(params.id!);
  const body = runEventStream(ctx.store, {
    id: summary.id,
    after: last === null ? -1 : Number(last.trim()),
    ended: summary.state !== "queued" && summary.state !== "running",
    signal: ctx.closing, // a client that goes away cancels the stream
    ...(ctx.bell ? { bell: ctx.bell } : {}),
    ...(ctx.heartbeatMs !== undefined ? { heartbeatMs: ctx.heartbeatMs } : {}),
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
};

const APPROVAL_STATES = ["pending", "approved", "denied", "expired"] as const;

/** Only the approvals of the served agents' runs: another server's agents are not this one's to show. */
function servedApproval(ctx: ServeContext, a: Approval): Approval {
  if (!ctx.agents.has(a.agent)) {
    throw new IronclawError("ERR_NOT_FOUND", `No approval "${a.id}" of an agent served here`, {
      hint: "GET /v1/approvals lists the approvals of the served agents",
    });
  }
  return a;
}

const listApprovals: Handler = async (ctx, { url }) => {
  const q = url.searchParams;
  for (const key of q.keys()) {
    if (key !== "state" && key !== "run") {
      throw invalid(`The query parameter "${key}" is not taken`, "filter by state and run");
    }
  }
  const state = q.get("state");
  if (state !== null && !(APPROVAL_STATES as readonly string[]).includes(state)) {
    throw invalid(`"${state}" is not an approval state`, `give one of ${APPROVAL_STATES.join(", ")}`);
  }
  const run = q.get("run");
  const list = await ctx.store.listApprovals({
    ...(state !== null ? { state: state as ApprovalState } : {}),
    ...(run !== null ? { runId: run } : {}),
  });
  return json(list.filter((a) => ctx.agents.has(a.agent)));
};

const showApproval: Handler = async (ctx, { params }) =>
  json(servedApproval(ctx, await ctx.store.getApproval(params.id!)));

/** The fields of `POST /v1/approvals/{id}`, checked: `decision`, and `remember` only with an approval. */
function decisionFields(body: unknown): { decision: "approve" | "deny"; remember?: "run" } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid(
      "The request body is not a JSON object",
      'send {"decision": "approve"} or {"decision": "deny"}',
    );
  }
  for (const key of Object.keys(body)) {
    if (key !== "decision" && key !== "remember") {
      throw invalid(
        `The field "${key}" is not taken`,
        'send "decision" and, to approve for the run, "remember"',
      );
    }
  }
  const { decision, remember } = body as Record<string, unknown>;
  if (decision !== "approve" && decision !== "deny") {
    throw invalid('The field "decision" is neither "approve" nor "deny"', 'send {"decision": "approve"}');
  }
  if (remember !== undefined && (remember !== "run" || decision !== "approve")) {
    throw invalid(
      '"remember" takes "run", with an approval only',
      'send {"decision": "approve", "remember": "run"}',
    );
  }
  return remember === "run" ? { decision, remember } : { decision };
}

const decide: Handler = async (ctx, { req, params, auth }) => {
  const fields = decisionFields(await readJson(req));
  servedApproval(ctx, await ctx.store.getApproval(params.id!));
  const by = auth === "session" ? "dashboard" : ctx.decider ?? "api";
  return json(await ctx.store.decideApproval(params.id!, { ...fields, by }));
};

/** `GET /v1/session`: whether the browser is signed in, and its CSRF value (read only by the same origin). */
const showSession: Handler = async (ctx, { req }) => {
  const session = await ctx.sessions.find(req);
  return json(session ? { signedIn: true, csrf: session.csrf } : { signedIn: false });
};

/** `POST /v1/session`: signs in with the server's token, once; the browser keeps a cookie, not the token. */
const signIn: Handler = async (ctx, { req }) => {
  const body = await readJson(req);
  const token = typeof body === "object" && body !== null ? (body as { token?: unknown }).token : undefined;
  if (typeof token !== "string" || !await bearerMatches(`Bearer ${token}`, ctx.token)) {
    throw new IronclawError("ERR_UNAUTHORIZED", "The token is not this server's", {
      hint: "give the token of <state_dir>/serve.token (or IRONCLAW_TOKEN) that the server printed on start",
    });
  }
  const { id, session } = await ctx.sessions.open();
  return json({ signedIn: true, csrf: session.csrf }, { headers: { "set-cookie": sessionCookie(id) } });
};

/** `DELETE /v1/session`: signs out (a cookie-authenticated one only from the page itself). */
const signOut: Handler = async (ctx, { req }) => {
  const session = await ctx.sessions.find(req);
  if (session) checkSameOrigin(req, session);
  await ctx.sessions.close(req);
  return json({ signedIn: false }, { headers: { "set-cookie": sessionCookie(null) } });
};

/** The routes: each path (as the OpenAPI document writes it) and the handler of each method. */
export const ROUTES: readonly { path: string; methods: Readonly<Record<string, Handler>> }[] = [
  { path: "/v1/health", methods: { GET: health } },
  { path: "/v1/openapi.json", methods: { GET: openapi } },
  { path: "/v1/session", methods: { GET: showSession, POST: signIn, DELETE: signOut } },
  { path: "/v1/agents", methods: { GET: agents } },
  { path: "/v1/agents/{name}", methods: { GET: showAgent } },
  { path: "/v1/runs", methods: { GET: listRuns, POST: postRun } },
  { path: "/v1/runs/{id}", methods: { GET: showRun } },
  { path: "/v1/runs/{id}/cancel", methods: { POST: cancelRun } },
  { path: "/v1/runs/{id}/events", methods: { GET: events } },
  { path: "/v1/approvals", methods: { GET: listApprovals } },
  { path: "/v1/approvals/{id}", methods: { GET: showApproval, POST: decide } },
];

/**
 * The routes the server answers, as `METHOD /path`.
 *
 * @returns The routes, sorted.
 */
export function servedRoutes(): string[] {
  return ROUTES.flatMap((r) => Object.keys(r.methods).map((m) => `${m} ${r.path}`)).sort();
}
