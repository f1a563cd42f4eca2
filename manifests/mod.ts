/**
 * Agent manifests and the runtime configuration: schemas, parsers, errors. Pure: no I/O.
 *
 * @module
 */

export * from "./errors.ts";
export {
  DEFAULT_LIMITS,
  type Manifest,
  type ManifestAgent,
  type ManifestLimits,
  type ManifestModel,
  type NetEntry,
  parseManifest,
  type ParseManifestOptions,
} from "./agent_manifest.ts";
export {
  DEFAULT_CEILINGS,
  DEFAULT_PROVIDERS,
  defaultRuntimeConfig,
  type NameServer,
  parseNameServer,
  parseRuntimeConfig,
  type ParseRuntimeConfigOptions,
  type ProviderConfig,
  type RuntimeCeilings,
  type RuntimeConfig,
  type SecretConfig,
  type TelemetryConfig,
  type TelemetryHeader,
} from "./runtime_config.ts";
export { agentJsonSchema, type JsonSchema, runtimeConfigJsonSchema } from "./json_schema.ts";
