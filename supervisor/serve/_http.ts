/**
 * The HTTP pieces of `ironclaw serve`: JSON answers, errors as
 * `{error: {code, message, hint}}` with the status their code means, and
 * request bodies read up to a cap.
 *
 * @module
 */

import { type ErrorCode, IronclawError } from "../../manifests/errors.ts";

/** The largest request body read, in bytes: room for a task of 8 MiB in JSON. */
export const MAX_BODY_BYTES = 9 * 1024 * 1024;

/** The HTTP status each error code answers with; any other code is a 500. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  ERR_USAGE: 400,
  ERR_INVALID_ARGS: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_CONFLICT: 409,
  ERR_ALREADY_DECIDED: 409,
  ERR_TOO_LARGE: 413,
  ERR_STORE: 503,
};

/**
 * A JSON answer.
 *
 * @param body The value.
 * @param init The status and headers.
 * @returns The response.
 */
export function json(body: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("cache-control", "no-store");
  return new Response(JSON.stringify(body) + "\n", { ...init, headers });
}

/**
 * An error as the answer of a request: `{error: {code, message, hint}}`. An error IronClaw did not raise on
 * purpose is a 500 `ERR_INTERNAL` whose message tells nothing of the server's insides.
 *
 * @param e What went wrong.
 * @param init The status, when not the one the code means, and more headers (`Allow`, `WWW-Authenticate`).
 * @returns The response.
 */
export function errorResponse(e: unknown, init: { status?: number; headers?: HeadersInit } = {}): Response {
  const headers = init.headers ?? {};
  if (e instanceof IronclawError) {
    const status = init.status ?? STATUS[e.code] ?? 500;
    return json({ error: { code: e.code, message: e.message, hint: e.hint ?? "" } }, { status, headers });
  }
  return json({
    error: {
      code: "ERR_INTERNAL",
      message: "The server failed to answer this request",
      hint: "this is a bug in IronClaw; the server's standard error tells more",
    },
  }, { status: 500, headers });
}

/**
 * Reads a request's body as JSON, at most {@linkcode MAX_BODY_BYTES}.
 *
 * @param req The request.
 * @returns The value.
 * @throws {IronclawError} `ERR_TOO_LARGE` for a larger body, `ERR_INVALID_ARGS` for one that is not JSON.
 */
export async function readJson(req: Request): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new IronclawError("ERR_INVALID_ARGS", `The request body is not JSON: ${(e as Error).message}`, {
      hint: 'send a JSON object, such as {"agent": "hello", "task": "..."}, as UTF-8',
    });
  }
}

function tooLarge(): IronclawError {
  return new IronclawError("ERR_TOO_LARGE", `The request body is larger than ${MAX_BODY_BYTES} bytes`, {
    hint: "give a shorter task (a run takes at most 8 MiB), or put the input in a file the agent may read",
  });
}
