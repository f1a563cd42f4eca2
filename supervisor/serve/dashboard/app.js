// The IronClaw dashboard: plain ES module, no framework, no build step.
// Rule: everything that came from the API (and so maybe from an agent) is put in the page as text
// (Text nodes, textContent, SVG <text> content), never parsed as HTML; links are built only from ids.

const STATES = ["queued", "running", "ok", "error", "timeout", "oom", "interrupted", "lost"];
const ENDED = new Set(["ok", "error", "timeout", "oom", "interrupted", "lost"]);
const STATE_COLOURS = {
  ok: "#1c7a3a",
  error: "#b3261e",
  timeout: "#d9822b",
  oom: "#7d3c98",
  interrupted: "#8a5a00",
  lost: "#6b6b66",
  running: "#1f4fa3",
  queued: "#b8b8b0",
};
const PAGE_SIZE = 50;
const POLL_MS = 1000;

let csrf = "";
/** Cleanups of the page shown: timers and event streams. */
let cleanups = [];

// ---- DOM helpers -------------------------------------------------------------------------------------------

/** An element with attributes (set as attributes, never as markup) and children (strings become Text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") { for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); }
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Puts `children` in place of an element's children. */
function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

/** A state as a badge: its name in text, a sign and a colour (readable without colour). */
function badge(state) {
  const known = /^[a-z-]+$/.test(String(state)) ? String(state) : "other";
  return h("span", { class: `state s-${known}` }, String(state));
}

function say(text) {
  document.getElementById("status").textContent = text;
}

