/**
 * Runs `task` over `items` with at most `limit` in flight. Once `stop()` answers true, or a task
 * has failed, no new item is started; the promise settles only after every task in flight has
 * finished, so no write outlives the run (or the lease) that started it. Rejects with the first
 * failure; otherwise the result says whether every item ran.
 */
export async function forEachConcurrent<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<{ complete: boolean }> {
  let next = 0;
  let stopped = false;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      if (stop()) {
        stopped = true;
        return;
      }
      const item = items[next++];
      try {
        if (item !== undefined) await task(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
  return { complete: !stopped };
}
