import { describe, expect, it } from 'vitest';
import { Outstanding } from '../../lib/simulation/outstanding.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => (resolve = () => done()));
  return { promise, resolve };
}

/** How often `then` is called on any promise while `run` runs (what Promise.race and finally do; `await` does not). */
async function countThenCalls(run: () => Promise<void>): Promise<number> {
  const prototype = Promise.prototype;
  const then = Reflect.get<typeof prototype, 'then'>(prototype, 'then');
  let calls = 0;
  Promise.prototype.then = function (this: Promise<unknown>, ...args: Parameters<typeof then>) {
    calls++;
    return then.apply(this, args);
  } as typeof then;
  try {
    await run();
  } finally {
    Promise.prototype.then = then;
  }
  return calls;
}

describe('the outstanding traffic verdicts', () => {
  it('lets a run go on at once below the limit, and holds it until the backlog is down to the limit', async () => {
    const outstanding = new Outstanding(3);
    const verdicts = Array.from({ length: 5 }, deferred);
    for (const verdict of verdicts.slice(0, 3)) outstanding.track(verdict.promise);
    await outstanding.belowLimit();
    for (const verdict of verdicts.slice(3)) outstanding.track(verdict.promise);
    let resumed = false;
    const waiting = outstanding.belowLimit().then(() => (resumed = true));
    verdicts[0]?.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(resumed).toBe(false);
    expect(outstanding.size).toBe(4);
    verdicts[1]?.resolve();
    await waiting;
    expect(outstanding.size).toBe(3);
    for (const verdict of verdicts) verdict.resolve();
    await Promise.all(outstanding.pending);
    expect(outstanding.size).toBe(0);
  });

  it('costs a few reactions per verdict however long the backlog, not one per verdict per wait', async () => {
    const outstanding = new Outstanding(10);
    const verdicts = Array.from({ length: 2_000 }, deferred);
    const calls = await countThenCalls(async () => {
      for (const verdict of verdicts) outstanding.track(verdict.promise);
      const waiting = outstanding.belowLimit();
      // One verdict at a time, as the traffic thread answers, the wait looking again after each.
      for (const verdict of verdicts.slice(0, verdicts.length - 10)) {
        verdict.resolve();
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waiting;
    });
    expect(outstanding.size).toBe(10);
    // Racing the backlog after each verdict would attach about 2,000 x 2,000 / 2 reactions.
    expect(calls).toBeLessThanOrEqual(4 * verdicts.length);
    for (const verdict of verdicts) verdict.resolve();
  });
});
