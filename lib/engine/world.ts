/**
 * What one tick knows about one authority: the stored CA generations, the bundle secret and the
 * leaf secrets, read once and then kept in step with the tick's own writes (the lease makes the
 * tick the only writer; a crash loses this cache and the next tick reads afresh). As StoreReads it
 * is what the store's own consumers (lib/consumers/secrets) observe, so nothing is read twice.
 *
 * Memory is bounded by the work in flight, not the fleet: leaf secrets are read a page at a time
 * and each is kept only as a small record (its condition, fingerprint, version and `ca.crt`, one
 * string per distinct bundle), never its certificate and key; a rewrite of every leaf's `ca.crt`
 * reads them again a page at a time (`leafForRewrite`). Only leaves with copies (consumers that
 * carry a leaf, a few configured ones) are kept whole.
 */
import type { AuthorityConfig, LeafSpec } from '../config/index.js';
import type { CaKeyService, CertificateStore, StoreReads, StoredCa, StoredLeaf } from '../ports.js';
import { CaDirectory, UNKNOWN_CA, buildBundle, caSubject, parseCertificates, verifyChain, type Certificate, type Issuer } from '../pki/index.js';
import { issuerOf, parsedCa } from './ca-cache.js';
import type { LeafCondition } from '../renewal/index.js';
import type { Observations } from '../rotation/index.js';
import { LEAF_PAGE, WHOLE_PAGES, type LeafRecord } from './leaf-record.js';
import { RewritePages } from './rewrite-pages.js';
import { CertrotateError, LostCaError, StoredDataError } from '../errors.js';

interface LoadedCa {
  stored: StoredCa;
  certificate: Certificate;
  issuer?: Issuer;
  /** Set for a CA whose secret is gone, known only from the bundle: trusted, never signing. */
  lost?: LostCaError;
}

export { LEAF_PAGE, type LeafRecord, type LeafSecret } from './leaf-record.js';

export class AuthorityWorld implements StoreReads {
  readonly authority: AuthorityConfig;
  readonly #store: CertificateStore;
  readonly #caKeys: CaKeyService | undefined;
  readonly #specs: Map<string, LeafSpec>;
  readonly #cas = new Map<number, LoadedCa>();
  #directory = CaDirectory.of([]);
  #casLoaded = false;
  readonly #unreadableCas = new Map<number, StoredDataError>();
  #bundleHolds: number[] | undefined = [];
  /** The bundle secret's content as last read or written; undefined when not read or unreadable. */
  #bundlePem: string | undefined;
  #bundleRead = false;
  #leaves = new Map<string, LeafRecord>();
  #fullyRead = false;
  readonly #pageSize: number;
  /** Leaves with copies: kept whole (their copies are written from them). */
  #keepWhole: ReadonlySet<string> = new Set();
  /** Leaves kept whole: those with copies, and others while fewer than WHOLE_PAGES pages are. */
  readonly #whole = new Map<string, StoredLeaf>();
  /** One string per distinct `ca.crt` read (a fleet holds a few). */
  readonly #bundleStrings = new Map<string, string>();
  /** Leaves read again for a rewrite of their `ca.crt`: a page or two at a time. */
  readonly #rewrites: RewritePages;

  constructor(store: CertificateStore, authority: AuthorityConfig, specs: readonly LeafSpec[], caKeys?: CaKeyService, pageSize = LEAF_PAGE) {
    this.#store = store;
    this.#caKeys = caKeys;
    this.authority = authority;
    this.#specs = new Map(specs.map((spec) => [spec.id, spec]));
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new RangeError(`the leaf page size must be a positive whole number, got ${pageSize}`);
    this.#pageSize = pageSize;
    this.#rewrites = new RewritePages(async (ids) => (await store.readLeaves(authority.name, ids)).leaves, [...this.#specs.keys()], pageSize);
  }

  /** These leaves have copies: keep them whole when read (`wholeLeaf`). */
  keepWhole(ids: Iterable<string>): void {
    this.#keepWhole = new Set(ids);
  }

  /** The whole secret of a leaf with copies (`keepWhole`) or among the first read, as read or written this run. */
  wholeLeaf(id: string): StoredLeaf | undefined {
    return this.#whole.get(id);
  }

