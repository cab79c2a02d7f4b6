/** A virtual clock: sleeps resolve in time order as `run` advances time, instantly in real time. */
export function virtualTime(): { now: () => number; sleep: (ms: number) => Promise<void>; run: <T>(work: Promise<T>) => Promise<T>; sleeps: number[] } {
  let now = 0;
  const timers: Array<{ at: number; resolve: () => void }> = [];
  const sleeps: number[] = [];
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i += 1) await Promise.resolve();
  };
  return {
    now: () => now,
    sleeps,
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise<void>((resolve) => {
        timers.push({ at: now + ms, resolve });
      });
    },
    run: async <T>(work: Promise<T>): Promise<T> => {
      let done = false;
      const tracked = work.finally(() => {
        done = true;
      });
      await flush();
      while (!done) {
        timers.sort((a, b) => a.at - b.at);
        const timer = timers.shift();
        if (timer === undefined) break;
        now = Math.max(now, timer.at);
        timer.resolve();
        await flush();
      }
      return tracked;
    },
  };
}
