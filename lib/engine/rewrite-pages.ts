/**
 * Whole leaf secrets read again for a rewrite of their `ca.crt` (publish-bundle to every leaf
 * secret), a page at a time: the leaf asked for and the next ones that will need the same rewrite
 * are read in one batched call, each is handed out once, and a page not taken is dropped two pages
 * later. A run so holds at most about two pages of keys, whatever the fleet.
 */
import type { StoredLeaf } from '../ports.js';

export class RewritePages {
  readonly #read: (ids: readonly string[]) => Promise<StoredLeaf[]>;
  readonly #ids: readonly string[];
  readonly #position: Map<string, number>;
  readonly #pageSize: number;
  readonly #held = new Map<string, { leaf: StoredLeaf | undefined; forPem: string }>();
  readonly #pages: string[][] = [];
  readonly #reading = new Map<string, Promise<void>>();

  /**
   * `read` reads whole leaf secrets (absent ids: no secret, or unreadable); `ids` are the leaves in
   * the order rewrites go in (configuration order).
   */
  constructor(read: (ids: readonly string[]) => Promise<StoredLeaf[]>, ids: readonly string[], pageSize: number) {
    this.#read = read;
    this.#ids = ids;
    this.#position = new Map(ids.map((id, index) => [id, index]));
    this.#pageSize = pageSize;
  }

  /** Forgets what is held for `id` (the run wrote it: what was read is stale). */
  forget(id: string): void {
    this.#held.delete(id);
  }

  /**
   * The whole secret of `id`, to rewrite with `bundlePem`: taken from a page read for that bundle,
   * or read now with the leaves that come next and `need` it too. Undefined when the secret does
   * not exist or cannot be read.
   */
  async take(id: string, bundlePem: string, need: (id: string) => boolean): Promise<StoredLeaf | undefined> {
    // Taken from a page read for this bundle, or waited for while one is read; a page dropped
    // before this leaf was taken from it (two newer pages came) means reading it again.
    for (;;) {
      const held = this.#held.get(id);
      if (held !== undefined && held.forPem === bundlePem) {
        this.#held.delete(id);
        return held.leaf;
      }
      const reading = this.#reading.get(id);
      if (reading === undefined) break;
      await reading;
    }
    return (await this.#readPage([id, ...this.#followers(id, need)], bundlePem)).get(id);
  }

  #followers(id: string, need: (id: string) => boolean): string[] {
    const followers: string[] = [];
    for (let i = (this.#position.get(id) ?? this.#ids.length) + 1; i < this.#ids.length && followers.length < this.#pageSize - 1; i++) {
      const candidate = this.#ids[i];
      if (candidate !== undefined && !this.#held.has(candidate) && !this.#reading.has(candidate) && need(candidate)) followers.push(candidate);
    }
    return followers;
  }

  /** Reads a page; every member but the first (the caller's) is held for whoever asks next. */
  async #readPage(page: string[], bundlePem: string): Promise<Map<string, StoredLeaf>> {
    const read = this.#read(page).then((leaves) => new Map(leaves.map((leaf) => [leaf.id, leaf])));
    const done = read.then(
      () => undefined,
      () => undefined,
    );
    for (const member of page) this.#reading.set(member, done);
    try {
      const found = await read;
      for (const member of page.slice(1)) this.#held.set(member, { leaf: found.get(member), forPem: bundlePem });
      this.#pages.push(page.slice(1));
      while (this.#pages.length > 2) for (const member of this.#pages.shift() ?? []) this.#held.delete(member);
      return found;
    } finally {
      for (const member of page) if (this.#reading.get(member) === done) this.#reading.delete(member);
    }
  }
}
