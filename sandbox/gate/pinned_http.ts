/**
 * The gate's HTTP client that connects to the address it is given: it lives in
 * `protocol/pinned_http.ts`, shared with the supervisor (which lists a remote
 * MCP plugin's tools with the same checks when plugins are indexed).
 *
 * @module
 */

export { pinnedFetch, type PinnedFetchOptions } from "../../protocol/pinned_http.ts";
