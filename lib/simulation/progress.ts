/**
 * Progress while `npm start` gathers its summary: the handshakes still in flight on the traffic
 * thread can take a while at a few hundred leaves, and a silent terminal looks like a hang.
 */

/** Waits until `outstanding` is empty (it shrinks as verdicts come in), saying every `everyMs` how many are in. */
export async function drainWithProgress(outstanding: ReadonlySet<Promise<void>>, onProgress: ((line: string) => void) | undefined, everyMs = 2000): Promise<void> {
  const total = outstanding.size;
  const started = performance.now();
  const timer =
    onProgress === undefined
      ? undefined
      : setInterval(() => {
          const done = total - Math.min(total, outstanding.size);
          const seconds = (performance.now() - started) / 1000;
          const pace = done / seconds;
          const left = pace > 0 ? `, about ${Math.ceil((total - done) / pace)} s left` : '';
          onProgress(`summary: ${done}/${total} handshake verdicts in${left}`);
        }, everyMs);
  try {
    while (outstanding.size > 0) await Promise.all(outstanding);
  } finally {
    clearInterval(timer);
  }
}
