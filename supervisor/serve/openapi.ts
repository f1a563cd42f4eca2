/**
 * The OpenAPI 3.1 document of `ironclaw serve`'s API, served at
 * `GET /v1/openapi.json`. The server's routes and this document's paths are
 * the same set (a test checks both ways).
 *
 * @module
 */

/** A JSON Schema, as OpenAPI 3.1 takes it. */
type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const jsonBody = (schema: Schema, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** The answers every route may give besides its own. */
const ERRORS = {
  "401": { $ref: "#/components/responses/Unauthorized" },
  "500": { $ref: "#/components/responses/Error" },
};

const RUN_ID = {
  name: "id",
  in: "path",
  required: true,
  description: "The run's id (or a unique prefix of it)",
  schema: { type: "string" },
};

const SCHEMAS: Record<string, Schema> = {
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message", "hint"],
        properties: {
          code: { type: "string", description: "A stable code, such as ERR_NOT_FOUND" },
          message: { type: "string" },
          hint: { type: "string", description: "What to change" },
        },
      },
    },
  },
  Health: {
    type: "object",
    required: ["ok", "version", "store", "running", "queued"],
    properties: {
      ok: { type: "boolean" },
      version: { type: "string" },
      store: { enum: ["sqlite", "postgres"] },
      running: { type: "integer", description: "Runs this server runs now" },
      queued: { type: "integer", description: "Runs of the served agents waiting in the queue" },
    },
  },
  Agent: {
    type: "object",
    required: ["name", "version", "kind", "description", "task", "grants", "limits"],
    properties: {
      name: { type: "string" },
      version: { type: "string" },
      kind: { type: "string" },
      description: { type: "string" },
      task: { enum: ["required", "optional", "none"], description: "Whether a run takes a task" },
      grants: {
        type: "object",
        description: "What the agent may do: as `ironclaw check --json` prints under grants",
      },
      limits: { type: "object", description: "Its resolved [limits]" },
      pool: {
        type: ["object", "null"],
        description:
          "Its warm sandboxes ([serve] pool): how many wait and how many start; null without a pool",
        properties: { idle: { type: "integer" }, starting: { type: "integer" } },
      },
    },
  },
  NewRun: {
    type: "object",
    required: ["agent"],
    additionalProperties: false,
    properties: {
      agent: { type: "string", description: "A served agent's name (GET /v1/agents)" },
      task: { type: "string", description: "The task, as ironclaw run --task; at most 8 MiB" },
    },
  },
  Queued: {
    type: "object",
    required: ["id", "state"],
    properties: { id: { type: "string" }, state: { const: "queued" } },
  },
  RunSummary: {
    type: "object",
    required: ["id", "agent", "task", "started", "ended", "state", "exitCode", "attempts"],
    properties: {
      id: { type: "string" },
      agent: { type: "string" },
      task: { type: "string" },
      started: { type: "string", format: "date-time" },
      ended: { type: ["string", "null"], format: "date-time" },
      state: { type: "string", description: "queued, running, ok, error, timeout, oom, interrupted or lost" },
      exitCode: { type: ["integer", "null"] },
      attempts: { type: "integer" },
    },
  },
  RunEvent: {
    type: "object",
    required: ["seq", "type"],
    description: "One event of a run's log (docs/events.md)",
    properties: { seq: { type: "integer" }, type: { type: "string" } },
  },
  AgentCheck: {
    type: "object",
    required: ["name", "kind", "grants", "limits", "approvals", "command", "explain"],
    properties: {
      name: { type: "string" },
      version: { type: "string" },
      kind: { type: "string" },
      description: { type: "string" },
      task: { enum: ["required", "optional", "none"] },
      grants: { type: "object" },
      limits: { type: "object" },
      approvals: {
        type: "object",
        properties: { require: { type: "array", items: { type: "string" } }, timeout_s: { type: "integer" } },
      },
      command: { type: "array", items: { type: "string" }, description: "The sandbox's argv, program first" },
      explain: {
        type: "array",
        items: {
          type: "object",
          properties: {
            flag: { type: "string" },
            why: { type: "string" },
            from: { type: "array", items: { type: "object" }, description: "The lines that caused it" },
          },
        },
      },
    },
  },
  Session: {
    type: "object",
    required: ["signedIn"],
    properties: { signedIn: { type: "boolean" }, csrf: { type: "string" } },
  },
  RunView: {
    type: "object",
    required: ["summary", "events"],
    properties: { summary: ref("RunSummary"), events: { type: "array", items: ref("RunEvent") } },
  },
  Approval: {
    type: "object",
    required: [
      "id",
      "runId",
      "agent",
      "op",
      "args",
      "digest",
      "state",
      "requested",
      "decided",
      "decidedBy",
      "remember",
    ],
    properties: {
      id: { type: "string" },
      runId: { type: "string" },
      agent: { type: "string" },
      op: { type: "string", description: "The gate op, such as fs.write" },
      args: { type: "object", description: "Its arguments, secrets redacted, contents as their size" },
      digest: {
        type: "string",
        description: "SHA-256 of the exact op and arguments: what a decision binds to",
      },
      state: { enum: ["pending", "approved", "denied", "expired"] },
      requested: { type: "string", format: "date-time" },
      decided: { type: ["string", "null"], format: "date-time" },
      decidedBy: { type: ["string", "null"] },
      remember: { enum: ["run", null] },
    },
  },
  Decision: {
    type: "object",
    required: ["decision"],
    additionalProperties: false,
    properties: {
      decision: { enum: ["approve", "deny"] },
      remember: {
        const: "run",
        description: "Approve identical calls (same digest) for the rest of the run",
      },
    },
  },
};

