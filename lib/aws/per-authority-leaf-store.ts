/**
 * CertificateStore that keeps CA and bundle secrets in Secrets Manager and each authority's leaves
 * where its `leafStore` says (composition, not engine: the engine sees one CertificateStore).
 *
 * Changing an authority's leafStore migrates its leaves one write at a time: writes go to the
 * configured store; reads ask it first and, for ids it does not hold, the other one, so a leaf not
 * yet rewritten is still found (and renewed, or rotated, into the new store). A copy left in the
 * old store is not deleted (a workload may still read it until it is pointed at the new one); it
 * is never read again once the new store holds the leaf, and `staleLeafCopies` names it for
 * `status --deep`. Ids it holds that the new store does not are listed from both.
 */
import type { LeafStoreKind } from '../config/index.js';
import type { CertificateStore, StoredCa, StoredLeaf, UnreadableSecret } from '../ports.js';
import type { LeafStore } from './s3-leaf-store.js';

export interface PerAuthorityLeafStoreOptions {
  /** The Secrets Manager store: CAs, bundles, and the leaves of `secretsmanager` authorities. */
  secrets: CertificateStore;
  /** The S3 leaf store; undefined when no bucket is configured (then every leaf is a secret). */
  s3: LeafStore | undefined;
  /** The configured leafStore of an authority. */
  leafStoreOf: (authority: string) => LeafStoreKind;
}

export class PerAuthorityLeafStore implements CertificateStore {
  constructor(private readonly options: PerAuthorityLeafStoreOptions) {}

  /** The store an authority's leaves are written to, and the other one (read for ids the first lacks). */
  private stores(authority: string): { primary: LeafStore; fallback: LeafStore | undefined } {
    const { secrets, s3 } = this.options;
    if (s3 === undefined) return { primary: secrets, fallback: undefined };
    return this.options.leafStoreOf(authority) === 's3' ? { primary: s3, fallback: secrets } : { primary: secrets, fallback: s3 };
  }

  listCaGenerations(authority: string): Promise<number[]> {
    return this.options.secrets.listCaGenerations(authority);
  }

  readCa(authority: string, generation: number): Promise<StoredCa | undefined> {
    return this.options.secrets.readCa(authority, generation);
  }

  createCa(ca: StoredCa): Promise<StoredCa> {
    return this.options.secrets.createCa(ca);
  }

  readBundle(authority: string): Promise<string | undefined> {
    return this.options.secrets.readBundle(authority);
  }

  writeBundle(authority: string, bundlePem: string): Promise<void> {
    return this.options.secrets.writeBundle(authority, bundlePem);
  }

  async listLeafIds(authority: string): Promise<string[]> {
    const { primary, fallback } = this.stores(authority);
    const lists = await Promise.all([primary.listLeafIds(authority), fallback?.listLeafIds(authority) ?? []]);
    return [...new Set(lists.flat())].sort();
  }

  async readLeaves(authority: string, ids: readonly string[]): Promise<{ leaves: StoredLeaf[]; unreadable: UnreadableSecret[] }> {
    const { primary, fallback } = this.stores(authority);
    const first = await primary.readLeaves(authority, ids);
    if (fallback === undefined) return first;
    const found = new Set([...first.leaves, ...first.unreadable].map((entry) => entry.id));
    const missing = [...new Set(ids)].filter((id) => !found.has(id));
    if (missing.length === 0) return first;
    const second = await fallback.readLeaves(authority, missing);
    // A version token of the old store means nothing to the new one: the next write reads first.
    const migrating = second.leaves.map(({ versionId: _token, ...leaf }) => leaf);
    const order = new Map(ids.map((id, index) => [id, index]));
    const byOrder = <T extends { id: string }>(a: T, b: T) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0);
    return { leaves: [...first.leaves, ...migrating].sort(byOrder), unreadable: [...first.unreadable, ...second.unreadable].sort(byOrder) };
  }

  writeLeaf(leaf: StoredLeaf, previousVersionId?: string): Promise<void> {
    return this.stores(leaf.authority).primary.writeLeaf(leaf, previousVersionId);
  }

  /** Ids both stores hold: the configured store has the current copy, the other a stale one. */
  async staleLeafCopies(authority: string): Promise<{ store: string; ids: string[] } | undefined> {
    const { primary, fallback } = this.stores(authority);
    if (fallback === undefined) return undefined;
    const [current, old] = await Promise.all([primary.listLeafIds(authority), fallback.listLeafIds(authority)]);
    const held = new Set(current);
    return { store: this.options.leafStoreOf(authority) === 's3' ? 'secretsmanager' : 's3', ids: old.filter((id) => held.has(id)).sort() };
  }
}
