import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RewritePages } from '../../lib/engine/rewrite-pages.js';
import type { StoredLeaf } from '../../lib/ports.js';

const IDS = Array.from({ length: 60 }, (_, i) => `leaf-${i}`);

function leaf(id: string, version = 'v1'): StoredLeaf {
  return { authority: 'cluster', id, certificatePem: `cert ${id}`, privateKeyPem: `key ${id}`, bundlePem: 'B1', versionId: version };
}

/** A store read that answers after a while, records each page asked for, and knows no `leaf-13`. */
function slowStore(delayMs: (page: readonly string[]) => number) {
  const pages: string[][] = [];
  const read = async (ids: readonly string[]): Promise<StoredLeaf[]> => {
    pages.push([...ids]);
    await sleep(delayMs(ids));
    return ids.filter((id) => id !== 'leaf-13').map((id) => leaf(id));
  };
  return { pages, read };
}

describe('leaf secrets read again in pages for a rewrite', () => {
  it('hands every leaf to its writer when sixteen writers ask at once, reading pages rather than leaves', async () => {
    // Later pages answer first: pages arriving out of order, and more than the two held, must not
    // cost any writer its leaf (a lost rewrite would leave that leaf on the old bundle).
    const store = slowStore((page) => 60 - Math.min(50, IDS.indexOf(page[0] ?? '')));
    const pages = new RewritePages(store.read, IDS, 5);
    let next = 0;
    const got = new Map<string, StoredLeaf | undefined>();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let id = IDS[next++]; id !== undefined; id = IDS[next++]) got.set(id, await pages.take(id, 'B2', () => true));
      }),
    );
    expect([...got.entries()].filter(([, value]) => value === undefined).map(([id]) => id)).toEqual(['leaf-13']);
    expect([...got.entries()].every(([id, value]) => id === 'leaf-13' || value?.id === id)).toBe(true);
    expect(store.pages.every((page) => page.length <= 5)).toBe(true);
    expect(store.pages.length).toBeLessThan(IDS.length / 2);
  });

  it('reads a leaf again once the run wrote it, and never hands out what was read for another bundle', async () => {
    const store = slowStore(() => 1);
    const pages = new RewritePages(store.read, IDS, 5);
    await pages.take('leaf-0', 'B2', () => true);
    pages.forget('leaf-1');
    await pages.take('leaf-1', 'B2', () => true);
    await pages.take('leaf-2', 'B3', () => true);
    expect(store.pages).toEqual([
      ['leaf-0', 'leaf-1', 'leaf-2', 'leaf-3', 'leaf-4'],
      ['leaf-1', 'leaf-5', 'leaf-6', 'leaf-7', 'leaf-8'],
      ['leaf-2', 'leaf-9', 'leaf-10', 'leaf-11', 'leaf-12'],
    ]);
  });
});
