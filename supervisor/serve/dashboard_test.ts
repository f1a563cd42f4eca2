import assert from "node:assert/strict";
import { DASHBOARD_FILES } from "./_dashboard_files.ts";
import { DASHBOARD_CSP, dashboardResponse } from "./dashboard.ts";
import { dashboardModule, readDashboardSources } from "./write_dashboard.ts";

Deno.test("_dashboard_files.ts is current: `deno task dashboard` wrote it from dashboard/", async () => {
  const sources = await readDashboardSources();
  assert.deepEqual(DASHBOARD_FILES, sources, "run deno task dashboard");
  assert.equal(typeof dashboardModule(sources), "string");
});

Deno.test("dashboardResponse() serves the three files with a strict CSP, and nothing else", async () => {
  const page = (await dashboardResponse("/", "GET"))!;
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(page.headers.get("content-security-policy"), DASHBOARD_CSP);
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe/);
  assert.match(await page.text(), /<script type="module" src="\/app.js">/);
  assert.equal(
    (await dashboardResponse("/app.js", "GET"))!.headers.get("content-type"),
    "text/javascript; charset=utf-8",
  );
  assert.equal(await (await dashboardResponse("/app.css", "HEAD"))!.text(), "");
  for (
    const [path, method] of [["/", "POST"], ["/index.html", "GET"], ["/v1/runs", "GET"], ["/app.js/", "GET"]]
  ) {
    assert.equal(await dashboardResponse(path!, method!), null, `${method} ${path}`);
  }
});

Deno.test("the dashboard's script never parses text as HTML", () => {
  const js = DASHBOARD_FILES["app.js"]!;
  for (
    const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]
  ) {
    assert.ok(!js.includes(sink), `app.js uses ${sink}`);
  }
});