  /**
   * Reads the leaves with copies that are not read yet, whole, a page at a time: each copy's
   * read-back is compared with its leaf, and a copy that lags is written from it, so one read
   * serves both. They are not recorded as read leaves (a scan's renewals still go by the inventory).
   */
  async readCopiedLeaves(): Promise<void> {
    const unread = [...this.#keepWhole].filter((id) => this.#specs.has(id) && !this.#whole.has(id) && !this.#leaves.has(id));
    for (let i = 0; i < unread.length; i += this.#pageSize) {
      const { leaves } = await this.#store.readLeaves(this.authority.name, unread.slice(i, i + this.#pageSize));
      for (const leaf of leaves) this.#whole.set(leaf.id, leaf);
    }
  }

  get specs(): LeafSpec[] {
    return [...this.#specs.values()];
  }

  /**
   * Reads the stored CA generations, except `skip`: retired and abandoned CAs sign nothing and sit
   * in no bundle, so a tick need not read them (their secrets stay for audit).
   */
  async loadCas(skip: ReadonlySet<number> = new Set()): Promise<void> {
    if (this.#casLoaded) return;
    const name = this.authority.name;
    for (const generation of await this.#store.listCaGenerations(name)) {
      if (this.#cas.has(generation) || skip.has(generation)) continue;
      try {
        const stored = await this.#store.readCa(name, generation);
        if (stored !== undefined) this.#addCa(stored);
      } catch (error) {
        // One corrupted CA secret must not stop what needs only the others (renewals from the
        // signer): it counts as absent, and whatever needs it gets this error.
        if (!(error instanceof StoredDataError)) throw error;
        this.#unreadableCas.set(generation, error);
      }
    }
    this.#casLoaded = true;
  }

  /**
   * The first CA secret that could not be read, or a current CA whose secret is gone, if any: the
   * run reports it even when nothing needed it.
   */
  get unreadableCa(): StoredDataError | undefined {
    return this.#unreadableCas.values().next().value ?? [...this.#cas.values()].find((ca) => ca.lost !== undefined)?.lost;
  }

  /**
   * CA `generation` has no secret (force-deleted) but the published bundle holds its certificate:
   * every consumer trusts it and leaves it signed are in the field. It is taken from the bundle as a
   * CA that is trusted and never signs, so those leaves keep verifying while an emergency rotation
   * moves them to a new CA. Nothing happens when the CA is stored, unreadable, or not in the bundle.
   */
  async recoverLostCa(generation: number): Promise<void> {
    if (generation < 1 || this.#cas.has(generation) || this.#unreadableCas.has(generation)) return;
    if (!this.#bundleRead) await this.#readBundle();
    const pem = this.#bundlePem;
    if (pem === undefined) return;
    const subject = caSubject(this.authority.name, generation);
    const certificate = parseCertificates(pem).find((candidate) => candidate.subject === subject && candidate.isCa);
    if (certificate === undefined) return;
    const name = this.authority.name;
    const lost = new LostCaError(
      generation,
      `CA ${generation} of authority ${name} has no secret (deleted?): its certificate, taken from the published bundle, stays trusted, ` +
        `but it cannot sign, so no leaf can be renewed from it. Restore the secret within its recovery window, or force an emergency rotation ` +
        `({"action":"rotate-ca","emergency":true,...}) to move every leaf to a new CA`,
    );
    this.#cas.set(generation, { stored: { authority: name, generation, certificatePem: certificate.pem, privateKeyPem: '' }, certificate, lost });
    this.#directory = CaDirectory.of([...this.#cas.values()].map((ca) => ({ generation: ca.stored.generation, certificate: ca.certificate })));
    this.#bundleHolds = this.#directory.generationsIn(pem);
  }

  #addCa(stored: StoredCa): void {
    let certificate: Certificate;
    try {
      certificate = parsedCa(stored.certificatePem);
    } catch (cause) {
      throw new StoredDataError(
        `CA generation ${stored.generation} of authority ${this.authority.name} is stored with a certificate that cannot be read (${cause instanceof Error ? cause.message : String(cause)}): restore the secret's previous version`,
        { cause },
      );
    }
    this.#cas.set(stored.generation, { stored, certificate });
    this.#directory = CaDirectory.of([...this.#cas.values()].map((ca) => ({ generation: ca.stored.generation, certificate: ca.certificate })));
  }

  /** Records a CA generation the tick stored (or found stored by a concurrent writer). */
  addCa(stored: StoredCa): void {
    this.#addCa(stored);
  }

  issuerFor(generation: number): Issuer {
    const ca = this.#cas.get(generation);
    const unreadable = this.#unreadableCas.get(generation);
    if (ca === undefined && unreadable !== undefined) throw unreadable;
    if (ca === undefined) {
      throw new CertrotateError(`CA generation ${generation} of authority ${this.authority.name} is not in the store: it cannot issue`);
    }
    if (ca.lost !== undefined) throw ca.lost;
    if (ca.stored.keyArn !== undefined && this.#caKeys === undefined) {
      throw new CertrotateError(
        `CA generation ${generation} of authority ${this.authority.name} keeps its key in KMS (${ca.stored.keyArn}), but this deployment has no KMS access configured: it cannot issue`,
      );
    }
    try {
      ca.issuer ??= issuerOf(ca.stored, ca.certificate, this.#caKeys);
    } catch (cause) {
      throw new StoredDataError(
        `CA generation ${generation} of authority ${this.authority.name} is stored with a key or certificate it cannot sign with (${cause instanceof Error ? cause.message : String(cause)}): restore the secret's previous version`,
        { cause },
      );
    }
    return ca.issuer;
  }

  /**
   * Refuses to publish `bundlePem` when it would stop trusting a leaf in the field that the bundle
   * secret trusts today. Planned changes never do (the gates wait until no leaf needs what is
   * dropped); this one would mean a CA secret was replaced out of band, and publishing would break
   * every handshake with those leaves. Only leaves not known to be from a CA of the new bundle are
   * verified, so a normal publication costs nothing here.
   */
  async assertKeepsTrust(generations: readonly number[], bundlePem: string, now: number): Promise<void> {
    const current = this.#bundlePem;
    if (current === undefined || current === bundlePem) return;
    const verifies = (leafPem: string, bundle: string): boolean => {
      try {
        verifyChain(leafPem, bundle, now);
        return true;
      } catch {
        return false;
      }
    };
    const suspects = [...this.#leaves.values()]
      .filter((record) => record.secret !== undefined && !generations.includes(record.condition.generation ?? UNKNOWN_CA))
      .map((record) => record.spec.id);
    const stranded: string[] = [];
    for (let i = 0; i < suspects.length; i += this.#pageSize) {
      const { leaves } = await this.#store.readLeaves(this.authority.name, suspects.slice(i, i + this.#pageSize));
      for (const leaf of leaves) if (verifies(leaf.certificatePem, current) && !verifies(leaf.certificatePem, bundlePem)) stranded.push(leaf.id);
    }
    if (stranded.length === 0) return;
    const shown = stranded.slice(0, 5).join(', ') + (stranded.length > 5 ? ` and ${stranded.length - 5} more` : '');
    throw new StoredDataError(
      `publishing the bundle of CA ${generations.join(', ')} of authority ${this.authority.name} would stop trusting leaves ${shown}, which its consumers trust today: ` +
        'the stored CA is not the one they were issued by (a CA secret replaced out of band?). Nothing was published; restore the CA secret\'s previous version',
    );
  }

  /** True when CA `generation` is loaded and expired at `now`: it can issue nothing. */
  caExpired(generation: number, now: number): boolean {
    const ca = this.#cas.get(generation);
    return ca !== undefined && now > ca.certificate.notAfter;
  }

  /** True when every one of these CA generations is loaded from the store. */
  hasCas(generations: readonly number[]): boolean {
    return generations.every((generation) => this.#cas.has(generation));
  }

  /** The PEM bundle for these generations, signer first, expired CAs pruned. */
  bundlePem(generations: readonly number[], now: number): string {
    const newest = Math.max(0, ...generations);
    const members = generations.map((generation) => {
      const ca = this.#cas.get(generation);
      const unreadable = this.#unreadableCas.get(generation);
      if (ca === undefined && unreadable !== undefined) throw unreadable;
      if (ca === undefined) {
        throw new CertrotateError(`CA generation ${generation} of authority ${this.authority.name} is not in the store: it cannot be published; restore its secret (a deleted secret can be restored within its recovery window)`);
      }
      return { generation, certificate: ca.certificate };
    });
    return buildBundle(members, newest, now);
  }

  /**
   * The generations a bundle holds, only when it is exactly the PEM certrotate writes for them
   * (generations ascending, nothing else): anything else holds nothing exactly.
   * Undefined when it cannot be read at all.
   */
  exactBundleGenerations(pem: string, now: number): number[] | undefined {
    const generations = this.#directory.generationsIn(pem);
    if (generations === undefined) return undefined;
    if (generations.length === 0) return [];
    try {
      return this.bundlePem(generations, now) === pem ? generations : [];
    } catch {
      // A CA not loaded (retired) or an expired signer: not a bundle certrotate would write now.
      return [];
    }
  }

  /** Every generation of the authority whose CA is in the PEM (UNKNOWN_CA for others); undefined when it cannot be read. */
  bundleGenerations(pem: string): number[] | undefined {
    return this.#directory.generationsIn(pem);
  }

  /** Which stored generation issued this leaf; undefined when none did or it is broken. */
  leafGeneration(certificatePem: string, privateKeyPem: string): number | undefined {
    const exam = this.#directory.examineLeaf(certificatePem, privateKeyPem);
    return exam.problem === undefined ? exam.generation : undefined;
  }

  /** Reads the bundle secret and every configured leaf secret, a page at a time. */
  async readAll(): Promise<void> {
    if (this.#fullyRead) return;
    await this.loadCas();
    await this.#readBundle();
    const ids = [...this.#specs.keys()];
    for (let i = 0; i < ids.length; i += this.#pageSize) await this.readLeaves(ids.slice(i, i + this.#pageSize));
    this.#fullyRead = true;
  }

  async #readBundle(): Promise<void> {
    try {
      const bundle = await this.#store.readBundle(this.authority.name);
      this.#bundleHolds = bundle === undefined ? [] : this.#directory.generationsIn(bundle);
      this.#bundlePem = bundle;
    } catch (error) {
      // An unreadable bundle secret is a consumer that holds nothing readable: it gets republished.
      if (!(error instanceof StoredDataError)) throw error;
      this.#bundleHolds = undefined;
    }
    this.#bundleRead = true;
  }

  /**
   * True when the bundle secret, the authority's published trust, holds certificates and none of
   * them is CA `generation`: a leaf issued from it would be trusted by nobody reading that bundle,
   * so the state and the store disagree. A missing or unreadable bundle secret says nothing (the
   * next step republishes it). Reads the secret if not read yet.
   */
  async bundleDistrusts(generation: number): Promise<boolean> {
    if (!this.#bundleRead) await this.#readBundle();
    const holds = this.#bundleHolds;
    return holds !== undefined && holds.length > 0 && !holds.includes(generation);
  }

  /** Reads the named leaf secrets (configured ones only) into the cache, a page at a time. */
  async readLeaves(ids: readonly string[]): Promise<LeafRecord[]> {
    await this.loadCas();
    const wanted = ids.filter((id) => this.#specs.has(id));
    const records: LeafRecord[] = [];
    for (let i = 0; i < wanted.length; i += this.#pageSize) {
      const page = wanted.slice(i, i + this.#pageSize);
      const { leaves, unreadable } = await this.#store.readLeaves(this.authority.name, page);
      const found = new Map(leaves.map((leaf) => [leaf.id, leaf]));
      const bad = new Map(unreadable.map((entry) => [entry.id, entry.problem]));
      for (const id of page) {
        const spec = this.#specs.get(id);
        if (spec === undefined) continue;
        const record = this.#record(spec, found.get(id), bad.get(id));
        this.#leaves.set(id, record);
        records.push(record);
      }
    }
    return records;
  }

  #keptWhole(id: string): boolean {
    return this.#keepWhole.has(id) || this.#whole.has(id) || this.#whole.size < this.#pageSize * WHOLE_PAGES + this.#keepWhole.size;
  }

  /** The one string kept for this `ca.crt` (a few distinct ones are shared by the whole fleet). */
  #bundleString(pem: string): string {
    const known = this.#bundleStrings.get(pem);
    if (known !== undefined) return known;
    if (this.#bundleStrings.size < 64) this.#bundleStrings.set(pem, pem);
    return pem;
  }

  #record(spec: LeafSpec, stored: StoredLeaf | undefined, unreadable: string | undefined): LeafRecord {
    if (stored !== undefined && this.#keptWhole(spec.id)) this.#whole.set(spec.id, stored);
    else this.#whole.delete(spec.id);
    if (unreadable !== undefined) {
      return { spec, secret: undefined, unreadable, condition: { id: spec.id, problem: 'unparsable' }, holds: undefined };
    }
    if (stored === undefined) {
      return { spec, secret: undefined, unreadable: undefined, condition: { id: spec.id, problem: 'missing' }, holds: undefined };
    }
    const exam = this.#directory.examineLeaf(stored.certificatePem, stored.privateKeyPem);
    const condition: LeafCondition = { id: spec.id };
    if (exam.notAfter !== undefined) condition.notAfter = exam.notAfter;
    if (exam.generation !== undefined && exam.problem === undefined) condition.generation = exam.generation;
    if (exam.problem !== undefined) condition.problem = exam.problem;
    const bundlePem = this.#bundleString(stored.bundlePem);
    return {
      spec,
      secret: { versionId: stored.versionId, bundlePem },
      unreadable: undefined,
      condition,
      holds: this.#directory.generationsIn(bundlePem),
      ...(exam.serialHex === undefined ? {} : { serialHex: exam.serialHex }),
      ...(exam.fingerprintSha256 === undefined ? {} : { fingerprintSha256: exam.fingerprintSha256 }),
    };
  }

  /**
   * After the tick wrote a leaf secret: keep the cache true without reading it back. `issued`
   * describes a certificate the tick just issued, which then needs no examination.
   */
  wroteLeaf(spec: LeafSpec, stored: StoredLeaf, issued?: { generation: number; notAfter: number; serialHex: string; fingerprintSha256: string }): LeafRecord {
    if (issued !== undefined) {
      const { generation, ...facts } = issued;
      this.#directory.remember(stored.certificatePem, stored.privateKeyPem, { generation, ...facts, problem: undefined });
    }
    this.#rewrites.forget(spec.id);
    const record = this.#record(spec, stored, undefined);
    this.#leaves.set(spec.id, record);
    return record;
  }

  /** After the tick rewrote only a leaf's `ca.crt`: its certificate and key, so its condition, are unchanged. */
  wroteLeafBundle(stored: StoredLeaf): void {
    const record = this.#leaves.get(stored.id);
    if (record === undefined) return;
    this.#rewrites.forget(stored.id);
    if (this.#keptWhole(stored.id)) this.#whole.set(stored.id, stored);
    const bundlePem = this.#bundleString(stored.bundlePem);
    this.#leaves.set(stored.id, { ...record, secret: { versionId: stored.versionId, bundlePem }, holds: this.#directory.generationsIn(bundlePem) });
  }

  wroteBundle(generations: readonly number[], bundlePem: string): void {
    this.#bundleHolds = [...generations];
    this.#bundlePem = bundlePem;
    this.#bundleRead = true;
  }

  leaf(id: string): LeafRecord | undefined {
    return this.#leaves.get(id);
  }

  spec(id: string): LeafSpec | undefined {
    return this.#specs.get(id);
  }

  // StoreReads: what the consumers that are the store's own secrets (lib/consumers/secrets) see.

  get leafIds(): string[] {
    return [...this.#specs.keys()];
  }

  get complete(): boolean {
    return this.#fullyRead;
  }

  bundle(): { pem: string } | undefined | 'unreadable' {
    if (this.#bundleHolds === undefined) return 'unreadable';
    return this.#bundlePem === undefined ? undefined : { pem: this.#bundlePem };
  }

  /** Per StoreReads: a re-encoded bundle in certrotate's stored form, by the CAs loaded. */
  storedFormOf(bundlePem: string): string | undefined {
    return this.#directory.storedFormOf(bundlePem);
  }

  /** Per StoreReads: the leaf secret's `ca.crt`, `unreadable`, or undefined when missing or not read. */
  leafBundle(id: string): { pem: string } | undefined | 'unreadable' {
    const record = this.#leaves.get(id);
    if (record?.unreadable !== undefined) return 'unreadable';
    return record?.secret === undefined ? undefined : { pem: record.secret.bundlePem };
  }

  /**
   * Per StoreReads: the whole leaf secret, kept (WHOLE_PAGES) or read now together with the next
   * leaves (configuration order) that exist and do not hold `bundlePem` either, so a publication to
   * every leaf costs one batched read per page (lib/engine/rewrite-pages.ts).
   */
  leafForRewrite(id: string, bundlePem: string): Promise<StoredLeaf | undefined> {
    const whole = this.#whole.get(id);
    if (whole !== undefined) return Promise.resolve(whole);
    return this.#rewrites.take(id, bundlePem, (other) => {
      const secret = this.#leaves.get(other)?.secret;
      return secret !== undefined && secret.bundlePem !== bundlePem && !this.#whole.has(other);
    });
  }

  /**
   * Observations for the phase machine: the stored CAs and, with `full`, the leaves. Consumers,
   * the store's own secrets among them, are added by lib/engine/consumers.ts.
   */
  observations(full: boolean): Observations {
    const caGenerations = [...this.#cas.values()].map(({ stored, certificate }) => ({ generation: stored.generation, notBefore: certificate.notBefore, notAfter: certificate.notAfter }));
    if (!full) return { caGenerations, consumers: [], leaves: [] };
    const leaves = this.specs.map((spec) => ({ id: spec.id, generation: this.#leaves.get(spec.id)?.condition.generation }));
    return { caGenerations, consumers: [], leaves };
  }

  /** Every leaf read so far. */
  records(): LeafRecord[] {
    return [...this.#leaves.values()];
  }
}
