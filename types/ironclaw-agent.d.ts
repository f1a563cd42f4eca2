/**
 * Typings of the host interface an IronClaw component agent imports.
 * Generated from GATE_OPS (protocol/gate_ops.ts) by `deno task gate-docs`: do not edit by hand.
 * Reference them from an agent written in TypeScript:
 *
 *   /// <reference path="./ironclaw-agent.d.ts" />
 *   import { call, log } from "ironclaw:agent/host@0.1.0";
 *   export function run(task: string): string { ... }
 */
declare module "ironclaw:agent/host@0.1.0" {
  /** Every op of the host gate: the JSON object `call` takes, and the JSON it answers. */
  export interface GateOps {
    /** Reads a file (at most 8 MiB) inside a read or write grant. */
    "fs.read": {
      args: {
        /** The file, relative to the manifest's folder. */
        path: string;
        /** How the data comes back: "utf8" text (the default) or "base64" bytes. */
        encoding?: "utf8" | "base64";
      };
      result: {
        /** The file's text, or its bytes in base64. */
        data: string;
      };
    };
    /** Makes or replaces a file inside a write grant, making missing folders inside the grant. */
    "fs.write": {
      args: {
        /** The file, relative to the manifest's folder. */
        path: string;
        /** What to write. */
        data: string;
        /** What data is: "utf8" text (the default) or "base64" bytes. */
        encoding?: "utf8" | "base64";
        /** Add to the end instead of replacing. */
        append?: boolean;
      };
      result: {
        /** The bytes written. */
        bytes: number;
      };
    };
    /** Lists a folder inside a read or write grant: its first 10,000 entries by name, how many it has, and whether the list was cut. */
    "fs.list": {
      args: {
        /** The folder, relative to the manifest's folder. */
        path: string;
      };
      result: {
        /** The folder's first entries by name (UTF-16 code unit order). */
        entries: { name: string; kind: "file" | "dir" | "symlink"; size: number }[];
        /** How many entries the folder has. */
        total: number;
        /** Whether entries holds fewer than total. */
        truncated: boolean;
      };
    };
    /** Makes an HTTP request to a granted host; redirects are returned, not followed. */
    "http.fetch": {
      args: {
        /** The URL. */
        url: string;
        /** GET, POST... */
        method?: string;
        /** Request headers. */
        headers?: Record<string, string>;
        /** The request body. */
        body?: string;
      };
      result: {
        /** The status code. */
        status: number;
        /** The response headers. */
        headers: Record<string, string>;
        /** The response body (at most 8 MiB). */
        body: string;
      };
    };
    /** Runs a granted program: no shell, empty environment, in the manifest's folder. */
    "proc.run": {
      args: {
        /** The program. */
        cmd: string;
        /** Its arguments. */
        args?: string[];
        /** Text for its standard input. */
        stdin?: string;
      };
      result: {
        /** The exit code. */
        code: number;
        /** Its standard output (at most 1 MiB). */
        stdout: string;
        /** Its standard error (at most 1 MiB). */
        stderr: string;
      };
    };
    /** Reads a granted environment variable. */
    "env.get": {
      args: {
        /** The variable. */
        name: string;
      };
      result: {
        /** Its value, null when unset. */
        value: string | null;
      };
    };
    /** Asks the manifest's model, brokered by the supervisor, within [model] max_calls and max_tokens. */
    "model.complete": {
      args: {
        /** The conversation so far. */
        messages: ChatMessage[];
        /** The tools the model may call. */
        tools?: ToolSpec[];
        /** The most tokens of the answer. */
        maxTokens?: number;
        /** Sampling temperature, 0 to 2. */
        temperature?: number;
      };
      result: CompletionResult;
    };
    /** Runs a tool of a plugin the manifest uses, its input checked against the tool's schema. */
    "tool.call": {
      args: {
        /** The tool, as "plugin.tool". */
        name: string;
        /** The tool's input. */
        input?: unknown;
      };
      result: {
        /** What the tool answered. */
        output: unknown;
      };
    };
  }

  /** The name of an op. */
  export type GateOp = keyof GateOps;

  /**
   * Asks the host gate to do one thing; see docs/abi.md.
   * `args` is the JSON text of `GateOps[op]["args"]`; returns the JSON text of `GateOps[op]["result"]`.
   * Throws an Error whose message is the JSON text of `{code, message, hint}` when the gate refuses or the op
   * fails.
   */
  export function call(op: GateOp, args: string): string;
  /** Writes one line to the run's record. */
  export function log(level: "debug" | "info" | "warn" | "error", message: string): void;

  /** A tool the model may call: a name, a description and a JSON Schema of its arguments. */
  export interface ToolSpec {
    /** Letters, digits and `_` only (every provider accepts that). */
    name: string;
    /** What the tool does, for the model. */
    description: string;
    /** JSON Schema (an object schema) of the arguments. */
    parameters: Record<string, unknown>;
  }

  /** A tool call the model asked for. */
  export interface ToolCall {
    /** The provider's id of the call (made up where the provider has none, as Ollama). */
    id: string;
    /** The tool's name. */
    name: string;
    /** The arguments, parsed. */
    arguments: Record<string, unknown>;
  }

  /** One message of a conversation. */
  export type ChatMessage =
    | { role: "system"; content: string }
    | { role: "user"; content: string }
    | { role: "assistant"; content: string; toolCalls?: ToolCall[] }
    | { role: "tool"; toolCallId: string; name: string; content: string };

  /** Tokens a call used, as the provider reported them. */
  export interface Usage {
    /** Tokens of the prompt. */
    inputTokens: number;
    /** Tokens of the answer. */
    outputTokens: number;
  }

  /** The model's answer. */
  export interface CompletionResult {
    /** The answer: text and tool calls (either may be empty). */
    message: { role: "assistant"; content: string; toolCalls: ToolCall[] };
    /** Tokens used. */
    usage: Usage;
    /** Why the model stopped: "stop", "tool_calls", "length", or the provider's own word. */
    stopReason: string;
    /** The model that answered, as the provider names it. */
    model: string;
  }
}
