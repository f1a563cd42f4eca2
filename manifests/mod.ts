/**
 * Agent manifests and the runtime configuration: schemas, parsers, errors. Pure: no I/O.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./agent_manifest.ts";
export * from "./runtime_config.ts";
export * from "./json_schema.ts";
