import { describe, expect, it } from 'vitest';
import type { AuthorityConfig } from '../../lib/config/index.js';
import { consumerRegistry, secretConsumers } from '../../lib/consumers/index.js';
import type { CertificateStore, ConsumerRun, StoreReads, StoredLeaf } from '../../lib/ports.js';

function leaf(id: string, bundlePem: string): StoredLeaf {
  return { authority: 'cluster', id, certificatePem: `cert ${id}`, privateKeyPem: `key ${id}`, bundlePem, versionId: `v-${id}` };
}

/** StoreReads over a map, and a store that records writes and refuses reads (the kind must not read). */
function fixture(complete: boolean) {
  const leaves = new Map<string, StoredLeaf | 'unreadable'>([['api', leaf('api', 'B1')], ['broken', 'unreadable']]);
  /** What a read now finds (a leaf deleted since the run read it is absent). */
  const current = new Map(leaves);
  let bundle: { pem: string } | undefined = { pem: 'B1' };
  const writes: string[] = [];
  const reads: StoreReads = {
    leafIds: ['api', 'broken', 'missing'],
    complete,
    bundle: () => bundle,
    leafBundle: (id) => {
      const held = leaves.get(id);
      return held === undefined || held === 'unreadable' ? held : { pem: held.bundlePem };
    },
    leafForRewrite: (id) => {
      const held = current.get(id);
      return Promise.resolve(held === 'unreadable' ? undefined : held);
    },
    wholeLeaf: (id) => {
      const held = leaves.get(id);
      return held === 'unreadable' ? undefined : held;
    },
    storedFormOf: () => undefined,
    wroteBundle: (_generations, pem) => {
      bundle = { pem };
    },
    wroteLeafBundle: (stored) => {
      leaves.set(stored.id, stored);
      current.set(stored.id, stored);
    },
  };
  const refuse = () => Promise.reject(new Error('the secrets kind reads nothing itself'));
  const store = {
    listCaGenerations: refuse,
    readCa: refuse,
    createCa: refuse,
    readBundle: refuse,
    listLeafIds: refuse,
    readLeaves: refuse,
    writeBundle: (_authority: string, pem: string) => {
      writes.push(`bundle ${pem}`);
      return Promise.resolve();
    },
    writeLeaf: (stored: StoredLeaf, previous?: string) => {
      writes.push(`leaf ${stored.id} ${stored.bundlePem} after ${previous ?? '-'}`);
      return Promise.resolve();
    },
  } satisfies CertificateStore;
  const run: ConsumerRun = { store, reads };
  const consumers = consumerRegistry(secretConsumers())({ name: 'cluster' } as AuthorityConfig, run);
  return { consumers, writes, reads, current };
}

describe('the secrets consumer kind', () => {
  it('names the bundle secret and each configured leaf secret with the ids the state records', () => {
    const { consumers } = fixture(true);
    expect(consumers.map((consumer) => [consumer.id, consumer.name, consumer.matching, consumer.external, consumer.leaf])).toEqual([
      ['secret:bundle', 'secret:bundle', 'loose', false, undefined],
      ['secret:leaf/api', 'secret:leaf/api', 'loose', false, undefined],
      ['secret:leaf/broken', 'secret:leaf/broken', 'loose', false, undefined],
      ['secret:leaf/missing', 'secret:leaf/missing', 'loose', false, undefined],
    ]);
  });

  it('answers from what the run read: nothing before a full read, a missing leaf not at all, an unreadable one as such', () => {
    expect(fixture(false).consumers.map((consumer) => consumer.current?.())).toEqual(['unobserved', 'unobserved', 'unobserved', 'unobserved']);
    expect(fixture(true).consumers.map((consumer) => consumer.current?.())).toEqual([{ 'ca.crt': 'B1' }, { 'ca.crt': 'B1' }, 'unreadable', 'unobserved']);
  });

  it('writes through the store, only what changes, and keeps the run\'s reads in step', async () => {
    const { consumers, writes } = fixture(true);
    for (const consumer of consumers) await consumer.publishBundle('B2', [1, 2]);
    for (const consumer of consumers) await consumer.publishBundle('B2', [1, 2]);
    expect(writes).toEqual(['bundle B2', 'leaf api B2 after v-api', 'bundle B2']);
    expect(consumers.map((consumer) => consumer.current?.())).toEqual([{ 'ca.crt': 'B2' }, { 'ca.crt': 'B2' }, 'unreadable', 'unobserved']);
    await expect(consumers[1]?.publishLeaf({ 'tls.crt': '', 'tls.key': '', 'ca.crt': '' }, 2)).rejects.toThrow('takes no leaf');
  });

  it('reads a leaf\'s certificate and key only to rewrite it, and does not bring back one deleted since the run read it', async () => {
    const { consumers, writes, current } = fixture(true);
    current.delete('api');
    for (const consumer of consumers) await consumer.publishBundle('B2', [1, 2]);
    expect(writes).toEqual(['bundle B2']);
  });
});
