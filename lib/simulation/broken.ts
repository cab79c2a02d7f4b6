/**
 * A deliberately broken deployment, for proving that the simulation's checks can fail: every
 * bundle written reaches workloads with only its newest CA (the old CA dropped early), while
 * read-backs report what certrotate wrote, so the rotation proceeds as if all were well.
 */
import type { CertificateStore, StoredCa, StoredLeaf, UnreadableSecret } from '../ports.js';
import { generationOf, splitBundle } from '../pki/index.js';

function newestOnly(bundlePem: string): string {
  const certificates = splitBundle(bundlePem);
  const newest = certificates.reduce((best, candidate) => ((generationOf(candidate) ?? 0) > (generationOf(best) ?? 0) ? candidate : best));
  return newest.pem;
}

export class DroppingOldCaStore implements CertificateStore {
  readonly #inner: CertificateStore;
  /** What certrotate believes it wrote, by stored (truncated) bundle. */
  readonly #claimed = new Map<string, string>();

  constructor(inner: CertificateStore) {
    this.#inner = inner;
  }

  #drop(bundlePem: string): string {
    const dropped = newestOnly(bundlePem);
    this.#claimed.set(dropped, bundlePem);
    return dropped;
  }

  #claim(bundlePem: string): string {
    return this.#claimed.get(bundlePem) ?? bundlePem;
  }

  listCaGenerations(authority: string): Promise<number[]> {
    return this.#inner.listCaGenerations(authority);
  }
  readCa(authority: string, generation: number): Promise<StoredCa | undefined> {
    return this.#inner.readCa(authority, generation);
  }
  createCa(ca: StoredCa): Promise<StoredCa> {
    return this.#inner.createCa(ca);
  }
  async readBundle(authority: string): Promise<string | undefined> {
    const bundle = await this.#inner.readBundle(authority);
    return bundle === undefined ? undefined : this.#claim(bundle);
  }
  writeBundle(authority: string, bundlePem: string): Promise<void> {
    return this.#inner.writeBundle(authority, this.#drop(bundlePem));
  }
  listLeafIds(authority: string): Promise<string[]> {
    return this.#inner.listLeafIds(authority);
  }
  async readLeaves(authority: string, ids: readonly string[]): Promise<{ leaves: StoredLeaf[]; unreadable: UnreadableSecret[] }> {
    const { leaves, unreadable } = await this.#inner.readLeaves(authority, ids);
    return { leaves: leaves.map((leaf) => ({ ...leaf, bundlePem: this.#claim(leaf.bundlePem) })), unreadable };
  }
  writeLeaf(leaf: StoredLeaf, previousVersionId?: string): Promise<void> {
    return this.#inner.writeLeaf({ ...leaf, bundlePem: this.#drop(leaf.bundlePem) }, previousVersionId);
  }
}
