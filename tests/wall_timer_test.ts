/**
 * The sandbox's own wall-time timer, proven without the supervisor's: a test
 * stands in for a supervisor that starts a run and then neither stops nor
 * kills it (stuck, but its end of the channel still open). The sandbox, its
 * guest spinning in a loop, must end itself shortly after `timeout_s`, saying
 * why on the channel.
 */

import assert from "node:assert/strict";
import { agentDir, PROBE } from "./_sandbox.ts";
import { planRun } from "../supervisor/plan.ts";
import { ChannelListener } from "../supervisor/channel.ts";
import { narrowGrant } from "../protocol/grant.ts";
import {
  CHANNEL_ARG,
  encodeMessage,
  PROTOCOL_VERSION,
  readLines,
  type StartMessage,
} from "../protocol/protocol.ts";
import type { SandboxMode } from "../supervisor/sandbox_command.ts";

for (const mode of ["process", "worker"] as SandboxMode[]) {
  Deno.test(`a sandbox whose supervisor never ends it ends itself after its wall time (${mode} mode)`, async () => {
    await using agent = await agentDir(PROBE, "[limits]\ntimeout_s = 1\n");
    const plan = await planRun(agent.manifest, agent.config, { sandboxMode: mode });
    const channel = plan.command.find((a) => a.startsWith(CHANNEL_ARG))!.slice(CHANNEL_ARG.length);
    const listener = ChannelListener.open(channel);
    const denoDir = await Deno.makeTempDir({ prefix: "ironclaw-wall-" });
    const child = new Deno.Command(plan.command[0]!, {
      args: plan.command.slice(1),
      clearEnv: true,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      cwd: agent.dir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Without its own timer the sandbox would spin for ever: far past its wall time, the test ends it (and fails).
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      const conn = await listener.accept(child.status);
      assert.ok(conn, "the sandbox connected");
      const lines = readLines(conn.readable);
      assert.match((await lines.next()).value ?? "", /"type":"ready"/);
      const start: StartMessage = {
        v: PROTOCOL_VERSION,
        type: "start",
        runId: plan.id,
        task: JSON.stringify({ do: "loop" }),
        policy: narrowGrant(plan.policy, plan.paths),
        module: plan.module,
        gateChecks: true,
        pluginData: {},
        secrets: [],
      };
      const writer = conn.writable.getWriter();
      await writer.write(encodeMessage(start));
      // From here this "supervisor" does nothing at all; it only listens.
      const heard: string[] = [];
      for await (const line of lines) heard.push(line);
      const status = await child.status;
      assert.equal(status.code, 4, heard.join("\n"));
      assert.ok(heard.some((l) => l.includes('"looping"')), "the guest was in its loop");
      assert.ok(heard.some((l) => l.includes("ended itself after 1 s")), heard.join("\n"));
    } finally {
      clearTimeout(guard);
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      listener.close();
      await Deno.remove(denoDir, { recursive: true });
    }
  });
}
