/**
 * `ironclaw serve`: the HTTP API over the run store (see `server.ts`).
 *
 * @module
 */

export { isLoopback, type ServeHandle, type ServeOptions, startServer } from "./server.ts";
export { MIN_TOKEN_CHARS, type ServeToken, serveToken } from "./auth.ts";
export { documentedRoutes, openApiDocument } from "./openapi.ts";
export { servedRoutes } from "./routes.ts";