function ms(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(1)} s`;
  return `${Math.floor(n / 60_000)} min ${Math.round((n % 60_000) / 1000)} s`;
}

function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function duration(run) {
  if (!run.started || run.state === "queued") return null;
  const end = run.ended ? Date.parse(run.ended) : Date.now();
  return end - Date.parse(run.started);
}

function shortJson(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// ---- API ---------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? "";
    this.hint = body?.error?.hint ?? "";
  }
}

/** A request to the API, with the cookie; changes carry the CSRF header. */
async function api(path, options = {}) {
  const method = options.method ?? "GET";
  const headers = { accept: "application/json" };
  if (method !== "GET") headers["x-ironclaw-csrf"] = csrf;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const body = await res.json().catch(() => null);
  if (res.status === 401 && path !== "/v1/session") {
    signedOut();
    throw new ApiError(res.status, body);
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function errorBox(e) {
  return h(
    "p",
    { class: "error", role: "alert" },
    `${e.code ? e.code + ": " : ""}${e.message}`,
    e.hint ? h("span", { class: "muted" }, ` (${e.hint})`) : null,
  );
}

// ---- Sign-in -----------------------------------------------------------------------------------------------

function signedOut() {
  csrf = "";
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  showSignIn();
}

function showSignIn(problem) {
  stopPage();
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    { class: "panel signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h(
      "p",
      { class: "muted" },
      "Give the server's token once: the file serve.token in the state folder (or IRONCLAW_TOKEN). " +
        "The browser then keeps a session cookie, not the token.",
    ),
    h("label", { for: "token" }, "Token", input),
    problem ? errorBox(problem) : null,
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Sign in")),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("/v1/session", { method: "POST", body: { token: input.value } });
      csrf = r.csrf;
      signedIn();
    } catch (e) {
      showSignIn(e);
    }
  });
  const main = document.getElementById("main");
  fill(main, form);
  input.focus();
}

function signedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  updatePendingCount().catch(() => {});
  if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = "#/runs";
  else route();
}

async function signOut() {
  try {
    await api("/v1/session", { method: "DELETE" });
  } finally {
    location.hash = "#/";
    signedOut();
  }
}

// ---- Routing -----------------------------------------------------------------------------------------------

function stopPage() {
  for (const c of cleanups) c();
  cleanups = [];
}

function every(msInterval, fn) {
  let stopped = false;
  let timer = 0;
  const tick = async () => {
    try {
      await fn();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) say(`Could not refresh: ${e.message}`);
    }
    if (!stopped) timer = setTimeout(tick, msInterval);
  };
  cleanups.push(() => {
    stopped = true;
    clearTimeout(timer);
  });
  tick();
}

function route() {
  if (!csrf) return;
  stopPage();
  say("");
  const [, page = "runs", arg] = /^#\/([a-z]+)\/?(.*)$/.exec(location.hash) ?? [];
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page || (page === "run" && a.dataset.page === "runs")) {
      a.setAttribute("aria-current", "page");
    } else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  fill(main);
  const pages = { runs: runsPage, run: runPage, approvals: approvalsPage, agents: agentsPage };
  (pages[page] ?? runsPage)(main, decodeURIComponent(arg ?? "")).catch((e) => main.append(errorBox(e)));
}

// ---- Runs --------------------------------------------------------------------------------------------------

/** What each ended run's events tell (tokens, pooled), kept: an ended run no longer changes. */
const runFacts = new Map();

function factsOf(events) {
  const usage = events.findLast((e) => e.type === "model-usage");
  const run = events.find((e) => e.type === "run");
  let tokens = usage ? (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0) : 0;
  if (!usage) {
    for (const e of events) if (e.type === "model") tokens += (e.inputTokens ?? 0) + (e.outputTokens ?? 0);
  }
  return { tokens, pooled: run && "pooled" in run ? (run.pooled ? "yes" : "no") : "no" };
}

async function facts(run) {
  if (runFacts.has(run.id)) return runFacts.get(run.id);
  if (run.state === "queued") return { tokens: null, pooled: "–" }; // nothing ran yet: no need to ask
  const view = await api(`/v1/runs/${encodeURIComponent(run.id)}`);
  const f = factsOf(view.events);
  if (ENDED.has(view.summary.state)) runFacts.set(run.id, f);
  return f;
}

async function runsPage(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const agents = await api("/v1/agents");
  const agentSel = h(
    "select",
    { id: "f-agent", name: "agent" },
    h("option", { value: "" }, "All agents"),
    agents.map((a) => h("option", { value: a.name }, a.name)),
  );
  agentSel.value = params.get("agent") ?? "";
  const stateSel = h(
    "select",
    { id: "f-state", name: "state" },
    h("option", { value: "" }, "All states"),
    STATES.map((st) => h("option", { value: st }, st)),
  );
  stateSel.value = params.get("state") ?? "";
  const cursors = []; // the `before` of each page shown before this one
  let before = null;
  const chart = h("figure", { class: "panel chart", "aria-labelledby": "chart-title" });
  const body = h("tbody", { id: "runs-body" });
  const table = h(
    "table",
    { class: "runs", "aria-label": "Runs, newest first" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Run", "Agent", "State", "Started", "Duration", "Tokens", "Pooled"].map((c) =>
          h("th", { scope: "col" }, c)
        ),
      ),
    ),
    body,
  );
  const pageInfo = h("span", { class: "muted", id: "page-info" });
  const newer = h("button", { type: "button", id: "newer" }, "Newer");
  const older = h("button", { type: "button", id: "older" }, "Older");
  const filterChange = () => {
    cursors.length = 0;
    before = null;
    const q = new URLSearchParams();
    if (agentSel.value) q.set("agent", agentSel.value);
    if (stateSel.value) q.set("state", stateSel.value);
    history.replaceState(null, "", `#/runs${q.size ? "?" + q : ""}`);
    refresh();
    drawChart();
  };
  agentSel.addEventListener("change", filterChange);
  stateSel.addEventListener("change", filterChange);
  let last = [];
  older.addEventListener("click", () => {
    if (last.length === 0) return;
    cursors.push(before);
    before = last[last.length - 1].id;
    refresh();
  });
  newer.addEventListener("click", () => {
    before = cursors.pop() ?? null;
    refresh();
  });
  main.append(
    h("h1", {}, "Runs"),
    chart,
    h(
      "div",
      { class: "row", role: "search" },
      h("label", { for: "f-agent" }, "Agent", agentSel),
      h("label", { for: "f-state" }, "State", stateSel),
    ),
    h("div", { class: "pager" }, newer, older, pageInfo),
    table,
  );
  const query = (extra) => {
    const q = new URLSearchParams(extra);
    if (agentSel.value) q.set("agent", agentSel.value);
    if (stateSel.value) q.set("state", stateSel.value);
    return q;
  };
  async function refresh() {
    const q = query({ limit: String(PAGE_SIZE) });
    if (before) q.set("before", before);
    const runs = await api(`/v1/runs?${q}`);
    last = runs;
    newer.disabled = cursors.length === 0 && before === null;
    older.disabled = runs.length < PAGE_SIZE;
    pageInfo.textContent = `Page ${cursors.length + (before ? 2 : 1)}: ${runs.length} runs`;
    const rows = await Promise.all(runs.map(async (r) => {
      const f = await facts(r).catch(() => ({ tokens: null, pooled: "?" }));
      const link = h("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.id);
      return h(
        "tr",
        { "data-run": r.id, "data-state": r.state },
        h("td", { "data-label": "Run", class: "mono" }, link),
        h("td", { "data-label": "Agent" }, r.agent),
        h("td", { "data-label": "State" }, badge(r.state)),
        h("td", { "data-label": "Started" }, when(r.started)),
        h("td", { "data-label": "Duration", class: "num" }, ms(duration(r))),
        h("td", { "data-label": "Tokens", class: "num" }, f.tokens === null ? "–" : String(f.tokens)),
        h("td", { "data-label": "Pooled" }, f.pooled),
      );
    }));
    fill(body, ...rows);
    if (rows.length === 0) {
      body.append(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No runs match.")));
    }
  }
  async function drawChart() {
    const runs = await api(`/v1/runs?${query({ limit: "1000" })}`);
    fill(chart, runsChart(runs));
  }
  every(POLL_MS, refresh);
  every(5 * POLL_MS, drawChart);
}

/** A stacked bar chart of runs over time (by start), one colour and one legend entry per end state. */
function runsChart(runs) {
  const caption = h("figcaption", { id: "chart-title" }, `Runs over time by state (the last ${runs.length})`);
  if (runs.length === 0) return h("div", {}, caption, h("p", { class: "muted" }, "No runs yet."));
  const times = runs.map((r) => Date.parse(r.started));
  const lo = Math.min(...times);
  const hi = Math.max(...times, Date.now(), lo + 60_000); // the axis ends now
  const buckets = 30;
  const width = 900, height = 140, pad = 28;
  const counts = Array.from({ length: buckets }, () => ({}));
  for (const r of runs) {
    const i = Math.min(buckets - 1, Math.floor(((Date.parse(r.started) - lo) / (hi - lo)) * buckets));
    counts[i][r.state] = (counts[i][r.state] ?? 0) + 1;
  }
  const max = Math.max(1, ...counts.map((c) => Object.values(c).reduce((a, b) => a + b, 0)));
  const bw = (width - pad) / buckets;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height + 20}`,
    role: "img",
    "aria-labelledby": "chart-title",
  });
  svg.append(s("text", { x: 0, y: 12, "font-size": 11, fill: "#5b5b57" }, String(max)));
  svg.append(s("line", { x1: pad, y1: height, x2: width, y2: height, stroke: "#999" }));
  counts.forEach((c, i) => {
    let y = height;
    for (const st of STATES) {
      const n = c[st] ?? 0;
      if (!n) continue;
      const bh = (n / max) * (height - 10);
      y -= bh;
      const rect = s("rect", {
        x: pad + i * bw + 1,
        y,
        width: Math.max(1, bw - 2),
        height: bh,
        fill: STATE_COLOURS[st] ?? "#999",
      });
      const from = new Date(lo + (i * (hi - lo)) / buckets);
      rect.append(s("title", {}, `${n} ${st}, from ${from.toLocaleString()}`));
      svg.append(rect);
    }
  });
  svg.append(
    s("text", { x: pad, y: height + 16, "font-size": 11, fill: "#5b5b57" }, new Date(lo).toLocaleString()),
  );
  svg.append(
    s(
      "text",
      { x: width, y: height + 16, "font-size": 11, fill: "#5b5b57", "text-anchor": "end" },
      new Date(hi).toLocaleString(),
    ),
  );
  const totals = {};
  for (const r of runs) totals[r.state] = (totals[r.state] ?? 0) + 1;
  const legend = h(
    "ul",
    { class: "legend" },
    STATES.filter((st) => totals[st]).map((st) =>
      h("li", {}, h("span", { class: "swatch", "data-colour": st }), `${st}: ${totals[st]}`)
    ),
  );
  for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = STATE_COLOURS[sw.dataset.colour];
  return h("div", {}, caption, svg, legend);
}

// ---- One run -----------------------------------------------------------------------------------------------

async function runPage(main, id) {
  const view = await api(`/v1/runs/${encodeURIComponent(id)}`);
  let summary = view.summary;
  const title = h("h1", {}, "Run ", h("span", { class: "mono" }, summary.id));
  const head = h("section", { class: "panel", "aria-label": "Summary" });
  const cancel = h("button", { type: "button", class: "danger", id: "cancel" }, "Cancel run");
  const sandbox = h("section", { class: "panel", "aria-labelledby": "sandbox-title" });
  const gantt = h("figure", { class: "panel gantt", "aria-labelledby": "gantt-title" });
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-live": "polite" });
  const events = [];
  main.append(
    title,
    head,
    gantt,
    sandbox,
    h(
      "section",
      { class: "panel", "aria-labelledby": "tl-title" },
      h("h2", { id: "tl-title" }, "Timeline"),
      timeline,
    ),
  );
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/v1/runs/${encodeURIComponent(summary.id)}/cancel`, { method: "POST" });
      say("Cancel asked");
    } catch (e) {
      say(`Cannot cancel: ${e.message}`);
      cancel.disabled = false;
    }
  });
  const drawHead = () => {
    const end = events.findLast((e) => e.type === "end");
    const f = factsOf(events);
    const facts = h(
      "dl",
      { class: "kv facts" },
      [
        ["Agent", summary.agent],
        ["State", [
          badge(summary.state),
          waiting(events) ? [" waiting for ", h("a", { href: "#/approvals" }, "approval")] : "",
        ]],
        ["Exit code", summary.exitCode === null ? "–" : String(summary.exitCode)],
        ["Started", when(summary.started)],
        ["Ended", when(summary.ended)],
        ["Duration", ms(duration(summary))],
        ["Attempts", String(summary.attempts)],
        ["Model tokens", String(f.tokens)],
        ["Pooled", f.pooled],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    );
    fill(
      head,
      facts,
      kv([
        ["Task", h("pre", { id: "task" }, summary.task)],
        end && end.output !== undefined && end.output !== null
          ? ["Output", h("pre", { id: "output" }, String(end.output))]
          : null,
        end && end.error ? ["Error", h("pre", { id: "end-error" }, describeError(end.error))] : null,
      ]),
      h("p", {}, cancel),
    );
    cancel.disabled = summary.state !== "queued" && summary.state !== "running";
    cancel.hidden = cancel.disabled;
  };
  const drawSandbox = () => {
    const run = events.findLast((e) => e.type === "run");
    const command = Array.isArray(run?.command) ? run.command : null;
    const grants = command ? command.filter((a) => /^--allow-/.test(a) || /^--deny-/.test(a)) : [];
    fill(
      sandbox,
      h("h2", { id: "sandbox-title" }, "Sandbox"),
      command
        ? [
          h("h3", {}, "Command"),
          h("pre", { id: "command" }, command.map(quoteArg).join(" ")),
          h("h3", {}, "Grants it ran with"),
          grants.length
            ? h("ul", { id: "grants", class: "mono" }, grants.map((g) => h("li", {}, g)))
            : h("p", { class: "muted" }, "No --allow flag: the sandbox had no permission of its own."),
        ]
        : h("p", { class: "muted" }, "Not started yet: the command is recorded when the sandbox starts."),
    );
  };
  drawHead();
  drawSandbox();
  fill(gantt, ganttStrip(events, summary));
  const source = new EventSource(`/v1/runs/${encodeURIComponent(summary.id)}/events`);
  cleanups.push(() => source.close());
  let pending = false;
  source.onmessage = (msg) => {
    let e;
    try {
      e = JSON.parse(msg.data);
    } catch {
      return;
    }
    events.push(e);
    timeline.append(eventItem(e));
    if (e.type === "run") drawSandbox();
    if (e.type === "end") source.close();
    if (!pending) {
      pending = true;
      queueMicrotask(async () => {
        pending = false;
        if (e.type === "end" || e.type === "state" || e.type === "run") {
          summary = (await api(`/v1/runs/${encodeURIComponent(summary.id)}`)).summary;
        }
        drawHead();
        fill(gantt, ganttStrip(events, summary));
      });
    }
  };
  // A run that moves on without events (queued, then taken) still shows its state.
  every(2 * POLL_MS, async () => {
    if (ENDED.has(summary.state) && events.some((e) => e.type === "end")) return;
    summary = (await api(`/v1/runs/${encodeURIComponent(summary.id)}`)).summary;
    drawHead();
  });
}

