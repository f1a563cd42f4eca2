// The hello agent: lists the notes it may read, reads each one, and writes a
// summary into its write folder. Built into agent.wasm by `ironclaw build`.
import { call, log } from "ironclaw:agent/host@0.1.0";

/** Calls the host gate with an object, and returns the parsed result. */
function host(op, args) {
  return JSON.parse(call(op, JSON.stringify(args)));
}

export function run(task) {
  log("info", `task: ${task}`);
  const { entries } = host("fs.list", { path: "notes" });
  const files = entries.filter((e) => e.kind === "file");
  const lines = [];
  for (const file of files) {
    const { data } = host("fs.read", { path: `notes/${file.name}` });
    const first = data.split("\n").find((l) => l.trim() !== "") ?? "";
    lines.push(`- ${file.name} (${data.length} chars): ${first.trim()}`);
  }
  const summary = `# Summary of ${files.length} note${files.length === 1 ? "" : "s"}\n\n${
    lines.join("\n")
  }\n`;
  const { bytes } = host("fs.write", { path: "out/summary.md", data: summary });
  log("info", `wrote out/summary.md (${bytes} bytes)`);
  return `Summarized ${files.length} note${files.length === 1 ? "" : "s"} into out/summary.md`;
}
