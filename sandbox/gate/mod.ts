/**
 * The host gate (`HostGate`): a core that counts, parses, dispatches through
 * `GATE_OPS` and records, and one module per op family (fs, env, net, proc,
 * model, tool) with its I/O injected.
 *
 * @module
 */

export { GATE_ABI_VERSION } from "../../protocol/gate_ops.ts";
export { HostGate } from "./host_gate.ts";
export type { GateReply, HostGateOptions } from "./options.ts";
export { GateError, type GateErrorCode } from "./errors.ts";
export { MAX_FILE_BYTES, MAX_HTTP_BYTES, MAX_PROC_BYTES, OP_TIMEOUT_MS } from "./family.ts";