/** The approval the run waits for now, or undefined. */
function waiting(events) {
  if (events.some((e) => e.type === "end")) return undefined;
  const decided = new Set(events.filter((e) => e.type === "approval-decided").map((e) => e.approval));
  return events.find((e) => e.type === "approval-requested" && !decided.has(e.approval));
}

function quoteArg(a) {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(a) ? a : `'${String(a).replaceAll("'", "'\\''")}'`;
}

function describeError(err) {
  if (typeof err !== "object" || err === null) return String(err);
  return [err.code, err.message, err.hint ? `hint: ${err.hint}` : null].filter(Boolean).join("\n");
}

/** One event of the timeline: its time, kind and what it says, as text. */
function eventItem(e) {
  const at = h("span", { class: "when" }, e.ms === undefined ? "" : `+${ms(e.ms)}`);
  let kind = e.type;
  let detail;
  switch (e.type) {
    case "gate": {
      kind = `gate ${e.decision}`;
      detail = [
        h("div", {}, badge(e.decision), " ", h("code", {}, String(e.op))),
        kv([
          e.rule !== undefined ? ["Rule", h("code", { class: "rule" }, String(e.rule))] : null,
          e.code ? ["Code", h("code", {}, String(e.code))] : null,
          e.message ? ["Message", String(e.message)] : null,
          e.hint ? ["Hint", h("span", { class: "hint" }, String(e.hint))] : null,
          e.args !== undefined ? ["Arguments", h("code", {}, shortJson(e.args))] : null,
          e.us !== undefined ? ["Took", `${e.us} µs`] : null,
        ]),
      ];
      break;
    }
    case "model":
      detail = kv([
        ["Model", String(e.model ?? "")],
        e.error ? ["Error", `${e.error}: ${e.message ?? ""}`] : null,
        e.inputTokens !== undefined ? ["Tokens", `${e.inputTokens} in, ${e.outputTokens} out`] : null,
        e.durationMs !== undefined ? ["Latency", ms(e.durationMs)] : null,
        e.stopReason ? ["Stop", String(e.stopReason)] : null,
        e.toolCalls?.length ? ["Tool calls", shortJson(e.toolCalls)] : null,
        e.content ? ["Text", h("pre", {}, String(e.content))] : null,
      ]);
      break;
    case "tool":
      detail = kv([
        ["Tool", String(e.tool)],
        ["Result", e.ok ? "ok" : "failed"],
        e.durationMs !== undefined ? ["Took", ms(e.durationMs)] : null,
        ["Observation", h("pre", {}, String(e.observation ?? ""))],
      ]);
      break;
    case "code":
      detail = kv([
        ["Language", String(e.language)],
        ["Code", h("pre", {}, String(e.code ?? ""))],
        e.durationMs !== undefined ? ["Took", ms(e.durationMs)] : null,
        e.error ? ["Error", String(e.error)] : null,
        e.observation ? ["Observation", h("pre", {}, String(e.observation))] : null,
      ]);
      break;
    case "approval-requested":
      kind = "approval asked";
      detail = kv([
        ["Operation", h("code", {}, String(e.op))],
        ["Arguments", h("code", {}, shortJson(e.args))],
        ["Digest", h("code", {}, String(e.digest))],
        ["Approval", h("a", { href: "#/approvals" }, String(e.approval))],
      ]);
      break;
    case "approval-decided":
      kind = "approval decided";
      detail = [
        h("div", {}, badge(e.decision), " ", h("code", {}, String(e.op))),
        kv([
          ["By", String(e.by ?? "")],
          e.remember ? ["Remember", String(e.remember)] : null,
          e.remembered ? ["Remembered", "an identical call was approved for the run"] : null,
          e.waitedMs !== undefined ? ["Waited", ms(e.waitedMs)] : null,
        ]),
      ];
      break;
    case "end":
      detail = [
        h("div", {}, badge(e.state), ` exit code ${e.exitCode}`),
        e.output !== undefined && e.output !== null ? h("pre", {}, String(e.output)) : null,
        e.error ? h("pre", {}, describeError(e.error)) : null,
      ];
      break;
    case "step":
      detail = `step ${e.step}${e.loop ? ` (${e.loop})` : ""}`;
      break;
    case "stdout":
    case "stderr":
    case "sandbox-stderr":
      detail = h("pre", {}, String(e.data ?? ""));
      break;
    case "log":
    case "sandbox-log":
      detail = `${e.level ?? ""}: ${e.message ?? ""}`;
      break;
    case "state":
      detail = [
        String(e.state),
        e.reason ? ` (${e.reason})` : "",
        e.code !== undefined && e.code !== null ? `, code ${e.code}` : "",
      ];
      break;
    case "timing":
      detail = e.ready === false
        ? `the sandbox never said it was ready (waited ${ms(e.waitedMs)})`
        : `the sandbox was ready after ${ms(e.waitedMs)} (start-up, not counted in timeout_s)`;
      break;
    case "model-usage":
      detail = `${e.calls} model calls of ${e.maxCalls}; ${e.inputTokens} tokens in, ${e.outputTokens} out ` +
        `(${(e.inputTokens ?? 0) + (e.outputTokens ?? 0)} of ${e.maxTokens})`;
      break;
    case "run":
      detail = `agent ${e.agent}, kind ${e.kind}${e.attempt ? `, attempt ${e.attempt}` : ""}`;
      break;
    default: {
      const { seq: _s, ms: _m, type: _t, ...rest } = e;
      detail = h("code", {}, JSON.stringify(rest));
    }
  }
  return h(
    "li",
    { "data-type": e.type, "data-seq": e.seq },
    at,
    h("span", { class: "kind" }, kind),
    h("div", { class: "body" }, detail),
  );
}

