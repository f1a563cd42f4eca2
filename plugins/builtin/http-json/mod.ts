/**
 * The http-json plugin: JSON over HTTP through the host gate (`http.fetch`), so
 * the agent's net grants bound it and its config's `hosts` narrow it further.
 *
 * @module
 */

import { definePlugin, type PluginContext } from "../../plugin.ts";

function allowed(url: string, context: PluginContext): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a URL`);
  }
  const hosts = (context.config.hosts as string[] | undefined) ?? [];
  if (!hosts.includes(parsed.host) && !hosts.includes(parsed.hostname)) {
    throw new Error(`"${parsed.host}" is not in this plugin's hosts (config [plugins.http-json] hosts)`);
  }
  return parsed;
}

async function request(context: PluginContext, args: Record<string, unknown>) {
  const reply = await context.gate.call("http.fetch", args) as {
    status: number;
    headers: Record<string, string>;
    body: string;
  };
  if (reply.body.length > Number(context.config.max_body_bytes)) {
    throw new Error("The answer is larger than max_body_bytes");
  }
  let json: unknown;
  try {
    json = reply.body === "" ? null : JSON.parse(reply.body);
  } catch {
    throw new Error(`The answer (status ${reply.status}) is not JSON`);
  }
  return { status: reply.status, json };
}

export default definePlugin({
  tools: {
    get: (input: { url: string }, context) =>
      request(context, { url: allowed(input.url, context).href, headers: { accept: "application/json" } }),
    post: (input: { url: string; body: unknown }, context) =>
      request(context, {
        url: allowed(input.url, context).href,
        method: "POST",
        headers: { accept: "application/json", "content-type": "application/json" },
        body: JSON.stringify(input.body),
      }),
  },
});
