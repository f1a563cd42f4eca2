// deno-lint-ignore-file no-explicit-any -- the API answers are read as JSON here

/**
 * The dashboard of `ironclaw serve` (issue 13) in a real browser: Debian's
 * chromium driven by playwright-core against a real server on loopback, with
 * real probe sandboxes (tests/agents/probe.js, whose task lists its gate
 * calls) and a real store. Screenshots of each page go to
 * tests/output/dashboard/ (git-ignored); the test prints the folder.
 *
 * Without chromium the test is skipped, except with CI set: then it fails.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { type ServeHandle, startServer } from "../supervisor/serve/mod.ts";
import { openStore } from "../supervisor/store/mod.ts";
import { ROOT } from "./_cli.ts";
import { PROBE } from "./_sandbox.ts";
import { slowModel } from "./_queue.ts";

const CHROMIUM = "/usr/bin/chromium";
/** The longest any wait here may take, in ms: far above what it needs. */
const WITHIN_MS = 90_000;
const OUT = join(ROOT, "tests/output/dashboard");

const haveChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!haveChromium && Deno.env.get("CI")) {
  throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install chromium)`);
}

/** Text an agent writes that a page would run if it put it in as HTML. */
const PAYLOADS = [
  "<script>window.__pwned=1;alert(1)</script>",
  "<img src=x onerror=window.__pwned=2;alert(2)>",
  "<a href=javascript:window.__pwned=3;alert(3)>click</a>",
];

/** A probe agent's folder in the served agents' folder: notes/ readable, out/ writable. */
async function probeAgent(agents: string, name: string, extra = ""): Promise<void> {
  const dir = join(agents, name);
  await Deno.mkdir(join(dir, "notes"), { recursive: true });
  await Deno.mkdir(join(dir, "out"), { recursive: true });
  await Deno.writeTextFile(join(dir, "notes/a.txt"), "note a\n");
  await Deno.writeTextFile(join(dir, "secret.txt"), "the secret\n");
  await Deno.writeTextFile(
    join(dir, "agent.toml"),
    `[agent]\nname = "${name}"\nkind = "wasm"\nmodule = "${PROBE}"\n` +
      `description = "A probe that makes the gate calls its task lists"\n\n` +
      `[capabilities.fs]\nread = ["notes"]\nwrite = ["out"]\n${extra}`,
  );
}

/**
 * A server over a fresh folder with the agents `probe`, `gated` (its writes wait for approval) and `chat` (a ReAct
 * agent whose loopback model answers after 200 ms).
 */
async function served(): Promise<{ server: ServeHandle; root: string } & AsyncDisposable> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "ironclaw-dash-" }));
  const agents = join(root, "agents");
  await probeAgent(agents, "probe");
  await probeAgent(agents, "gated", `\n[approvals]\nrequire = ["fs.write"]\ntimeout_s = 600\n`);
  await Deno.mkdir(join(agents, "chat"));
  await Deno.writeTextFile(
    join(agents, "chat/agent.toml"),
    `[agent]\nname = "chat"\ndescription = "Answers once its model does"\nkind = "react"\n` +
      `instructions = "Answer."\n\n[model]\nprovider = "slow"\nname = "m"\n`,
  );
  const model = slowModel(200);
  await Deno.writeTextFile(
    join(root, "ironclaw.toml"),
    `[runtime]\nstate_dir = "state"\n\n[providers.slow]\ntype = "ollama"\nbase_url = "${model.origin}"\n`,
  );
  const config = await loadRuntimeConfig({ path: join(root, "ironclaw.toml") });
  const errors: unknown[] = [];
  const server = await startServer({
    config,
    agentsDir: agents,
    port: 0,
    concurrency: 6,
    onError: (e) => errors.push(e),
  });
  return {
    server,
    root,
    async [Symbol.asyncDispose]() {
      await server.close({ stop: true });
      await model[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true }).catch(() => {});
      assert.deepEqual(errors, [], "no internal error");
    },
  };
}

/** A request to the API with the bearer token; the body parsed. */
async function call(
  server: ServeHandle,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

async function submit(server: ServeHandle, agent: string, calls: [string, unknown][]): Promise<string> {
  const r = await call(server, "/v1/runs", { agent, task: JSON.stringify({ calls }) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

/** Waits until `check` answers a value (not undefined). */
async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function pendingApproval(server: ServeHandle, runId: string): Promise<{ id: string; state: string }> {
  return await until(`an approval of ${runId}`, async () => {
    const { body } = await call(server, `/v1/approvals?run=${runId}&state=pending`);
    return body[0];
  });
}

async function runState(server: ServeHandle, id: string): Promise<string> {
  return (await call(server, `/v1/runs/${id}`)).body.summary.state;
}

/**
 * Whether the runs list shows at least `atLeast` rows, all in `state`. Run in the page, so self-contained (the
 * page's CSP forbids code given as a string).
 */
function onlyRowsIn({ state, atLeast }: { state: string; atLeast: number }): boolean {
  const rows = [...(globalThis as any).document.querySelectorAll("tr[data-run]")];
  return rows.length >= atLeast && rows.every((r: any) => r.dataset.state === state);
}

/** A screenshot of the viewport, or of the whole page. */
async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: join(OUT, name), fullPage });
}

Deno.test({
  name: "dashboard: sign-in, live runs, a run's timeline, approvals and agents in a real browser",
  ignore: !haveChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await Deno.mkdir(OUT, { recursive: true });
    console.log(`screenshots: ${OUT}`);
    await using s = await served();
    const { server } = s;
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      page.setDefaultTimeout(WITHIN_MS);
      const dialogs: string[] = [];
      const consoleErrors: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        d.dismiss().catch(() => {});
      });
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));

      await t.step("sign in: a wrong token is refused, the right one opens the runs", async () => {
        await page.goto(server.url + "/");
        await page.locator("#token").waitFor();
        await shot(page, "signin-1280.png");
        await page.fill("#token", "not-the-token-of-this-server");
        await page.click("button[type=submit]");
        await page.locator(".error", { hasText: "ERR_UNAUTHORIZED" }).waitFor();
        assert.equal(await page.locator("#nav").isHidden(), true);
        // By keyboard: the page focuses the token's field; Enter signs in.
        await page.fill("#token", "");
        await page.keyboard.type(server.token);
        await page.keyboard.press("Enter");
        await page.locator("h1", { hasText: "Runs" }).waitFor();
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === "ironclaw_session");
        assert.ok(session, "a session cookie");
        assert.equal(session.httpOnly, true);
        assert.equal(session.sameSite, "Strict");
        assert.notEqual(session.value, server.token, "the cookie is not the token");
        assert.equal(await page.evaluate("document.cookie"), "", "scripts cannot read the cookie");
      });

      await t.step("a run submitted through the API shows in the list and turns ok live", async () => {
        const id = await submit(server, "gated", [["fs.write", { path: "out/live.txt", data: "x" }]]);
        const row = page.locator(`tr[data-run="${id}"]`);
        await row.locator(".state", { hasText: "running" }).waitFor();
        await page.evaluate(() => ((globalThis as unknown as { __same: number }).__same = 1));
        const approval = await pendingApproval(server, id);
        assert.equal(
          (await call(server, `/v1/approvals/${approval.id}`, { decision: "approve" })).status,
          200,
        );
        await row.locator(".state", { hasText: "ok" }).waitFor();
        assert.equal(
          await page.evaluate(() => (globalThis as unknown as { __same?: number }).__same),
          1,
          "no reload",
        );
        assert.equal(await row.locator("td[data-label=Pooled]").textContent(), "no");
      });

      let deniedRun = "";
      await t.step(
        "a run's denied gate call shows its rule and hint; the sandbox command is shown",
        async () => {
          deniedRun = await submit(server, "probe", [["fs.read", { path: "secret.txt" }], ["fs.read", {
            path: "notes/a.txt",
          }]]);
          await until("the run's end", async () => ENDED.has(await runState(server, deniedRun)) || undefined);
          const { body } = await call(server, `/v1/runs/${deniedRun}`);
          const gate = body.events.find((e: any) => e.type === "gate" && e.decision === "deny");
          assert.ok(gate?.rule && gate?.hint, JSON.stringify(gate));
          const command = body.events.find((e: any) => e.type === "run").command as string[];
          await page.goto(`${server.url}/#/run/${deniedRun}`);
          const item = page.locator('li[data-type="gate"]', { hasText: "deny" }).first();
          await item.waitFor();
          assert.equal(await item.locator(".rule").textContent(), gate.rule);
          assert.equal(await item.locator(".hint").textContent(), gate.hint);
          await page.locator('li[data-type="gate"]', { hasText: "allow" }).first().waitFor();
          await page.locator('li[data-type="end"]').waitFor();
          const shown = await page.locator("#command").textContent();
          for (const arg of command.filter((a) => a.startsWith("--allow-"))) {
            assert.ok(shown!.includes(arg), `${arg} in the shown command`);
          }
          assert.ok(shown!.startsWith(command[0]!), "the program first");
          assert.ok((await page.locator("#grants li").count()) > 0);
          await page.locator("#gantt-legend").waitFor();
          await shot(page, "run-denied-1280.png");
          await shot(page, "run-denied-full-1280.png", true);
        },
      );

      await t.step(
        "approve a waiting run in the page: it goes on to ok; deny another: ERR_APPROVAL_DENIED",
        async () => {
          const yes = await submit(server, "gated", [["fs.write", { path: "out/yes.txt", data: "yes" }]]);
          const no = await submit(server, "gated", [["fs.write", { path: "out/no.txt", data: "no" }]]);
          const [ya, na] = [await pendingApproval(server, yes), await pendingApproval(server, no)];
          await page.goto(`${server.url}/#/approvals`);
          const yesCard = page.locator(`article[data-approval="${ya.id}"]`);
          await yesCard.waitFor();
          assert.match((await yesCard.textContent())!, /out\/yes\.txt/);
          await shot(page, "approvals-pending-1280.png");
          await yesCard.getByRole("button", { name: "Approve", exact: true }).click();
          await page.locator(`tr[data-approval="${ya.id}"]`, { hasText: "dashboard" }).waitFor();
          const noCard = page.locator(`article[data-approval="${na.id}"]`);
          await noCard.getByRole("button", { name: "Deny" }).click();
          await page.locator(`tr[data-approval="${na.id}"]`, { hasText: "denied" }).waitFor();
          await shot(page, "approvals-decided-1280.png");
          await page.goto(`${server.url}/#/run/${yes}`);
          await page.locator("#main .kv .state", { hasText: "ok" }).waitFor();
          await page.locator('li[data-type="approval-decided"]', { hasText: "approved" }).waitFor();
          assert.equal(await Deno.readTextFile(join(s.root, "agents/gated/out/yes.txt")), "yes");
          await shot(page, "run-approved-1280.png");
          await page.goto(`${server.url}/#/run/${no}`);
          await page.locator('li[data-type="gate"]', { hasText: "ERR_APPROVAL_DENIED" }).waitFor();
          await page.locator('li[data-type="approval-decided"]', { hasText: "denied" }).waitFor();
          await assert.rejects(Deno.stat(join(s.root, "agents/gated/out/no.txt")), Deno.errors.NotFound);
        },
      );

      await t.step("output and file names with markup are shown as text; no script runs", async () => {
        // File names hold no "/": an opening script tag, an image with a handler, a javascript: URL.
        const names = [
          "<script>window.__pwned=1;alert(1).txt",
          "<img src=x onerror=window.__pwned=2>.txt",
          "javascript:window.__pwned=3.txt",
        ];
        const id = await submit(server, "probe", [
          ...names.map((n): [string, unknown] => ["fs.write", { path: `out/${n}`, data: "x" }]),
          ["fs.list", { path: "out" }],
          ["fs.read", { path: PAYLOADS.join(" ") }],
        ]);
        await until("the run's end", async () => ENDED.has(await runState(server, id)) || undefined);
        const { body } = await call(server, `/v1/runs/${id}`);
        const end = body.events.find((e: any) => e.type === "end");
        for (const n of names) assert.ok(end.output.includes(JSON.stringify(n).slice(1, -1)), `${n} listed`);
        consoleErrors.length = 0;
        await page.goto(`${server.url}/#/run/${id}`);
        await page.locator("#output").waitFor();
        assert.equal(
          await page.locator("#output").textContent(),
          end.output,
          "the output exactly as written",
        );
        const text = await page.locator("#main").textContent();
        for (const n of names) assert.ok(text!.includes(n), `${n} shown as text`);
        for (const p of PAYLOADS) assert.ok(text!.includes(p), `${p} shown as text`);
        await page.goto(`${server.url}/#/runs`);
        await page.locator(`tr[data-run="${id}"]`).waitFor();
        await page.goto(`${server.url}/#/run/${id}`);
        await page.locator("#output").waitFor();
        await page.waitForTimeout(500); // let an image error handler fire, if one had been made
        assert.equal(
          await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
          undefined,
        );
        assert.deepEqual(dialogs, []);
        assert.equal(
          await page.locator("#main script, #main img, #main a[href^='javascript:' i]").count(),
          0,
        );
        assert.deepEqual(consoleErrors, []);
        await shot(page, "run-markup-1280.png");
      });

      await t.step("a cross-site POST to the approval endpoint with the cookie is refused", async () => {
        const id = await submit(server, "gated", [["fs.write", { path: "out/evil.txt", data: "evil" }]]);
        const approval = await pendingApproval(server, id);
        const target = `${server.url}/v1/approvals/${approval.id}`;
        const evil = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
          new Response(
            `<!doctype html><title>evil</title><script>
              fetch(${JSON.stringify(target)}, {method: "POST", mode: "no-cors", credentials: "include",
                body: '{"decision":"approve"}'}).finally(() => { document.title = "sent"; });
            </script>`,
            { headers: { "content-type": "text/html" } },
          ));
        try {
          const statuses: number[] = [];
          page.on("response", (r) => {
            if (r.url() === target) statuses.push(r.status());
          });
          await page.goto(`http://127.0.0.1:${evil.addr.port}/`);
          await page.waitForFunction('document.title === "sent"');
          await until("the refused request", () => Promise.resolve(statuses[0]));
          assert.deepEqual(statuses, [403]);
          assert.equal((await call(server, `/v1/approvals/${approval.id}`)).body.state, "pending");
          // A form post (no Origin check could be skipped by a form): refused alike.
          const form = await fetch(target, {
            method: "POST",
            headers: {
              cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; "),
              origin: `http://127.0.0.1:${evil.addr.port}`,
              "content-type": "text/plain",
            },
            body: '{"decision":"approve"}',
          });
          assert.equal(form.status, 403);
          await form.body?.cancel();
          assert.equal((await call(server, `/v1/approvals/${approval.id}`)).body.state, "pending");
        } finally {
          await evil.shutdown();
        }
        await call(server, `/v1/approvals/${approval.id}`, { decision: "deny" });
      });

      await t.step("cancel a run that waits for approval from its page: it ends interrupted", async () => {
        const id = await submit(server, "gated", [["fs.write", { path: "out/cancelled.txt", data: "c" }]]);
        await pendingApproval(server, id);
        await page.goto(`${server.url}/#/run/${id}`);
        await page.locator('li[data-type="approval-requested"]').waitFor();
        await page.locator("#main .kv .state", { hasText: "running" }).waitFor();
        await shot(page, "run-waiting-1280.png");
        await page.getByRole("button", { name: "Cancel run" }).click();
        await page.locator("#main .kv .state", { hasText: "interrupted" }).waitFor();
        await page.locator('li[data-type="end"]', { hasText: "interrupted" }).waitFor();
        assert.equal(await runState(server, id), "interrupted");
        await assert.rejects(Deno.stat(join(s.root, "agents/gated/out/cancelled.txt")), Deno.errors.NotFound);
      });

      await t.step(
        "a model run: its calls with tokens and latency, and the time they took in the strip",
        async () => {
          const r = await call(server, "/v1/runs", { agent: "chat", task: "task-1: say hello" });
          assert.equal(r.status, 201);
          await page.goto(`${server.url}/#/run/${r.body.id}`);
          const model = page.locator('li[data-type="model"]').first();
          await model.waitFor();
          assert.match((await model.textContent())!, /10 in, 2 out/);
          assert.match((await model.textContent())!, /done task-1/);
          await page.locator("#main .kv .state", { hasText: "ok" }).waitFor();
          const legend = (await page.locator("#gantt-legend").textContent())!;
          const modelMs = Number(/model: (\d+) ms/.exec(legend)?.[1] ?? "0");
          assert.ok(modelMs >= 200, `the model's 200 ms in the strip: ${legend}`);
          await shot(page, "run-model-1280.png", true);
        },
      );

      await t.step("agents: grants, approvals, check's explanation; start a run from the page", async () => {
        // By keyboard from the top of the page: Tab to the Agents link, Enter.
        await page.goto(`${server.url}/#/runs`);
        await page.locator("tr[data-run]").first().waitFor();
        await page.reload(); // a fresh page: the Tab order starts at its top
        await page.locator("tr[data-run]").first().waitFor();
        let tabs = 0;
        while (await page.evaluate("document.activeElement?.dataset?.page") !== "agents") {
          assert.ok(++tabs < 10, "the Agents link is reached by Tab");
          await page.keyboard.press("Tab");
        }
        await page.keyboard.press("Enter");
        await page.waitForURL(/#\/agents$/);
        const gated = page.locator('article[data-agent="gated"]');
        await gated.locator(".flags li").first().waitFor();
        assert.match((await gated.textContent())!, /fs\.write/);
        assert.match((await gated.locator(".flags").textContent())!, /--allow-read=/);
        await shot(page, "agents-1280.png");
        const probe = page.locator('article[data-agent="probe"]');
        await probe.getByLabel(/Task/).fill(
          JSON.stringify({ calls: [["fs.read", { path: "notes/a.txt" }]] }),
        );
        await probe.getByRole("button", { name: "Start a run" }).click();
        await page.waitForURL(/#\/run\//);
        await page.locator("#main .kv .state", { hasText: "ok" }).waitFor();
      });

      await t.step(
        "runs list: filtered by state, paged with Older and Newer; screenshots at 1280x800 and phone width",
        async () => {
          const failed =
            (await call(server, "/v1/runs", { agent: "probe", task: '{"do": "throw"}' })).body.id;
          await until(
            "the failed run's end",
            async () => ENDED.has(await runState(server, failed)) || undefined,
          );
          await page.goto(`${server.url}/#/runs`);
          await page.locator(`tr[data-run="${failed}"] .state`, { hasText: "error" }).waitFor();
          await page.locator(".chart .legend", { hasText: "error: 1" }).waitFor();
          await shot(page, "runs-1280.png");
          await page.selectOption("#f-state", "error");
          await page.waitForFunction(onlyRowsIn, { state: "error", atLeast: 1 });
          await page.selectOption("#f-state", "ok");
          await page.waitForFunction(onlyRowsIn, { state: "ok", atLeast: 4 });
          // Pages: 120 queued runs of an agent no worker here takes; Older shows the next 50, Newer the first again.
          const store = await openStore(join(s.root, "state"));
          try {
            for (let i = 0; i < 120; i++) {
              const id = `20260101T000000Z-q${String(i).padStart(3, "0")}`;
              const started = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
              await store.enqueueRun({
                id,
                agent: "nobody",
                manifest: "/nowhere",
                task: "",
                started,
                retries: 0,
              });
            }
          } finally {
            await store.close();
          }
          await page.selectOption("#f-state", "queued");
          await page.waitForFunction(onlyRowsIn, { state: "queued", atLeast: 50 });
          const ids = () =>
            page.locator("tr[data-run]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run")));
          const first = await ids();
          assert.equal(first[0], "20260101T000000Z-q119", "newest first");
          await page.click("#older");
          await page.locator('tr[data-run="20260101T000000Z-q069"]').waitFor();
          const second = await ids();
          assert.deepEqual(
            second,
            first.map((id) =>
              id!.replace(/q(\d+)$/, (_: string, n: string) => `q${String(Number(n) - 50).padStart(3, "0")}`)
            ),
          );
          await page.click("#older");
          await page.locator('tr[data-run="20260101T000000Z-q019"]').waitFor();
          assert.equal((await ids()).length, 20);
          assert.equal(await page.locator("#older").isDisabled(), true);
          await page.click("#newer");
          await page.click("#newer");
          await page.locator('tr[data-run="20260101T000000Z-q119"]').waitFor();
          await page.selectOption("#f-state", "");
          await page.setViewportSize({ width: 390, height: 844 });
          await page.goto(`${server.url}/#/runs`);
          await page.locator("tr[data-run]").first().waitFor();
          await shot(page, "runs-phone.png");
          await page.goto(`${server.url}/#/run/${deniedRun}`);
          await page.locator('li[data-type="end"]').waitFor();
          await shot(page, "run-phone.png");
          await page.setViewportSize({ width: 1280, height: 800 });
        },
      );

      await t.step("sign out: the API refuses the page again", async () => {
        await page.goto(`${server.url}/#/runs`);
        await page.click("#sign-out");
        await page.locator("#token").waitFor();
        const status = await page.evaluate(async () => (await fetch("/v1/runs")).status);
        assert.equal(status, 401);
      });
    } finally {
      await browser.close();
    }
  },
});

