/**
 * The supervisor's end of a run's private channel: a Unix socket in the state
 * folder, named by the run's id, on which the protocol travels. The sandbox
 * process is granted exactly that path (read, write and `unix:` net, which Deno
 * requires to connect) and told it with `--channel=PATH`; its guest Workers
 * have no permissions, so only its main thread can connect. The first
 * connection is the sandbox's (it connects before it runs anything of the
 * agent's); the listener then closes and the path is removed, so nothing can
 * join later. The sandbox's stdout and stderr carry output only.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { IronclawError } from "../manifests/errors.ts";
import { CHANNEL_ARG } from "../protocol/protocol.ts";
import { MAX_LINE_ARG } from "../protocol/line_cap.ts";

/** The longest socket path Linux takes (`sun_path` is 108 bytes with its terminator), with a margin. */
const MAX_SOCKET_PATH = 100;

/**
 * Where a run's channel socket is.
 *
 * @param stateDir The runtime's state folder.
 * @param id The run's id.
 * @returns The socket's path.
 * @example
 * ```ts
 * import { channelPath } from "./channel.ts";
 * if (channelPath("/srv/state", "r1") !== "/srv/state/channels/r1") throw new Error();
 * ```
 */
export function channelPath(stateDir: string, id: string): string {
  return join(stateDir, "channels", id);
}

/** Options of {@linkcode withChannel}. */
export interface WithChannelOptions {
  /** The run's line cap (`lineCap` of `protocol/line_cap.ts`), given as `--max-line=N` after the channel. */
  maxLineBytes?: number;
}

/**
 * The sandbox's argv with its channel: for `deno run` (unless it already has
 * `--allow-all`), the three flags that grant the socket path (right after
 * `run`); for any argv, `--channel=PATH` at the end, and the run's line cap
 * after it when given.
 *
 * @param argv The sandbox's argv, program first.
 * @param path The socket's path.
 * @param options The run's line cap.
 * @returns The argv with the channel.
 * @example
 * ```ts
 * import { withChannel } from "./channel.ts";
 * const argv = withChannel(["deno", "run", "--no-prompt", "s.js"], "/s/c");
 * if (argv.join(" ") !== "deno run --allow-read=/s/c --allow-write=/s/c --allow-net=unix:/s/c --no-prompt s.js --channel=/s/c") {
 *   throw new Error(argv.join(" "));
 * }
 * ```
 */
export function withChannel(
  argv: readonly string[],
  path: string,
  options: WithChannelOptions = {},
): string[] {
  const out = [...argv];
  if (out[1] === "run" && !out.includes("--allow-all")) {
    out.splice(2, 0, `--allow-read=${path}`, `--allow-write=${path}`, `--allow-net=unix:${path}`);
  }
  out.push(`${CHANNEL_ARG}${path}`);
  if (options.maxLineBytes !== undefined) out.push(`${MAX_LINE_ARG}${options.maxLineBytes}`);
  return out;
}

/** A run's listening socket, until the sandbox has connected. */
export class ChannelListener {
  readonly #listener: Deno.UnixListener;
  readonly #path: string;

  private constructor(listener: Deno.UnixListener, path: string) {
    this.#listener = listener;
    this.#path = path;
  }

  /**
   * Listens on the run's socket path (its folder made private to this user; a stale socket replaced).
   *
   * @param path The socket's path.
   * @returns The listener.
   * @throws {IronclawError} When the path is too long for a socket, or cannot be listened on.
   */
  static open(path: string): ChannelListener {
    if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH) {
      throw new IronclawError("ERR_IO", `The run's channel path is too long for a Unix socket: ${path}`, {
        hint:
          `set [runtime] state_dir to a folder whose path is shorter (a socket path holds ${MAX_SOCKET_PATH} bytes)`,
      });
    }
    try {
      Deno.mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      Deno.chmodSync(dirname(path), 0o700);
      try {
        Deno.removeSync(path);
      } catch { /* none left */ }
      return new ChannelListener(Deno.listen({ transport: "unix", path }), path);
    } catch (e) {
      throw new IronclawError("ERR_IO", `Cannot open the run's channel at ${path}: ${(e as Error).message}`, {
        hint: "check that the state folder ([runtime] state_dir) is writable",
      });
    }
  }

  /**
   * Takes the first connection, unless `gone` settles first (the sandbox exited), then stops listening.
   *
   * @param gone Settles when the sandbox has exited.
   * @returns The sandbox's connection, or null when it never connected.
   */
  async accept(gone: Promise<unknown>): Promise<Deno.UnixConn | null> {
    try {
      return await Promise.race([this.#listener.accept(), gone.then(() => null)]);
    } catch {
      return null;
    } finally {
      this.close();
    }
  }

  /** Stops listening and removes the socket path (once; later calls do nothing). */
  close(): void {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    try {
      Deno.removeSync(this.#path);
    } catch { /* removed */ }
  }
}
