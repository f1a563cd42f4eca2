/**
 * Who owns a run, and whether that owner is still alive: this process's id,
 * host name and start time (from `/proc`, where there is one), so a pid the
 * kernel reused for another process is not taken for the owner.
 *
 * @module
 */

import type { RunOwner } from "./store.ts";

/** When process `pid` started, in clock ticks since boot, or null when it does not exist or cannot be told. */
export function processStartMark(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The name (field 2) is in parentheses and may hold spaces; field 22 (starttime) is the 20th after it.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/** This process, as a run's owner. */
export function currentOwner(): RunOwner {
  return { pid: Deno.pid, host: hostName(), startMark: processStartMark(Deno.pid) ?? "" };
}

/**
 * Whether a run's owner is known to be gone: it ran on this host, this host has `/proc`, and no process with its
 * pid and start time exists. An owner elsewhere is never judged here: its lease tells.
 */
export function ownerGone(owner: RunOwner, here: RunOwner = currentOwner()): boolean {
  if (!owner.host || owner.host !== here.host || !here.startMark || !owner.startMark) return false;
  return processStartMark(owner.pid) !== owner.startMark;
}
