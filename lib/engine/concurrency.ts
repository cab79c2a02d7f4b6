/**
 * Runs `task` over `items` with at most `limit` in flight; rejects with the first failure. Once
 * `stop()` answers true no new item is started (those in flight finish), and the result says
 * whether every item ran.
 */
export async function forEachConcurrent<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<{ complete: boolean }> {
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      if (stop()) {
        stopped = true;
        return;
      }
      const item = items[next++];
      if (item !== undefined) await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return { complete: !stopped };
}
