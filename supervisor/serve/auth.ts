/**
 * The bearer token of `ironclaw serve`: from `IRONCLAW_TOKEN`, else the file
 * `<state_dir>/serve.token` (made on the first start, mode 0600, 32 random
 * bytes in base64url), and a comparison that takes the same time whatever
 * the guess.
 *
 * @module
 */

import { join } from "node:path";
import { IronclawError } from "../../manifests/errors.ts";

/** The shortest token accepted from the environment, in characters. */
export const MIN_TOKEN_CHARS = 16;

/** Where a server's token came from. */
export interface ServeToken {
  /** The token. */
  token: string;
  /** The file that holds it, or null when it came from the caller (`IRONCLAW_TOKEN`). */
  file: string | null;
}

/** 32 random bytes in base64url, without padding. */
function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The token a server asks for: the given one, else the one in `<stateDir>/serve.token`, made (mode 0600) when
 * the file does not exist yet.
 *
 * @param stateDir The runtime's state folder.
 * @param options `token`: a token given by the caller (`IRONCLAW_TOKEN`).
 * @returns The token and its file.
 * @throws {IronclawError} `ERR_USAGE` for a given token shorter than {@linkcode MIN_TOKEN_CHARS} or with
 *   whitespace, `ERR_IO` when the file cannot be read or made.
 */
export async function serveToken(stateDir: string, options: { token?: string } = {}): Promise<ServeToken> {
  if (options.token !== undefined) {
    if (options.token.length < MIN_TOKEN_CHARS || /\s/.test(options.token)) {
      throw new IronclawError("ERR_USAGE", `IRONCLAW_TOKEN is not a usable token`, {
        hint: `give at least ${MIN_TOKEN_CHARS} characters without spaces, or unset it to use a token file`,
      });
    }
    return { token: options.token, file: null };
  }
  const file = join(stateDir, "serve.token");
  try {
    await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
    try {
      await Deno.writeTextFile(file, newToken() + "\n", { createNew: true, mode: 0o600 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const mode = (await Deno.stat(file)).mode;
    if (mode !== null && (mode & 0o077) !== 0) await Deno.chmod(file, 0o600); // made by hand, too open
    const token = (await Deno.readTextFile(file)).trim();
    if (token.length < MIN_TOKEN_CHARS) throw new Error(`it holds fewer than ${MIN_TOKEN_CHARS} characters`);
    return { token, file };
  } catch (e) {
    throw new IronclawError("ERR_IO", `Cannot use the token file "${file}": ${(e as Error).message}`, {
      hint: "check that the state folder is writable; delete the file to have a new token made",
      cause: e,
    });
  }
}

/**
 * Whether an `Authorization` header carries the token: both are hashed (SHA-256) and the digests compared
 * byte by byte without an early exit, so the time taken tells nothing of how much of a guess was right.
 *
 * @param header The request's `Authorization` header, or null.
 * @param token The server's token.
 * @returns True when the header is `Bearer <token>`.
 */
export async function bearerMatches(header: string | null, token: string): Promise<boolean> {
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? "");
  const given = m?.[1] ?? "";
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(given)),
    crypto.subtle.digest("SHA-256", enc.encode(token)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = m ? 0 : 1;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