const ENDED = new Set(["ok", "error", "timeout", "oom", "interrupted", "lost"]);

Deno.test("GET /v1/runs pages with before: every run once, newest first, while new runs come", async () => {
  await using s = await served();
  const { server } = s;
  const store = await import("../supervisor/store/mod.ts").then((m) => m.openStore(join(s.root, "state")));
  try {
    const started = "2026-01-01T00:00:00.000Z"; // all at one time: the id orders them
    for (let i = 0; i < 130; i++) {
      await store.enqueueRun({
        id: `20260101T000000Z-${String(i).padStart(4, "0")}`,
        agent: "nobody",
        manifest: "/nowhere/agent.toml",
        task: "",
        started: i < 100 ? started : `2026-01-01T00:00:0${i % 10}.000Z`,
        retries: 0,
      });
    }
    const seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 10; page++) {
      const q: string = `/v1/runs?agent=nobody&limit=40${before ? `&before=${before}` : ""}`;
      const { status, body } = await call(server, q);
      assert.equal(status, 200);
      seen.push(...body.map((r: { id: string }) => r.id));
      if (body.length < 40) break;
      before = body.at(-1).id;
      if (page === 0) {
        await store.enqueueRun({
          id: "20270101T000000Z-new",
          agent: "nobody",
          manifest: "/nowhere/agent.toml",
          task: "",
          started: "2027-01-01T00:00:00.000Z",
          retries: 0,
        });
      }
    }
    assert.equal(seen.length, 130, "each run once");
    assert.equal(new Set(seen).size, 130);
    const all = (await call(server, "/v1/runs?agent=nobody&limit=1000")).body.map((r: { id: string }) =>
      r.id
    );
    assert.deepEqual(seen, all.filter((id: string) => id !== "20270101T000000Z-new"));
    assert.equal((await call(server, "/v1/runs?before=no%20such")).status, 400);
  } finally {
    await store.close();
  }
});

