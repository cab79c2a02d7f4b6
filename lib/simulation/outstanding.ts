/**
 * The traffic verdicts a simulation is waiting for. The main thread can issue handshakes faster
 * than the traffic threads run them, and each one waiting holds its request, so the run waits
 * (`belowLimit`) while too many are out. The wait costs one callback
 * per settled verdict: racing every outstanding promise on each wait would attach a reaction to
 * each of them every time, quadratic in the backlog (millions of live promises at 1,000 leaves).
 */
export class Outstanding {
  readonly #pending = new Set<Promise<void>>();
  #wakeBelowLimit: (() => void) | undefined;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.#pending.size;
  }

  /** The verdicts still out, for a drain that waits for all of them. */
  get pending(): ReadonlySet<Promise<void>> {
    return this.#pending;
  }

  /** Tracks `verdict` until it settles; it must handle its own failure (a rejection is only untracked). */
  track(verdict: Promise<void>): void {
    const tracked = verdict.finally(() => {
      this.#pending.delete(tracked);
      if (this.#pending.size <= this.limit) {
        this.#wakeBelowLimit?.();
        this.#wakeBelowLimit = undefined;
      }
    });
    this.#pending.add(tracked);
  }

  /** Resolves once at most `limit` verdicts are out (at once if they already are). */
  async belowLimit(): Promise<void> {
    if (this.#pending.size <= this.limit) return;
    await new Promise<void>((resolve) => {
      const earlier = this.#wakeBelowLimit;
      this.#wakeBelowLimit = () => {
        earlier?.();
        resolve();
      };
    });
  }
}
