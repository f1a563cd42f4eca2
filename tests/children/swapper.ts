/**
 * An attacker beside a sandbox: swaps paths inside the grants between the
 * real thing and a symbolic link leading out, as fast as it can, until it is
 * killed. It waits for a line on stdin before it starts (a run refuses to
 * start while a link leads out of its grants).
 *
 *   deno run -A swapper.ts <stage folder> <JSON [{path, kind: "file" | "dir" | "link", to, from?}]>
 *
 * A file is swapped by renaming a link, then a fresh file, over it; a folder
 * by moving it to the stage folder, renaming a link into its place, and back;
 * a link by renaming a link to `to`, then one to `from` (inside), over it.
 * Every step may fail (the sandbox creates and renames too): it goes on.
 */

const [stage, json] = Deno.args;
const swaps = JSON.parse(json!) as {
  path: string;
  kind: "file" | "dir" | "link";
  to: string;
  from?: string;
}[];
Deno.mkdirSync(stage!, { recursive: true });
await Deno.stdin.readable.getReader().read();

const attempt = (f: () => void) => {
  try {
    f();
  } catch { /* raced with the sandbox: go on */ }
};

for (let i = 0;; i++) {
  for (const [n, s] of swaps.entries()) {
    const link = `${stage}/l${n}-${i}`;
    if (s.kind === "link") {
      attempt(() => Deno.symlinkSync(s.to, link));
      attempt(() => Deno.renameSync(link, s.path));
      attempt(() => Deno.symlinkSync(s.from!, `${link}b`));
      attempt(() => Deno.renameSync(`${link}b`, s.path));
    } else if (s.kind === "file") {
      attempt(() => Deno.symlinkSync(s.to, link));
      attempt(() => Deno.renameSync(link, s.path));
      attempt(() => Deno.writeTextFileSync(`${stage}/f${n}`, "inside"));
      attempt(() => Deno.renameSync(`${stage}/f${n}`, s.path));
    } else {
      attempt(() => Deno.renameSync(s.path, `${stage}/d${n}`));
      attempt(() => Deno.symlinkSync(s.to, link));
      attempt(() => Deno.renameSync(link, s.path));
      attempt(() => Deno.renameSync(s.path, link));
      attempt(() => Deno.renameSync(`${stage}/d${n}`, s.path));
      attempt(() => Deno.removeSync(link));
    }
  }
}