/** Where the run's time went: start-up, model calls, tools and code, approval waits, and the guest's own. */
function ganttStrip(events, summary) {
  const caption = h("figcaption", { id: "gantt-title" }, "Where the time went");
  const end = events.findLast((e) => e.type === "end");
  const total = end?.ms ?? events.at(-1)?.ms ?? 0;
  if (!total) {
    return h(
      "div",
      {},
      caption,
      h("p", { class: "muted" }, summary.state === "queued" ? "Queued." : "No time yet."),
    );
  }
  const timing = events.find((e) => e.type === "timing");
  const startup = Math.min(total, timing?.waitedMs ?? 0);
  const spans = [{ kind: "start-up", from: 0, to: startup }];
  for (const e of events) {
    if (e.ms === undefined) continue;
    if (e.type === "model" && e.durationMs) {
      spans.push({ kind: "model", from: e.ms - e.durationMs, to: e.ms });
    } else if ((e.type === "tool" || e.type === "code") && e.durationMs) {
      spans.push({ kind: "tools", from: e.ms - e.durationMs, to: e.ms });
    } else if (e.type === "approval-decided" && e.waitedMs) {
      spans.push({ kind: "approval", from: e.ms - e.waitedMs, to: e.ms });
    }
  }
  const colours = {
    "start-up": "#9aa0a6",
    guest: "#cfe3c9",
    model: "#1f4fa3",
    tools: "#d9822b",
    approval: "#7d3c98",
  };
  const sums = { "start-up": startup, model: 0, tools: 0, approval: 0 };
  for (const sp of spans.slice(1)) sums[sp.kind] += Math.max(0, sp.to - sp.from);
  sums.guest = Math.max(0, total - startup - sums.model - sums.tools - sums.approval);
  const width = 900, height = 26;
  const x = (t) => (Math.max(0, Math.min(total, t)) / total) * width;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "gantt-title" });
  svg.append(s("rect", { x: x(startup), y: 0, width: x(total) - x(startup), height, fill: colours.guest }));
  for (const sp of spans) {
    const r = s("rect", {
      x: x(sp.from),
      y: 0,
      width: Math.max(1, x(sp.to) - x(sp.from)),
      height,
      fill: colours[sp.kind],
    });
    r.append(s("title", {}, `${sp.kind}: ${ms(sp.to - sp.from)}`));
    svg.append(r);
  }
  const legend = h(
    "ul",
    { class: "legend", id: "gantt-legend" },
    ["start-up", "model", "tools", "approval", "guest"].map((k) =>
      h("li", {}, h("span", { class: "swatch", "data-kind": k }), `${k}: ${ms(sums[k])}`)
    ),
    h("li", {}, `total: ${ms(total)}`),
    waiting(events) ? h("li", {}, `waiting for a decision since +${ms(waiting(events).ms)}`) : null,
  );
  for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = colours[sw.dataset.kind];
  return h("div", {}, caption, svg, legend);
}

