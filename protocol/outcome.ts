/** How a guest ended, as each WebAssembly host reports it. */
export interface GuestOutcome {
  /** ok: it returned; error: it failed or trapped; oom: its memory cap stopped it. */
  state: "ok" | "error" | "oom";
  /** What it returned, when ok. */
  output: string | null;
  /** Why not, otherwise. */
  error: { code: string; message: string; hint: string } | null;
}
