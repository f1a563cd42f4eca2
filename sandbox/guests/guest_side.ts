/**
 * The inside of a guest Worker (see `guest_worker.ts`): takes what it is to
 * run, builds a {@linkcode GuestContext} whose gate is the main thread across
 * messages (synchronous calls wait on the shared buffer), runs the component
 * or WASI module, and reports how it ended. Nothing here holds a secret, the
 * channel, or a Deno permission beyond what the Worker was given.
 *
 * @module
 */

import type { GateReply } from "../gate/mod.ts";
import type { GuestOutcome } from "../../protocol/outcome.ts";
import type { RunEvent } from "../../protocol/protocol.ts";
import type { GuestContext } from "../runner.ts";
import { type GuestInit, type GuestMessage, type GuestPrepare, waitForReply } from "./guest_worker.ts";
import type { CompiledComponent } from "./component_host.ts";

/** The Worker's own scope. */
const scope = globalThis as unknown as {
  postMessage(message: GuestMessage): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

/** A component compiled ahead by a `prepare` message (a pooled sandbox), or null. */
let ahead: Promise<CompiledComponent | null> | null = null;

/** Starts the guest side: waits for the init message, runs the guest, reports its end. */
export function guestMain(): void {
  scope.onmessage = (e: MessageEvent<GuestInit | GuestPrepare>) => {
    if ((e.data as GuestPrepare).t === "prepare") {
      const { cores, glue } = e.data as GuestPrepare;
      ahead = import("./component_host.ts").then((m) => m.compileComponent(cores, glue)).catch(() => null);
      // Said either way: a component that does not compile fails at the run, which says why.
      ahead.then(() => scope.postMessage({ t: "prepared" }));
      return;
    }
    const init = e.data as GuestInit;
    const kind = (init as { kind: string }).kind;
    // Realms of their own kinds: a plugin's code, a CodeAct interpreter.
    if (kind === "plugin") return void import("../plugin_guest.ts").then((m) => m.pluginGuest(init as never));
    if (kind === "session") {
      return void import("../codeact/session_guest.ts").then((m) => m.sessionGuest(init as never));
    }
    const context = contextOf(init);
    run(init, context).then(
      (outcome) => scope.postMessage({ t: "done", outcome }),
      (err) =>
        scope.postMessage({
          t: "done",
          outcome: {
            state: "error",
            output: null,
            error: {
              code: "ERR_SANDBOX",
              message: `The guest failed: ${(err as Error)?.message ?? err}`,
              hint: "",
            },
          },
        }),
    );
  };
}

/** Runs the guest of `init` with the runner of its kind. */
async function run(init: GuestInit, context: GuestContext): Promise<GuestOutcome> {
  if (init.kind === "component") {
    const { runComponent } = await import("./component_host.ts");
    const compiled = await ahead;
    return await runComponent(context, {
      module: { dir: "", waits: init.waits },
      cores: init.cores,
      glue: init.glue,
      ...(compiled ? { compiled } : {}),
    });
  }
  const { runPreview1 } = await import("./preview1_host.ts");
  return await runPreview1(context, {
    module: { kind: "preview1", path: "", maxPages: init.maxPages, stdout: init.stdout, stderr: init.stderr },
    wasm: init.wasm,
  });
}

/** The guest's context: its gate calls go to the main thread; of its events only logs and refusals do. */
function contextOf(init: GuestInit): GuestContext {
  const pending = new Map<number, (reply: GateReply) => void>();
  let next = 1;
  scope.onmessage = (e: MessageEvent<{ t: "reply"; id: number; reply: GateReply }>) => {
    const resolve = pending.get(e.data.id);
    pending.delete(e.data.id);
    resolve?.(e.data.reply);
  };
  return {
    policy: init.policy,
    task: init.task,
    gate: {
      callSync: (op, args) =>
        waitForReply(init.sab, () => scope.postMessage({ t: "call", id: 0, op, args, sync: true })),
      call: (op, args) =>
        new Promise<GateReply>((resolve) => {
          const id = next++;
          pending.set(id, resolve);
          scope.postMessage({ t: "call", id, op, args, sync: false });
        }),
    },
    emit: (event: RunEvent) => {
      if (event.type === "log") {
        scope.postMessage({ t: "log", level: String(event.level), message: String(event.message) });
      } else if (event.type === "gate" && typeof event.op === "string" && event.op.startsWith("wasi.")) {
        scope.postMessage({ t: "refused", call: event.op.slice(5), rule: String(event.rule) });
      }
    },
  };
}
