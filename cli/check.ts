/** `ironclaw check <agent.toml>`: validate a manifest and show what it grants and why. */

import { approvalRuleNames } from "../capabilities/approvals.ts";
import { dirname, relative, resolve } from "node:path";
import type { GrantOrigin, Policy, PolicyWarning } from "../capabilities/policy.ts";
import { explainDenoFlags } from "../capabilities/deno_flags.ts";
import { grantsSummary } from "../capabilities/grants_summary.ts";
import { denoNetValue, pinnableNames } from "../capabilities/net.ts";
import type { Manifest } from "../manifests/agent_manifest.ts";
import type { RuntimeConfig } from "../manifests/runtime_config.ts";
import { loadRuntimeConfig } from "../supervisor/load.ts";
import { configureLogging, logger } from "../supervisor/logging.ts";
import { printable } from "../manifests/errors.ts";
import { PLACEHOLDER_RUN_ID, planRun, type RunPlan } from "../supervisor/plan.ts";
import { CHANNEL_ARG } from "../protocol/protocol.ts";
import { mcpServerCommand } from "../supervisor/mcp_server.ts";
import { type Preopen, preopenTable } from "../protocol/preopens.ts";
import { preparingProgress } from "./run.ts";
import {
  COMMON_OPTIONS,
  configOption,
  errorJson,
  type Io,
  parseCommandArgs,
  reportError,
  styles,
  UsageError,
} from "./output.ts";

/** Help of `ironclaw check`. */
export const CHECK_HELP = `Validate an agent manifest and show what it grants

Examples:
  ironclaw check examples/hello/agent.toml
  ironclaw check agent.toml --json | jq .flags
  ironclaw check agent.toml --config ./ironclaw.toml

Usage: ironclaw check <agent.toml> [options]

Prints the effective grants, the exact command line of the sandbox process (the
one ironclaw run spawns, with read access to the prepared component or Pyodide: a
component not yet prepared is transpiled now), for a WASI preview1 module the guest
path each granted folder is preopened under, and for each flag the manifest line
that caused it, then warnings: dangerous grants, and granted folders or a module
that do not exist.

Options:
  --json            Print one JSON object: {agent, config, grants, preopens, limits, approvals,
                    command, flags, explain, warnings} (preopens: null unless the module is WASI preview1)
  --config <file>   Runtime config; without it: ./ironclaw.toml, then ironclaw.toml
                    beside the manifest, then built-in defaults
  -h, --help        Show this help

Exit status: 0 valid, 2 invalid (every problem is listed), 1 anything else.
`;

/**
 * Runs `ironclaw check`.
 *
 * @param args The arguments after `check`.
 * @param io Where to write.
 * @returns The exit code.
 */
export async function checkCommand(args: string[], io: Io): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = parseCommandArgs({
      args,
      options: COMMON_OPTIONS,
      allowPositionals: true,
      strict: true,
    }, "check");
    json = values.json ?? false;
    if (values.help) {
      io.out(CHECK_HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? "Missing the manifest to check"
          : `Expected one manifest, got ${positionals.length}`,
        "ironclaw check <agent.toml>",
      );
    }
    const manifest = positionals[0]!;
    const config = await loadRuntimeConfig({
      ...configOption(values),
      manifestDir: dirname(resolve(manifest)),
    });
    await configureLogging(config.log, { stdoutReserved: json });
    // Transpiling a new component takes seconds, once: the run then finds it in the cache.
    const preparing = preparingProgress(io, json);
    const plan = await planRun(manifest, config, { check: true, onProgress: preparing.onProgress })
      .finally(preparing.stop);
    const { policy } = plan;
    const warnings = [...policy.warnings, ...await missingPaths(policy, plan.manifest, pathExists)];
    logger("check").debug("Resolved the policy of {agent} under {config}", {
      agent: policy.agent.name,
      config: config.file,
    });
    if (json) {
      io.out(JSON.stringify(checkJson(plan, config, warnings)) + "\n");
    } else {
      io.out(checkText(plan, config, warnings, io));
    }
    return 0;
  } catch (e) {
    if (json) {
      io.out(JSON.stringify({ valid: false, error: errorJson(e) }) + "\n");
      return reportError({ ...io, err: () => {} }, e);
    }
    return reportError(io, e);
  }
}

