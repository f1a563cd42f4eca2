/**
 * The dashboard's files (`supervisor/serve/dashboard/`: plain HTML, CSS and
 * ES modules, no build step), served by `ironclaw serve` at `/` without a
 * token: they hold nothing secret, and the page signs in before it asks the
 * API anything. They ship inside the package as the generated module
 * `_dashboard_files.ts` (`deno task dashboard` writes it), so they are there
 * whether IronClaw runs from source, from JSR or compiled.
 *
 * @module
 */

/** The path of each file, and its content type. */
const SERVED: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

/**
 * What the page may load and run: only its own files and its own API. No inline script or style runs, so
 * even text that reached the page as markup by mistake could not run a script.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The answer of a request for one of the dashboard's files, or null for any other request.
 *
 * @param pathname The request's path.
 * @param method Its method: only GET and HEAD are answered.
 * @returns The file, or null.
 */
export async function dashboardResponse(pathname: string, method: string): Promise<Response | null> {
  const served = Object.hasOwn(SERVED, pathname) ? SERVED[pathname] : undefined;
  if (!served || (method !== "GET" && method !== "HEAD")) return null;
  // The files (45 KB of text) load with the first request for one, not with every command of the CLI.
  const { DASHBOARD_FILES } = await import("./_dashboard_files.ts");
  const text = DASHBOARD_FILES[served.file]!;
  return new Response(method === "HEAD" ? null : text, {
    headers: {
      "content-type": served.type,
      "cache-control": "no-cache",
      "content-security-policy": DASHBOARD_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    },
  });
}
