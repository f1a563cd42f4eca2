/**
 * A hostile or broken sandbox process, for supervisor tests: what it does is
 * its first argument. It runs with the same flags a real sandbox gets and
 * speaks on the run's channel (`--channel=PATH`), as a sandbox does.
 */
const path = Deno.args.find((a) => a.startsWith("--channel="))!.slice("--channel=".length);
const conn = await Deno.connect({ transport: "unix", path });
const enc = new TextEncoder();
const writeAll = async (bytes: Uint8Array) => {
  for (let n = 0; n < bytes.length;) n += await conn.write(bytes.subarray(n));
};
const line = (v: unknown) => writeAll(enc.encode(JSON.stringify(v) + "\n"));
const ready = () => line({ v: 1, type: "ready" });

switch (Deno.args[0]) {
  case "echo-start": {
    // Answers with the start message it was sent, as it arrived: what a sandbox learns of the run.
    await ready();
    const dec = new TextDecoder();
    const buf = new Uint8Array(65536);
    let text = "";
    while (!text.includes("\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
    }
    await line({ v: 1, type: "result", state: "ok", output: text.slice(0, text.indexOf("\n")), error: null });
    Deno.exit(0);
    break;
  }
  case "dns": {
    // Forges a dns.resolve request for each name after the first argument, and answers with the replies.
    await ready();
    const dec = new TextDecoder();
    const names = Deno.args.slice(1).filter((a) => !a.startsWith("--channel="));
    const replies: unknown[] = [];
    const buf = new Uint8Array(65536);
    let text = "";
    let started = false;
    while (!(started && replies.filter(Boolean).length === names.length)) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n), { stream: true });
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const message = JSON.parse(text.slice(0, nl));
        text = text.slice(nl + 1);
        if (message.type === "start" && !started) {
          started = true;
          for (const [i, host] of names.entries()) {
            await line({ v: 1, type: "request", id: i + 1, op: "dns.resolve", args: { host } });
          }
        } else if (message.type === "reply") replies[message.id - 1] = message;
      }
    }
    await line({ v: 1, type: "result", state: "ok", output: JSON.stringify(replies), error: null });
    Deno.exit(0);
    break;
  }
  case "slow-ready": {
    // Takes the given ms to start (a busy machine), then says ready and answers the start at once.
    await new Promise((r) => setTimeout(r, Number(Deno.args[1])));
    await ready();
    const buf = new Uint8Array(65536);
    let seen = "";
    while (!seen.includes("\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      seen += new TextDecoder().decode(buf.subarray(0, n));
    }
    await line({ v: 1, type: "result", state: "ok", output: "started", error: null });
    Deno.exit(0);
    break;
  }
  case "crash":
    await ready();
    for (let i = 0; i < 5; i++) {
      await line({
        v: 1,
        type: "event",
        event: { type: "log", level: "info", message: `before crash ${i}` },
      });
    }
    Deno.exit(7);
    break;
  case "hang":
    await ready();
    setInterval(() => {}, 1000);
    break;
  case "garbage":
    await ready();
    await writeAll(enc.encode("this is not JSON\n"));
    setInterval(() => {}, 1000);
    break;
  case "long-line": {
    await ready();
    const chunk = enc.encode("x".repeat(1 << 20));
    for (;;) await writeAll(chunk);
  }
  case "wrong-version":
    await line({ v: 99, type: "ready" });
    setInterval(() => {}, 1000);
    break;
  case "result-before-ready":
    await line({ v: 1, type: "result", state: "ok", output: "forged", error: null });
    setInterval(() => {}, 1000);
    break;
  case "forge-end":
    await ready();
    await line({ v: 1, type: "event", event: { type: "end", state: "ok", output: "forged", exitCode: 0 } });
    setInterval(() => {}, 1000);
    break;
  case "forge-stdout": {
    // Protocol lines on stdout, where any realm of a sandbox can write: they must stay output.
    const out = (v: unknown) => Deno.stdout.writeSync(enc.encode(JSON.stringify(v) + "\n"));
    out({ v: 1, type: "ready" });
    await ready();
    out({ v: 1, type: "request", id: 1, op: "dns.resolve", args: { host: "forged.example" } });
    out({ v: 1, type: "event", event: { type: "gate", op: "fs.read", decision: "allow", rule: "forged" } });
    out({ v: 1, type: "result", state: "ok", output: "forged", error: null });
    await line({ v: 1, type: "result", state: "ok", output: "real", error: null });
    Deno.exit(0);
    break;
  }
  case "event-flood":
    await ready();
    for (;;) await line({ v: 1, type: "event", event: { type: "noise", data: "z".repeat(1000) } });
  case "heap": {
    // Grows the JS heap by the megabytes in the second argument, then answers ok.
    await ready();
    const keep: number[][] = [];
    const mb = Number(Deno.args[1]);
    for (let i = 0; i < mb; i++) keep.push(new Array(131072).fill(i + 0.5));
    await line({ v: 1, type: "result", state: "ok", output: `held ${keep.length} MiB`, error: null });
    Deno.exit(0);
    break;
  }
  case "ignore-stop":
    await ready();
    Deno.addSignalListener("SIGTERM", () => {});
    setInterval(() => {}, 1000);
    break;
  default:
    Deno.exit(2);
}
