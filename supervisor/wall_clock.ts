/**
 * A run's wall time (`timeout_s`) as the supervisor keeps it: it starts when
 * the sandbox is ready, and pauses while a gate call waits for a person's
 * approval (each wait capped by `[approvals] timeout_s`), so only the time
 * the run works counts.
 *
 * @module
 */

/**
 * The wall time of one run: a deadline that waits for people do not use up.
 *
 * @example
 * ```ts
 * import { WallClock } from "./wall_clock.ts";
 * const clock = new WallClock();
 * clock.start(60_000, () => {});
 * clock.pause();
 * clock.resume();
 * if (clock.deadline === undefined) throw new Error("started");
 * clock.stop();
 * ```
 */
export class WallClock {
  #deadline: number | undefined;
  #onEnd: () => void = () => {};
  #timer: ReturnType<typeof setTimeout> | undefined;
  #paused = 0;
  #pausedAt = 0;
  #stopped = false;

  /**
   * Starts the wall time.
   *
   * @param ms How long the run may work, in ms.
   * @param onEnd Called once the time is used up.
   */
  start(ms: number, onEnd: () => void): void {
    this.#deadline = Date.now() + ms;
    this.#onEnd = onEnd;
    if (this.#paused === 0) this.#arm();
    else this.#pausedAt = Date.now();
  }

  /** When the wall time ends (ms since the epoch), once started; while paused, as if it resumed now. */
  get deadline(): number | undefined {
    if (this.#deadline === undefined || this.#paused === 0) return this.#deadline;
    return this.#deadline + (Date.now() - this.#pausedAt);
  }

  /** Pauses the wall time (a wait for a person begins); pauses nest. */
  pause(): void {
    if (++this.#paused > 1) return;
    this.#pausedAt = Date.now();
    clearTimeout(this.#timer);
  }

  /** Ends one pause; when none is left, the deadline moves by the time paused. */
  resume(): void {
    if (this.#paused === 0 || --this.#paused > 0) return;
    if (this.#deadline !== undefined) this.#deadline += Date.now() - this.#pausedAt;
    this.#arm();
  }

  /** Stops the clock for good (the run ended). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    if (this.#deadline === undefined || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#onEnd(), Math.max(0, this.#deadline - Date.now()));
  }
}
