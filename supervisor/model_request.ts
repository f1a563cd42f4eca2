/**
 * Checking a `model.complete` request that comes from the sandbox: the
 * supervisor trusts nothing the child sends, so the shape is checked before a
 * provider sees it.
 *
 * @module
 */

import type { ChatMessage, CompletionRequest, ToolSpec } from "../protocol/model_types.ts";

/** The most messages, tools and characters one request may carry. */
export const MAX_REQUEST = { messages: 1000, tools: 128, chars: 4 * 1024 * 1024 } as const;

/**
 * Returns the request as a well-formed {@linkcode CompletionRequest}, or throws a
 * TypeError that says what is wrong with it.
 *
 * @param args What the sandbox sent.
 * @returns The checked request (a copy).
 * @throws {TypeError} When it is malformed.
 * @example
 * ```ts
 * import { checkCompletionRequest } from "./model_request.ts";
 * const r = checkCompletionRequest({ messages: [{ role: "user", content: "hi" }] });
 * if (r.messages.length !== 1) throw new Error();
 * ```
 */
export function checkCompletionRequest(args: unknown): CompletionRequest {
  if (typeof args !== "object" || args === null) fail("must be an object");
  const a = args as Record<string, unknown>;
  if (!Array.isArray(a.messages) || a.messages.length === 0) fail("needs a non-empty messages array");
  if (JSON.stringify(a).length > MAX_REQUEST.chars) fail(`is larger than ${MAX_REQUEST.chars} characters`);
  const messages = (a.messages as unknown[]).slice(0, MAX_REQUEST.messages + 1).map(checkMessage);
  if (messages.length > MAX_REQUEST.messages) fail(`has more than ${MAX_REQUEST.messages} messages`);
  const out: CompletionRequest = { messages };
  if (a.tools !== undefined) {
    if (!Array.isArray(a.tools) || a.tools.length > MAX_REQUEST.tools) {
      fail(`tools must be an array of at most ${MAX_REQUEST.tools}`);
    }
    out.tools = (a.tools as unknown[]).map(checkTool);
  }
  if (a.maxTokens !== undefined) {
    if (!Number.isSafeInteger(a.maxTokens) || (a.maxTokens as number) < 1) {
      fail("maxTokens must be a positive integer");
    }
    out.maxTokens = a.maxTokens as number;
  }
  if (a.temperature !== undefined) {
    if (typeof a.temperature !== "number" || a.temperature < 0 || a.temperature > 2) {
      fail("temperature must be from 0 to 2");
    }
    out.temperature = a.temperature as number;
  }
  return out;
}

/** Throws the TypeError of a malformed request. */
function fail(what: string): never {
  throw new TypeError(`A model.complete request ${what}`);
}

/** Message `i` of a request, checked. */
function checkMessage(m: unknown, i: number): ChatMessage {
  if (typeof m !== "object" || m === null) fail(`message ${i} must be an object`);
  const x = m as Record<string, unknown>;
  const content = typeof x.content === "string" ? x.content : fail(`message ${i} needs a string content`);
  switch (x.role) {
    case "system":
    case "user":
      return { role: x.role, content };
    case "assistant": {
      const calls = x.toolCalls === undefined
        ? []
        : Array.isArray(x.toolCalls)
        ? x.toolCalls
        : fail(`message ${i}: toolCalls must be an array`);
      const toolCalls = calls.map((c: unknown, j: number) => {
        const t = c as Record<string, unknown>;
        if (
          typeof t?.id !== "string" || typeof t.name !== "string" || typeof t.arguments !== "object" ||
          t.arguments === null
        ) {
          fail(`message ${i}: tool call ${j} needs id, name and an arguments object`);
        }
        return {
          id: t.id as string,
          name: t.name as string,
          arguments: t.arguments as Record<string, unknown>,
        };
      });
      return toolCalls.length ? { role: "assistant", content, toolCalls } : { role: "assistant", content };
    }
    case "tool":
      if (typeof x.toolCallId !== "string" || typeof x.name !== "string") {
        fail(`message ${i}: a tool message needs toolCallId and name`);
      }
      return { role: "tool", toolCallId: x.toolCallId as string, name: x.name as string, content };
    default:
      return fail(`message ${i} has an unknown role ${JSON.stringify(x.role)}`);
  }
}

/** Tool spec `i` of a request, checked. */
function checkTool(t: unknown, i: number): ToolSpec {
  const x = t as Record<string, unknown>;
  if (typeof x?.name !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(x.name)) {
    fail(`tool ${i} needs a name of letters, digits and _`);
  }
  if (typeof x.description !== "string") fail(`tool ${i} needs a description`);
  if (typeof x.parameters !== "object" || x.parameters === null) {
    fail(`tool ${i} needs a parameters object`);
  }
  return {
    name: x.name as string,
    description: x.description as string,
    parameters: x.parameters as Record<string, unknown>,
  };
}