function where(o: GrantOrigin, cwd = Deno.cwd()): string {
  const file = o.file.startsWith("/") ? relative(cwd, o.file) || o.file : o.file;
  const by = o.source === "manifest" ? "" : `${o.source}: `;
  return `${by}${file}:${o.line}:${o.column}`;
}

/**
 * Warnings for granted paths and a module that do not exist: allowed (a run may
 * create them first), but most often a typo or a step not yet done.
 */
async function missingPaths(
  policy: Policy,
  manifest: Manifest | null,
  exists: (path: string) => Promise<boolean>,
): Promise<PolicyWarning[]> {
  const out: PolicyWarning[] = [];
  const seen = new Set<string>();
  for (const [kind, grants] of [["read", policy.fs.read], ["write", policy.fs.write]] as const) {
    for (const g of grants) {
      if (seen.has(g.path)) continue;
      seen.add(g.path);
      if (!await exists(g.path)) {
        out.push({
          message: `The ${kind} grant "${g.path}" does not exist: create it, or the agent cannot use it`,
          at: g.from[0]!,
        });
      }
    }
  }
  const module = policy.agent.module;
  if (module !== null && !await exists(module)) {
    const at = manifest?.at(["agent", "module"]) ??
      { file: policy.manifestFile, line: 1, column: 1, key: "" };
    out.push({
      message: `The module "${module}" does not exist: build it before running the agent`,
      at: { source: "manifest", ...at },
    });
  }
  return out;
}

/** Whether a path exists; anything but "not found" (no permission, say) counts as existing. */
async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
}

function checkJson(
  plan: Pick<RunPlan, "policy" | "paths" | "command">,
  config: Pick<RuntimeConfig, "file" | "telemetry">,
  warnings: readonly PolicyWarning[],
): Record<string, unknown> {
  const { policy, command } = plan;
  const explained = explainDenoFlags(policy, { runtime: plan.paths });
  const origin = (o: GrantOrigin) => ({
    source: o.source,
    file: o.file,
    line: o.line,
    column: o.column,
    key: o.key,
  });
  return {
    valid: true,
    agent: {
      name: policy.agent.name,
      version: policy.agent.version,
      kind: policy.agent.kind,
      description: policy.agent.description,
      module: policy.agent.module,
      language: policy.agent.language,
      manifest: policy.manifestFile,
    },
    config: config.file,
    telemetry: config.telemetry === null ? null : { otlp_endpoint: config.telemetry.otlp_endpoint },
    grants: grantsSummary(policy),
    preopens:
      wasiPreopens(plan)?.map((p) => ({ guest: p.guest, host: p.host, fd: p.fd, read_only: p.readOnly })) ??
        null,
    limits: policy.limits,
    approvals: { require: approvalRuleNames(policy.approvals.require), timeout_s: policy.approvals.timeoutS },
    command,
    flags: explained.map((f) => f.flag),
    explain: explained.map((f) => ({ flag: f.flag, why: f.why, from: f.from.map(origin) })),
    mcp: policy.plugins.flatMap((p): Record<string, unknown>[] =>
      p.mcp?.command
        ? [{
          plugin: p.name,
          command: mcpServerCommand(p.mcp, { dir: p.dir }),
          flags: p.mcp.flags.map((f) => f.flag),
          explain: p.mcp.flags.map((f) => ({ flag: f.flag, why: f.why, from: f.from.map(origin) })),
        }]
        : p.mcp?.url
        ? [{
          plugin: p.name,
          url: p.mcp.url,
          secret: p.mcp.secret,
          // Its requests are the plugin's http.fetch calls: these grants (its [permissions.net]) allow them.
          net: policy.net.filter((g) => g.from.some((o) => o.source === `plugin ${p.name}`)).map((g) => ({
            grant: netGrantText(g),
            from: g.from.map(origin),
          })),
        }]
        : []
    ),
    warnings: warnings.map((w) => ({ message: w.message, ...origin(w.at) })),
  };
}