// ---- Approvals ---------------------------------------------------------------------------------------------

function approvalsPage(main) {
  const pendingBox = h("div", { id: "pending" });
  const decidedBody = h("tbody", { id: "decided" });
  main.append(
    h("h1", {}, "Approvals"),
    h(
      "section",
      { "aria-labelledby": "pending-title" },
      h("h2", { id: "pending-title" }, "Waiting for a decision"),
      pendingBox,
    ),
    h(
      "section",
      { "aria-labelledby": "decided-title" },
      h("h2", { id: "decided-title" }, "Decided"),
      h(
        "table",
        { "aria-labelledby": "decided-title" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Decision", "Agent", "Operation", "Arguments", "By", "When", "Run"].map((c) =>
              h("th", { scope: "col" }, c)
            ),
          ),
        ),
        decidedBody,
      ),
    ),
  );
  let shown = "";
  every(POLL_MS, async () => {
    const all = await api("/v1/approvals");
    const key = JSON.stringify(all.map((a) => [a.id, a.state]));
    if (key === shown) return; // keep focus on the buttons while nothing changed
    shown = key;
    const pending = all.filter((a) => a.state === "pending");
    fill(
      pendingBox,
      pending.length
        ? h("div", { class: "cards" }, pending.map(approvalCard))
        : h("p", { class: "muted" }, "None waiting."),
    );
    const decided = all.filter((a) => a.state !== "pending")
      .sort((a, b) => (a.decided ?? "") < (b.decided ?? "") ? 1 : -1).slice(0, 100);
    fill(
      decidedBody,
      ...decided.map((a) =>
        h(
          "tr",
          { "data-approval": a.id },
          h("td", {}, badge(a.state), a.remember === "run" ? " (for the run)" : ""),
          h("td", {}, a.agent),
          h("td", {}, h("code", {}, a.op)),
          h("td", {}, h("code", {}, shortJson(a.args))),
          h("td", {}, a.decidedBy ?? "–"),
          h("td", {}, when(a.decided)),
          h("td", { class: "mono" }, h("a", { href: `#/run/${encodeURIComponent(a.runId)}` }, a.runId)),
        )
      ),
    );
  });
  return Promise.resolve();
}