const APPROVAL_ID = {
  name: "id",
  in: "path",
  required: true,
  description: "The approval's id",
  schema: { type: "string" },
};

const PATHS = {
  "/v1/health": {
    get: {
      summary: "Whether the server answers, its version, store and load",
      responses: { "200": jsonBody(ref("Health"), "The server's health"), ...ERRORS },
    },
  },
  "/v1/openapi.json": {
    get: {
      summary: "This document",
      responses: { "200": jsonBody({ type: "object" }, "The OpenAPI 3.1 document"), ...ERRORS },
    },
  },
  "/v1/agents": {
    get: {
      summary: "The served agents and what each may do",
      responses: {
        "200": jsonBody({ type: "array", items: ref("Agent") }, "The agents, by name"),
        ...ERRORS,
      },
    },
  },
  "/v1/agents/{name}": {
    get: {
      summary: "One served agent, as `ironclaw check --json` explains it",
      description:
        "Its grants and limits, the calls that wait for approval, the sandbox command of a run (with <run-id> in " +
        "place of the id) and, for each flag of that command, why it is there and which manifest line caused it.",
      parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        "200": jsonBody(ref("AgentCheck"), "The agent"),
        "404": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
  "/v1/session": {
    get: {
      summary: "Whether this browser is signed in to the dashboard, and its CSRF value",
      description:
        "Needs no token. Answers {signedIn: false} without a valid session cookie; with one, {signedIn: true, " +
        "csrf}: the value a cookie-authenticated change must send in X-IronClaw-CSRF.",
      security: [],
      responses: { "200": jsonBody(ref("Session"), "The session") },
    },
    post: {
      summary: "Sign the dashboard in with the server's token, once",
      description:
        "Body {token}. Sets the HttpOnly, SameSite=Strict cookie ironclaw_session (a random session id kept " +
        "in memory, never the token). A request authenticated by that cookie that changes something (not GET or " +
        "HEAD) must come from the server's own Origin, with Sec-Fetch-Site same-origin when sent, and carry " +
        "X-IronClaw-CSRF; else it is refused with 403.",
      security: [],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: { type: "object", required: ["token"], properties: { token: { type: "string" } } },
          },
        },
      },
      responses: {
        "200": jsonBody(ref("Session"), "Signed in: the cookie is set"),
        "400": { $ref: "#/components/responses/Error" },
        "401": { $ref: "#/components/responses/Unauthorized" },
      },
    },
    delete: {
      summary: "Sign out: the session ends and the cookie is removed",
      security: [],
      responses: {
        "200": jsonBody(ref("Session"), "Signed out"),
        "403": { $ref: "#/components/responses/Error" },
      },
    },
  },
  "/v1/runs": {
    post: {
      summary: "Queue a run of a served agent",
      description: "Any field besides agent and task (a manifest, a path, a module) is refused with 400.",
      requestBody: { required: true, content: { "application/json": { schema: ref("NewRun") } } },
      responses: {
        "201": jsonBody(ref("Queued"), "Queued: a worker of this server runs it when a slot is free"),
        "400": { $ref: "#/components/responses/Error" },
        "404": { $ref: "#/components/responses/Error" },
        "413": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
    get: {
      summary: "Runs, newest first",
      parameters: [
        { name: "agent", in: "query", schema: { type: "string" } },
        { name: "state", in: "query", schema: { type: "string" } },
        { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 1000, default: 50 } },
        {
          name: "before",
          in: "query",
          description:
            "A cursor: the id of the last run of the page before; answers the runs after it in this order " +
            "(older, or as old with a smaller id), so pages stay right while new runs come",
          schema: { type: "string" },
        },
      ],
      responses: {
        "200": jsonBody({ type: "array", items: ref("RunSummary") }, "The runs"),
        "400": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
  "/v1/runs/{id}": {
    get: {
      summary: "One run: its summary and events",
      parameters: [RUN_ID],
      responses: {
        "200": jsonBody(ref("RunView"), "The run"),
        "404": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
  "/v1/runs/{id}/cancel": {
    post: {
      summary: "Cancel a run",
      description:
        "A queued run ends at once as interrupted (exit 130); a running one is stopped and ends interrupted. An ended run is a 409.",
      parameters: [RUN_ID],
      responses: {
        "202": jsonBody(ref("RunSummary"), "Cancelled (queued) or being stopped (running)"),
        "404": { $ref: "#/components/responses/Error" },
        "409": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
  "/v1/runs/{id}/events": {
    get: {
      summary: "Follow a run's events as server-sent events",
      description:
        "One message per event: id is its seq, data its JSON. With Last-Event-ID, only later events. The stream ends after the end event; a comment every 15 s keeps it open.",
      parameters: [
        RUN_ID,
        { name: "Last-Event-ID", in: "header", schema: { type: "integer", minimum: -1 } },
      ],
      responses: {
        "200": {
          description: "The events",
          content: { "text/event-stream": { schema: { type: "string" } } },
        },
        "400": { $ref: "#/components/responses/Error" },
        "404": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
  "/v1/approvals": {
    get: {
      summary: "Approvals of the served agents' runs, oldest first",
      parameters: [{
        name: "state",
        in: "query",
        schema: { enum: ["pending", "approved", "denied", "expired"] },
      }, { name: "run", in: "query", description: "Only this run's", schema: { type: "string" } }],
      responses: {
        "200": jsonBody({ type: "array", items: ref("Approval") }, "The approvals"),
        "400": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
  "/v1/approvals/{id}": {
    get: {
      summary: "One approval",
      parameters: [APPROVAL_ID],
      responses: {
        "200": jsonBody(ref("Approval"), "The approval"),
        "404": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
    post: {
      summary: "Decide a pending approval",
      description:
        "Approve or deny it, once: the run waiting for it goes on (or its call is refused with ERR_APPROVAL_DENIED). A decided one is a 409.",
      parameters: [APPROVAL_ID],
      requestBody: { required: true, content: { "application/json": { schema: ref("Decision") } } },
      responses: {
        "200": jsonBody(ref("Approval"), "The approval, decided"),
        "400": { $ref: "#/components/responses/Error" },
        "404": { $ref: "#/components/responses/Error" },
        "409": { $ref: "#/components/responses/Error" },
        ...ERRORS,
      },
    },
  },
};

/**
 * The OpenAPI 3.1 document of the API.
 *
 * @param version IronClaw's version.
 * @returns The document.
 */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "IronClaw serve",
      version,
      description:
        "Queue runs of the served agents, follow and cancel them, and decide their approvals. Every request needs Authorization: Bearer <token>, or the dashboard's session cookie (see /v1/session).",
    },
    security: [{ bearer: [] }],
    paths: PATHS,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: SCHEMAS,
      responses: {
        Error: jsonBody(ref("Error"), "An error: its code, message and hint"),
        Unauthorized: {
          ...jsonBody(ref("Error"), "No bearer token, or a wrong one"),
          headers: { "WWW-Authenticate": { schema: { type: "string" } } },
        },
      },
    },
  };
}

/**
 * The routes the document describes, as `METHOD /path` (path templates as written).
 *
 * @returns The routes, sorted.
 */
export function documentedRoutes(): string[] {
  return Object.entries(PATHS).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)
  ).sort();
}