function checkText(
  plan: Pick<RunPlan, "policy" | "paths" | "command">,
  config: Pick<RuntimeConfig, "file" | "telemetry">,
  warnings: readonly PolicyWarning[],
  io: Io,
): string {
  const { policy, command } = plan;
  const s = styles(io);
  const lines: string[] = [];
  const a = policy.agent;
  lines.push(
    `${s.green("valid")}  ${s.bold(a.name)} ${a.version} (${a.kind}${a.language ? `, ${a.language}` : ""})`,
  );
  if (a.description) lines.push(`       ${a.description}`);
  lines.push(`${s.dim("manifest")} ${policy.manifestFile}`);
  lines.push(`${s.dim("config")}   ${config.file}`);
  if (config.telemetry) {
    lines.push(
      `${s.dim("telemetry")} runs exported to ${printable(config.telemetry.otlp_endpoint)} (OTLP/HTTP)`,
    );
  }
  lines.push("", s.bold("Grants"));
  const rows: [string, string, string][] = [];
  for (const g of policy.fs.read) rows.push(["read", g.path, g.from.map((o) => where(o)).join(", ")]);
  for (const g of policy.fs.write) rows.push(["write", g.path, g.from.map((o) => where(o)).join(", ")]);
  for (const g of policy.net) {
    const target = g.scheme ? `${g.scheme}://${denoNetValue(g)}${g.pathPrefix}` : denoNetValue(g);
    rows.push([
      "net",
      `${target} ${g.methods ? g.methods.join(",") : "any method"}`,
      g.from.map((o) => where(o)).join(", "),
    ]);
  }
  for (const p of policy.run.programs) {
    rows.push([
      "run",
      p.path && p.path !== p.name ? `${p.name} (${p.path})` : p.name,
      p.from.map((o) => where(o)).join(", "),
    ]);
  }
  for (const e of policy.env) rows.push(["env", e.name, e.from.map((o) => where(o)).join(", ")]);
  for (const x of policy.secrets) {
    rows.push([
      "secret",
      `${x.name} -> ${x.hosts.join(", ")}`,
      x.from.map((o) => where(o)).join(", "),
    ]);
  }
  if (policy.model) {
    const m = policy.model;
    rows.push([
      "model",
      `${m.provider} (${m.type}${
        m.type === "scripted" ? ", replays a transcript" : ""
      }) ${m.name}, ${m.maxCalls} calls, ${m.maxTokens} tokens, brokered by the supervisor`,
      where(m.from),
    ]);
  }
  for (const p of policy.plugins) rows.push(["plugin", p.name, where(p.from)]);
  if (rows.length === 0) {
    lines.push("  nothing: the agent can compute, and reach no file, host, program or variable");
  }
  const w0 = Math.max(...rows.map((r) => r[0].length), 0);
  const w1 = Math.min(Math.max(...rows.map((r) => r[1].length), 0), 60);
  for (const [k, v, o] of rows) {
    lines.push(`  ${k.padEnd(w0)}  ${printable(v).padEnd(w1)}  ${s.dim(printable(o))}`);
  }
  const preopens = wasiPreopens(plan);
  if (preopens) {
    lines.push("", s.bold("WASI preopens"));
    if (preopens.length === 0) lines.push("  none: no granted folder exists");
    const width = Math.min(Math.max(...preopens.map((p) => p.guest.length), 0), 40);
    for (const p of preopens) {
      const approval = policy.approvals.require.some((r) => r.op === "fs.write");
      const access = p.readOnly
        ? (approval ? "read-only (fs.write needs approval)" : "read-only")
        : "read-write";
      lines.push(
        `  ${printable(p.guest).padEnd(width)}  ${printable(p.host)}  ${s.dim(`${access}, fd ${p.fd}`)}`,
      );
    }
  }
  const l = policy.limits;
  lines.push("", s.bold("Limits"));
  lines.push(
    `  memory ${l.memoryMb} MiB, wall time ${l.timeoutS} s, ${l.maxSteps} steps, ${l.maxToolCalls} tool calls, output ${l.maxOutputKb} KiB`,
  );
  if (l.retries > 0) {
    lines.push(
      `  a queued run is started again up to ${l.retries} times if its worker dies before any side effect`,
    );
  }
  if (policy.approvals.require.length > 0) {
    lines.push("", s.bold("Approvals"));
    lines.push(
      `  ${approvalRuleNames(policy.approvals.require).join(", ")}: a person approves each call ` +
        `(after its grants allowed it); no decision within ${policy.approvals.timeoutS} s is a denial`,
    );
  }
  lines.push("", s.bold("Sandbox command"));
  lines.push(`  ${printable(command.map(shellQuote).join(" "))}`);
  if (command.some((arg) => arg.includes(PLACEHOLDER_RUN_ID))) {
    lines.push(
      s.dim(
        `  (${PLACEHOLDER_RUN_ID} stands for the run's id: each run gets its own channel socket and pipes)`,
      ),
    );
  }
  if (pinnableNames(policy.net).length > 0 || policy.net.some((g) => g.host.startsWith("*."))) {
    lines.push(
      s.dim(
        "  (host names are resolved once when a run starts: the run's --allow-net lists their addresses instead, " +
          "and the sandbox can resolve no name itself; wildcard hosts cannot be reached by a run)",
      ),
    );
  }
  lines.push("", s.bold("Why each flag"));
  for (const f of explainDenoFlags(policy, { runtime: plan.paths })) {
    const from = f.from.length
      ? ` ${s.dim(`(${[...new Set(f.from.map((o) => where(o)))].join(", ")})`)}`
      : "";
    lines.push(`  ${printable(f.flag)}`);
    lines.push(`      ${f.why}${from}`);
  }
  for (const p of policy.plugins) {
    if (p.mcp?.url) {
      lines.push(
        "",
        s.bold(`Remote MCP server of plugin ${p.name}`) +
          s.dim(" (reached only through the sandbox's gate, as the plugin's http.fetch)"),
      );
      lines.push(
        `  ${printable(p.mcp.url)}${
          p.mcp.secret ? `  secret "${printable(p.mcp.secret)}" injected at egress` : ""
        }`,
      );
      for (const g of policy.net.filter((g) => g.from.some((o) => o.source === `plugin ${p.name}`))) {
        lines.push(
          `  net ${printable(netGrantText(g))} ${s.dim(`(${g.from.map((o) => where(o)).join(", ")})`)}`,
        );
      }
    }
    if (!p.mcp?.command) continue;
    lines.push(
      "",
      s.bold(`MCP server of plugin ${p.name}`) + s.dim(" (a child of the supervisor, not of the sandbox)"),
    );
    lines.push(`  ${printable(mcpServerCommand(p.mcp, { dir: p.dir }).map(shellQuote).join(" "))}`);
    for (const f of p.mcp.flags) {
      const from = f.from.length
        ? ` ${s.dim(`(${[...new Set(f.from.map((o) => where(o)))].join(", ")})`)}`
        : "";
      lines.push(`  ${printable(f.flag)}`);
      lines.push(`      ${f.why}${from}`);
    }
  }
  const channel = command.find((arg) => arg.startsWith(CHANNEL_ARG));
  if (channel) {
    const path = channel.slice(CHANNEL_ARG.length);
    lines.push(`  ${printable(`--allow-read=${path} --allow-write=${path} --allow-net=unix:${path}`)}`);
    lines.push(
      "      the run's private protocol channel: a socket only the sandbox's main thread can open (guests run " +
        "in Workers without permissions); stdout and stderr carry output only",
    );
  }
  if (warnings.length > 0) {
    lines.push("", s.bold(s.yellow("Warnings")));
    for (const w of warnings) {
      lines.push(`  ${s.yellow("warning")}: ${printable(w.message)} ${s.dim(`(${printable(where(w.at))})`)}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** The preopens a WASI preview1 module gets (the granted folders that exist now), or null for other agents. */
function wasiPreopens(plan: Pick<RunPlan, "policy" | "paths">): Preopen[] | null {
  if (plan.paths.moduleFormat !== "preview1") return null;
  const table = preopenTable(plan.policy, { isFolder });
  // The guest writes its preopens past the gate, where no approval can be awaited: they are read-only then.
  const approval = plan.policy.approvals.require.some((r) => r.op === "fs.write");
  return approval ? table.map((p) => ({ ...p, readOnly: true })) : table;
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** A net grant as written in a manifest: `scheme://host:port/path` with only the parts it has. */
function netGrantText(
  g: { scheme: string | null; host: string; port: number | null; pathPrefix: string },
): string {
  const host = g.host.includes(":") ? `[${g.host}]` : g.host;
  return `${g.scheme ? `${g.scheme}://` : ""}${host}${g.port ? `:${g.port}` : ""}${
    g.pathPrefix === "/" ? "" : g.pathPrefix
  }`;
}