function approvalCard(a) {
  const decide = async (body, label) => {
    try {
      await api(`/v1/approvals/${encodeURIComponent(a.id)}`, { method: "POST", body });
      say(`${label}: ${a.id}`);
      updatePendingCount();
    } catch (e) {
      say(`Cannot decide: ${e.message}`);
    }
  };
  const titleId = `ap-${a.id}`;
  return h(
    "article",
    { class: "panel", "aria-labelledby": titleId, "data-approval": a.id },
    h("h3", { id: titleId }, h("code", {}, a.op), " by ", a.agent),
    kv([
      ["Arguments", h("pre", {}, JSON.stringify(a.args, null, 2))],
      ["Digest", h("code", {}, a.digest)],
      ["Asked", when(a.requested)],
      ["Run", h("a", { href: `#/run/${encodeURIComponent(a.runId)}` }, a.runId)],
    ]),
    h(
      "div",
      { class: "row" },
      h("button", {
        type: "button",
        class: "primary",
        on: { click: () => decide({ decision: "approve" }, "Approved") },
      }, "Approve"),
      h("button", {
        type: "button",
        on: { click: () => decide({ decision: "approve", remember: "run" }, "Approved for the run") },
      }, "Approve for the run"),
      h("button", {
        type: "button",
        class: "danger",
        on: { click: () => decide({ decision: "deny" }, "Denied") },
      }, "Deny"),
    ),
  );
}

