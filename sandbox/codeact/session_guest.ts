/**
 * The inside of a CodeAct interpreter's Worker (see `session_worker.ts`): loads
 * QuickJS or Pyodide, runs each step it is sent, and calls tools by messages.
 *
 * @module
 */

import type { CodeSession, CodeSessionOptions } from "./session.ts";
import type { SessionInit, SessionMessage } from "./session_worker.ts";

/** The Worker's own scope. */
const scope = globalThis as unknown as {
  postMessage(message: SessionMessage): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

/**
 * Python that replaces the ways to start a program with one clear refusal (Pyodide's own end in an
 * unreadable permission error): no program runs in this realm whatever the code does, this only says so.
 */
const PYTHON_PRELUDE = `
import os as _os
def _ironclaw_no_programs(*_a, **_k):
    raise PermissionError("programs are not granted: Python in IronClaw cannot start processes (os.system, subprocess); use the tools you are given")
for _n in ("system", "popen", "execv", "execve", "execl", "execlp", "execvp", "execvpe", "spawnl", "spawnv", "spawnve", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
    if hasattr(_os, _n):
        setattr(_os, _n, _ironclaw_no_programs)
try:
    import subprocess as _sp
    class _IronclawNoPopen:
        def __init__(self, *_a, **_k):
            _ironclaw_no_programs()
    _sp.Popen = _IronclawNoPopen
    for _n in ("run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
        setattr(_sp, _n, _ironclaw_no_programs)
    del _sp
except Exception:
    pass
del _n, _os
`;

/**
 * Runs the interpreter's side of its Worker.
 *
 * @param init What to load.
 */
export async function sessionGuest(init: SessionInit): Promise<void> {
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  const tools: CodeSessionOptions["tools"] = {};
  for (const name of init.toolNames) {
    tools[name] = (args) =>
      new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve, reject });
        scope.postMessage({ t: "tool", id, name, args });
      });
  }
  scope.onmessage = (e: MessageEvent) => {
    const m = e.data as {
      t: string;
      id: number;
      ok?: boolean;
      value?: unknown;
      message?: string;
      code?: string;
    };
    if (m.t === "tool-reply") {
      const waiting = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) waiting?.resolve(m.value);
      else waiting?.reject(new Error(m.message ?? "refused"));
    } else if (m.t === "step") {
      steps.push({ id: m.id, code: String(m.code) });
      if (steps.length === 1) runSteps();
    }
  };
  const steps: { id: number; code: string }[] = [];
  let session: CodeSession;
  let note: string | undefined;
  try {
    ({ session, note } = await open(init, tools));
  } catch (e) {
    scope.postMessage({ t: "failed", message: (e as Error).message });
    return;
  }
  const runSteps = async () => {
    while (steps.length > 0) {
      const step = steps[0]!;
      scope.postMessage({ t: "step-done", id: step.id, result: await session.run(step.code) });
      steps.shift();
    }
  };
  scope.postMessage(note === undefined ? { t: "ready" } : { t: "ready", note });
}

/** Loads the interpreter of the language; `note` says when a Pyodide snapshot could not be used. */
async function open(
  init: SessionInit,
  tools: CodeSessionOptions["tools"],
): Promise<{ session: CodeSession; note?: string }> {
  const options = {
    tools,
    memoryBytes: init.memoryBytes,
    stepDeadlineMs: init.stepDeadlineMs,
    maxOutputBytes: init.maxOutputBytes,
  };
  if (init.language === "javascript") {
    return { session: await (await import("./quickjs_session.ts")).createQuickJsSession(options) };
  }
  const { createPyodideSession, createPyodideSessionFromSnapshot } = await import("./pyodide_session.ts");
  const pyodideOptions = { ...options, ...(init.indexURL ? { indexURL: init.indexURL } : {}) };
  let session: CodeSession | null = null;
  let note: string | undefined;
  if (init.snapshot) {
    // The snapshot is of a Pyodide that ran no code: the prelude runs after it, as after a cold start.
    try {
      session = await createPyodideSessionFromSnapshot(pyodideOptions, await Deno.readFile(init.snapshot));
    } catch (e) {
      note = `The Pyodide snapshot "${init.snapshot}" could not be restored (${
        (e as Error).message
      }): Python started cold; remove the file to have it made again`;
    }
  }
  session ??= await createPyodideSession(pyodideOptions);
  await session.run(PYTHON_PRELUDE);
  return note === undefined ? { session } : { session, note };
}
