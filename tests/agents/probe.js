// A test agent that does what its task says, so tests can attack the gate from
// inside a real component. The task is JSON:
//   {"calls": [[op, args], ...]}  -> the JSON array of replies, each {ok} or {error}
//   {"calls": [...], "then": "loop"}  -> the calls, then log "looping" and spin (a run killed mid-way)
//   {"do": "loop" | "bomb" | "flood" | "throw" | "many-calls" | "big-output" | "globals", "n": ...}
//   {"do": "repeat", "n": N, "op": op, "args": {...}}  -> N calls of one op (benchmarks)
//   {"do": "big-output", "n": N, "ch": "é"}  -> ch (default "y") N times
//   {"do": "flood", "n": N, "ch": "é"}  -> N log lines of ch (default "x") 1000 times
import { call, log } from "ironclaw:agent/host@0.1.0";

function attempt(op, args) {
  try {
    return { ok: JSON.parse(call(op, JSON.stringify(args))) };
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    try {
      return { error: JSON.parse(text) };
    } catch {
      return { error: { code: "GUEST", message: text } };
    }
  }
}

export function run(task) {
  const t = JSON.parse(task);
  if (t.calls) {
    const replies = JSON.stringify(t.calls.map(([op, args]) => attempt(op, args)));
    if (t.then !== "loop") return replies;
    log("info", "looping");
    for (;;) { /* spin until the wall-time limit */ }
  }
  switch (t.do) {
    case "loop":
      log("info", "looping");
      for (;;) { /* spin until the wall-time limit */ }
    case "bomb": {
      const keep = [];
      for (;;) keep.push(new Array(1 << 16).fill(1.5));
    }
    case "flood":
      for (let i = 0; i < (t.n ?? 1e6); i++) log("info", (t.ch ?? "x").repeat(1000));
      return "flooded";
    case "big-output":
      return (t.ch ?? "y").repeat(t.n);
    case "many-calls": {
      let denied = 0;
      for (let i = 0; i < t.n; i++) {
        if (attempt("env.get", { name: "TZ" }).error?.code === "ERR_LIMIT") denied++;
      }
      return JSON.stringify({ denied });
    }
    case "repeat": {
      for (let i = 0; i < t.n; i++) call(t.op, JSON.stringify(t.args));
      return String(t.n);
    }
    case "throw":
      throw new Error("the probe failed on purpose");
    case "globals":
      return JSON.stringify({
        fetch: typeof fetch,
        Deno: typeof Deno,
        process: typeof process,
        require: typeof require,
        WebAssembly: typeof WebAssembly,
        setTimeout: typeof setTimeout,
      });
    default:
      return "unknown task";
  }
}