async function updatePendingCount() {
  const pending = await api("/v1/approvals?state=pending");
  document.getElementById("pending-count").textContent = pending.length ? String(pending.length) : "";
}

// ---- Agents ------------------------------------------------------------------------------------------------

async function agentsPage(main) {
  const agents = await api("/v1/agents");
  main.append(h("h1", {}, "Agents"));
  const cards = h("div", { class: "cards wide" });
  main.append(cards);
  for (const a of agents) cards.append(agentCard(a));
}

function agentCard(a) {
  const id = `agent-${a.name}`;
  const card = h("article", { class: "panel", "aria-labelledby": id, "data-agent": a.name });
  const checkBox = h("div", {}, h("p", { class: "muted" }, "Reading what ironclaw check says…"));
  const task = h("textarea", { id: `${id}-task`, name: "task", rows: 3, cols: 40 });
  const start = h(
    "form",
    { class: "row" },
    h(
      "label",
      { for: `${id}-task` },
      `Task${a.task === "none" ? " (takes none)" : a.task === "required" ? " (required)" : ""}`,
      task,
    ),
    h("button", { type: "submit", class: "primary" }, "Start a run"),
  );
  start.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const body = { agent: a.name, ...(a.task === "none" ? {} : { task: task.value }) };
      const r = await api("/v1/runs", { method: "POST", body });
      location.hash = `#/run/${encodeURIComponent(r.id)}`;
    } catch (e) {
      say(`Cannot start: ${e.message}`);
    }
  });
  const g = a.grants ?? {};
  const list = (items) =>
    items?.length
      ? h(
        "ul",
        { class: "mono" },
        items.map((i) => h("li", {}, typeof i === "string" ? i : JSON.stringify(i))),
      )
      : h("span", { class: "muted" }, "none");
  card.append(
    h("h2", { id }, a.name, " ", h("span", { class: "muted" }, `${a.kind}, version ${a.version}`)),
    h("p", {}, a.description || h("span", { class: "muted" }, "No description.")),
    kv([
      ["Reads", list(g.read)],
      ["Writes", list(g.write)],
      [
        "Network",
        list(
          g.net?.map((n) =>
            `${n.methods ? n.methods.join(",") + " " : ""}${n.scheme ? n.scheme + "://" : ""}${n.host}${
              n.port ? ":" + n.port : ""
            }${n.path ?? ""}`
          ),
        ),
      ],
      ["Programs", list(g.run?.map((r) => r.name))],
      ["Environment", list(g.env)],
      ["Secrets", list(g.secrets?.map((x) => `${x.name} → ${x.hosts.join(", ")}`))],
      [
        "Model",
        g.model
          ? `${g.model.provider}/${g.model.name} (at most ${g.model.max_calls} calls, ${g.model.max_tokens} tokens)`
          : "none",
      ],
      ["Plugins", list(g.plugins)],
      [
        "Limits",
        h(
          "ul",
          { class: "mono" },
          Object.entries(a.limits ?? {}).map(([k, v]) => h("li", {}, `${k} = ${v}`)),
        ),
      ],
    ]),
    checkBox,
    start,
  );
  api(`/v1/agents/${encodeURIComponent(a.name)}`).then((c) => {
    fill(
      checkBox,
      h("h3", {}, "Needs approval"),
      c.approvals.require.length
        ? list(c.approvals.require)
        : h("p", { class: "muted" }, "Nothing: every granted call goes ahead."),
      c.approvals.require.length
        ? h("p", { class: "muted" }, `A decision is waited for ${c.approvals.timeout_s} s at most.`)
        : null,
      h("h3", {}, "Sandbox flags, as ironclaw check explains them"),
      h(
        "ul",
        { class: "flags" },
        c.explain.map((f) =>
          h(
            "li",
            {},
            h("code", {}, f.flag),
            h("br"),
            f.why,
            f.from.length
              ? h(
                "span",
                { class: "muted" },
                ` (from ${
                  f.from.map((o) => `${o.source} line ${o.line}${o.key ? " " + o.key : ""}`).join("; ")
                })`,
              )
              : null,
          )
        ),
      ),
    );
  }).catch((e) => fill(checkBox, errorBox(e)));
  return card;
}

// ---- Start -------------------------------------------------------------------------------------------------

addEventListener("hashchange", route);
addEventListener("DOMContentLoaded", async () => {
  document.getElementById("sign-out").addEventListener("click", signOut);
  try {
    const s = await api("/v1/session");
    if (s.signedIn) {
      csrf = s.csrf;
      signedIn();
    } else showSignIn();
  } catch (e) {
    showSignIn(e);
  }
  setInterval(() => {
    if (csrf) updatePendingCount().catch(() => {});
  }, 3000);
});