Deno.test("dashboard sessions over HTTP: the cookie reads; a change needs the page's origin and CSRF value", async () => {
  await using s = await served();
  const { server } = s;
  const wrong = await fetch(`${server.url}/v1/session`, {
    method: "POST",
    body: '{"token":"not-the-token-at-all"}',
  });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);
  await wrong.body?.cancel();
  const signIn = await fetch(`${server.url}/v1/session`, {
    method: "POST",
    body: JSON.stringify({ token: server.token }),
  });
  assert.equal(signIn.status, 200);
  const { csrf } = await signIn.json();
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
  assert.ok(!cookie.includes(server.token), "the cookie is not the token");
  const origin = server.url;
  const ask = async (path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await fetch(server.url + path, {
      method: body === undefined ? "GET" : "POST",
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    await res.body?.cancel();
    return res.status;
  };
  assert.equal(await ask("/v1/runs", { cookie }), 200, "the cookie reads");
  assert.equal(await ask("/v1/runs", { cookie: "ironclaw_session=forged" }), 401);
  const id = await submit(server, "gated", [["fs.write", { path: "out/s.txt", data: "s" }]]);
  const approval = await pendingApproval(server, id);
  const path = `/v1/approvals/${approval.id}`;
  const deny = { decision: "deny" };
  assert.equal(await ask(path, { cookie }, deny), 403, "no Origin, no CSRF");
  assert.equal(await ask(path, { cookie, origin }, deny), 403, "no CSRF");
  assert.equal(await ask(path, { cookie, "x-ironclaw-csrf": csrf }, deny), 403, "no Origin");
  assert.equal(await ask(path, { cookie, origin: "http://127.0.0.1:1", "x-ironclaw-csrf": csrf }, deny), 403);
  assert.equal(
    await ask(path, { cookie, origin, "x-ironclaw-csrf": csrf, "sec-fetch-site": "same-site" }, deny),
    403,
  );
  assert.equal((await call(server, path)).body.state, "pending", "nothing refused was decided");
  // Scripts with the bearer token need none of it.
  assert.equal(
    await ask(`/v1/runs`, { authorization: `Bearer ${server.token}`, origin: "http://elsewhere.example" }),
    200,
  );
  assert.equal(
    await ask(path, { cookie, origin, "x-ironclaw-csrf": csrf }, deny),
    200,
    "the page's own request",
  );
  const decided = (await call(server, path)).body;
  assert.deepEqual([decided.state, decided.decidedBy], ["denied", "dashboard"]);
  const out = await fetch(`${server.url}/v1/session`, {
    method: "DELETE",
    headers: { cookie, origin, "x-ironclaw-csrf": csrf },
  });
  assert.equal(out.status, 200);
  assert.match(out.headers.get("set-cookie")!, /Max-Age=0/);
  await out.body?.cancel();
  assert.equal(await ask("/v1/runs", { cookie }), 401, "signed out");
  await until("the run's end", async () => ENDED.has(await runState(server, id)) || undefined);
});
