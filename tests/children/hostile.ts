/**
 * A hostile or broken sandbox process, for supervisor tests: what it does is
 * its first argument. It runs with the same flags a real sandbox gets.
 */
const out = Deno.stdout;
const enc = new TextEncoder();
const line = (v: unknown) => out.writeSync(enc.encode(JSON.stringify(v) + "\n"));
const ready = () => line({ v: 1, type: "ready" });

switch (Deno.args[0]) {
  case "echo-start": {
    // Answers with the start message it was sent, as it arrived: what a sandbox learns of the run.
    ready();
    const dec = new TextDecoder();
    let text = "";
    for await (const chunk of Deno.stdin.readable) {
      text += dec.decode(chunk, { stream: true });
      if (text.includes("\n")) break;
    }
    line({ v: 1, type: "result", state: "ok", output: text.slice(0, text.indexOf("\n")), error: null });
    Deno.exit(0);
    break;
  }
  case "dns": {
    // Forges a dns.resolve request for each name after the first argument, and answers with the replies.
    ready();
    const dec = new TextDecoder();
    const names = Deno.args.slice(1);
    const replies: unknown[] = [];
    let text = "";
    let started = false;
    for await (const chunk of Deno.stdin.readable) {
      text += dec.decode(chunk, { stream: true });
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const message = JSON.parse(text.slice(0, nl));
        text = text.slice(nl + 1);
        if (message.type === "start" && !started) {
          started = true;
          names.forEach((host, i) =>
            line({ v: 1, type: "request", id: i + 1, op: "dns.resolve", args: { host } })
          );
        } else if (message.type === "reply") replies[message.id - 1] = message;
      }
      if (started && replies.filter(Boolean).length === names.length) break;
    }
    line({ v: 1, type: "result", state: "ok", output: JSON.stringify(replies), error: null });
    Deno.exit(0);
    break;
  }
  case "crash":
    ready();
    for (let i = 0; i < 5; i++) {
      line({ v: 1, type: "event", event: { type: "log", level: "info", message: `before crash ${i}` } });
    }
    Deno.exit(7);
    break;
  case "hang":
    ready();
    setInterval(() => {}, 1000);
    break;
  case "garbage":
    ready();
    out.writeSync(enc.encode("this is not JSON\n"));
    setInterval(() => {}, 1000);
    break;
  case "long-line": {
    ready();
    const chunk = enc.encode("x".repeat(1 << 20));
    for (;;) out.writeSync(chunk);
  }
  case "wrong-version":
    line({ v: 99, type: "ready" });
    setInterval(() => {}, 1000);
    break;
  case "result-before-ready":
    line({ v: 1, type: "result", state: "ok", output: "forged", error: null });
    setInterval(() => {}, 1000);
    break;
  case "forge-end":
    ready();
    line({ v: 1, type: "event", event: { type: "end", state: "ok", output: "forged", exitCode: 0 } });
    setInterval(() => {}, 1000);
    break;
  case "event-flood":
    ready();
    for (;;) line({ v: 1, type: "event", event: { type: "noise", data: "z".repeat(1000) } });
  case "heap": {
    // Grows the JS heap by the megabytes in the second argument, then answers ok.
    ready();
    const keep: number[][] = [];
    const mb = Number(Deno.args[1]);
    for (let i = 0; i < mb; i++) keep.push(new Array(131072).fill(i + 0.5));
    line({ v: 1, type: "result", state: "ok", output: `held ${keep.length} MiB`, error: null });
    Deno.exit(0);
    break;
  }
  case "ignore-stop":
    ready();
    Deno.addSignalListener("SIGTERM", () => {});
    setInterval(() => {}, 1000);
    break;
  default:
    Deno.exit(2);
}
