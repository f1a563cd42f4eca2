/**
 * Typings of the host interface an IronClaw component agent imports.
 * Reference them from an agent written in TypeScript:
 *
 *   /// <reference path="./ironclaw-agent.d.ts" />
 *   import { call, log } from "ironclaw:agent/host@0.1.0";
 *   export function run(task: string): string { ... }
 */
declare module "ironclaw:agent/host@0.1.0" {
  /**
   * Asks the host gate to do one thing; see docs/abi.md.
   * Returns the result as JSON text. Throws an Error whose message is the JSON
   * text of `{code, message, hint}` when the gate refuses or the op fails.
   */
  export function call(
    op: "fs.read" | "fs.write" | "fs.list" | "http.fetch" | "proc.run" | "env.get",
    args: string,
  ): string;
  /** Writes one line to the run's record. */
  export function log(level: "debug" | "info" | "warn" | "error", message: string): void;
}
