import { describe, expect, it } from 'vitest';
import { forEachConcurrent } from '../../lib/engine/concurrency.js';

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

describe('forEachConcurrent', () => {
  it('after a failure starts nothing new, and settles only once every task in flight has finished', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const items = Array.from({ length: 62 }, (_, i) => i);
    const run = forEachConcurrent(items, 4, async (item) => {
      started.push(item);
      await tick();
      if (item === 5) throw new Error('write 5 failed');
      await tick();
      finished.push(item);
    });
    await expect(run).rejects.toThrow('write 5 failed');
    const settledAt = [...finished];
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(finished).toEqual(settledAt);
    expect(started.length).toBeLessThan(12);
    expect(finished.length).toBe(started.length - 1);
  });

  it('rejects with the first failure when several fail', async () => {
    await expect(forEachConcurrent([1, 2, 3, 4], 4, async (item) => {
      await new Promise((resolve) => setTimeout(resolve, item * 3));
      throw new Error(`failed ${item}`);
    })).rejects.toThrow('failed 1');
  });

  it('stops starting items once stop() answers true, and says the run is incomplete', async () => {
    let done = 0;
    const result = await forEachConcurrent([1, 2, 3, 4, 5, 6], 2, async () => {
      await tick();
      done++;
    }, () => done >= 2);
    expect(result).toEqual({ complete: false });
    expect(done).toBeLessThan(6);
  });
});
