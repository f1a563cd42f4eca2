/**
 * The dashboard's sessions: signing in with the server's token once gives the
 * browser a cookie, so the page never keeps the token.
 *
 * Design:
 * - The cookie holds a random session id (32 bytes), never the token. The
 *   server keeps only the SHA-256 of each id, in memory: a restart signs
 *   everyone out, and a copy of the server's memory holds no usable cookie.
 * - The cookie is `HttpOnly` (scripts cannot read it), `SameSite=Strict` (no
 *   other site's page makes the browser send it) and `Path=/`; a session
 *   lasts {@linkcode SESSION_MS} at most.
 * - A request that changes something (any method but GET and HEAD) and is
 *   authenticated by the cookie must also come from the server's own origin:
 *   its `Origin` must be this server's (the one its `Host` names),
 *   `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`, and
 *   it must carry the header {@linkcode CSRF_HEADER} with the session's own
 *   random value, which only a page that read the session (same origin) has.
 *   A cross-site form or fetch has neither, and is refused with 403.
 * - The `Authorization: Bearer` header keeps working for scripts; it is not
 *   sent by browsers on their own, so it needs none of the above.
 *
 * @module
 */

import { IronclawError } from "../../manifests/errors.ts";

/** The cookie's name. */
export const SESSION_COOKIE = "ironclaw_session";
/** The header a cookie-authenticated change must carry, with the session's value. */
export const CSRF_HEADER = "x-ironclaw-csrf";
/** How long a session lasts, in ms: 12 hours. */
export const SESSION_MS = 12 * 3600_000;
/** At most this many sessions are kept; the oldest goes first. */
const MAX_SESSIONS = 1000;

/** 32 random bytes in base64url. */
function randomText(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function sha256(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One signed-in browser. */
export interface Session {
  /** The value the page sends in {@linkcode CSRF_HEADER}. */
  csrf: string;
  /** When it ends, in ms since the epoch. */
  expires: number;
}

/** The sessions of one server, in memory. */
export class SessionTable {
  #byHash = new Map<string, Session>();

  /**
   * Opens a session.
   *
   * @returns The cookie's value (the session id) and the session.
   */
  async open(): Promise<{ id: string; session: Session }> {
    const id = randomText();
    const session = { csrf: randomText(), expires: Date.now() + SESSION_MS };
    if (this.#byHash.size >= MAX_SESSIONS) this.#byHash.delete(this.#byHash.keys().next().value!);
    this.#byHash.set(await sha256(id), session);
    return { id, session };
  }

  /**
   * The session of a request's cookie, or null.
   *
   * @param req The request.
   * @returns The session, or null without a cookie or for an unknown or ended one.
   */
  async find(req: Request): Promise<Session | null> {
    const id = cookieValue(req.headers.get("cookie"), SESSION_COOKIE);
    if (id === null || id.length > 100) return null;
    const hash = await sha256(id);
    const s = this.#byHash.get(hash);
    if (!s) return null;
    if (s.expires <= Date.now()) {
      this.#byHash.delete(hash);
      return null;
    }
    return s;
  }

  /**
   * Ends the session of a request's cookie.
   *
   * @param req The request.
   */
  async close(req: Request): Promise<void> {
    const id = cookieValue(req.headers.get("cookie"), SESSION_COOKIE);
    if (id !== null) this.#byHash.delete(await sha256(id));
  }
}

/**
 * A cookie's value from a `Cookie` header.
 *
 * @param header The header, or null.
 * @param name The cookie's name.
 * @returns Its value, or null.
 */
export function cookieValue(header: string | null, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return null;
}

/**
 * The `Set-Cookie` header of a session (or, with a null id, the one that removes it).
 *
 * @param id The session id, or null to sign out.
 * @returns The header's value.
 */
export function sessionCookie(id: string | null): string {
  const age = id === null ? 0 : Math.floor(SESSION_MS / 1000);
  return `${SESSION_COOKIE}=${id ?? ""}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${age}`;
}

/** A change refused because it may come from another site: answered 403. */
class CrossSiteError extends IronclawError {}

/**
 * Whether an error is a refused cross-site change (answered 403 rather than 401).
 *
 * @param e The error.
 * @returns True for an error of {@linkcode checkSameOrigin}.
 */
export function isCrossSite(e: unknown): boolean {
  return e instanceof CrossSiteError;
}

function forbidden(message: string): IronclawError {
  return new CrossSiteError("ERR_UNAUTHORIZED", message, {
    hint: "change things from the dashboard's own page, or send Authorization: Bearer <token>",
  });
}

/**
 * Refuses a change authenticated by a cookie that may come from another site: see the module's design.
 *
 * @param req The request (not GET or HEAD).
 * @param session Its session.
 * @throws {IronclawError} `ERR_UNAUTHORIZED` (answered as 403) from another origin or without the CSRF value.
 */
export function checkSameOrigin(req: Request, session: Session): void {
  const host = req.headers.get("host");
  const origin = req.headers.get("origin");
  const own = new URL(req.url);
  const expected = host ? `${own.protocol}//${host}` : own.origin;
  if (origin === null || origin !== expected) {
    throw forbidden(`A change from the origin "${origin ?? "(none)"}" is refused: only ${expected} may`);
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") {
    throw forbidden(`A change from a ${site} page is refused`);
  }
  const csrf = req.headers.get(CSRF_HEADER) ?? "";
  if (csrf.length !== session.csrf.length || !timingSafeEqual(csrf, session.csrf)) {
    throw forbidden(`A change without the session's ${CSRF_HEADER} header is refused`);
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
