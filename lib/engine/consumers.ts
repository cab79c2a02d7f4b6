/**
 * An authority's consumers (every registered kind: lib/consumers), as one tick sees them: read
 * back once (or, for those answering from what the run already read, asked at every observation),
 * kept in step with the tick's own writes, and turned into the phase machine's observations.
 * Nothing here knows a kind.
 *
 * - Every consumer is observed by its id; its `holds` are the generations of its `ca.crt` by its
 *   matching rule (`exact`: only the very bundle certrotate writes for them, anything else holds
 *   nothing; `loose`: every CA found in it), and a consumer that cannot be read holds `undefined`.
 * - A leaf's copies are part of the field: in a full observation a leaf counts as from generation G
 *   only when every copy holds that very leaf, so the old CA never leaves a bundle while a
 *   workload somewhere still presents a leaf it signed.
 * - A consumer that is unavailable once in a tick (ConsumerUnavailableError) puts its scope (a
 *   cluster) down for that tick; a refusal (ConsumerRejectedError) or a lost race (ConflictError)
 *   affects only that consumer. Each is recorded, emitted as an event, and the tick carries on:
 *   only this authority's gates wait for it, through the observations.
 */
import type { CertificateStore, Consumer, EventSink, HeldContent, LeafContent, StoredLeaf } from '../ports.js';
import { UNKNOWN_CA } from '../pki/index.js';
import { formatGenerations, holdsExactly, type Observations, type ObservedConsumer } from '../rotation/index.js';
import { consumerFailure, describeFailure, type ConsumerFailure, type ShownFindings } from './consumer-failures.js';
import type { AuthorityWorld } from './world.js';

export type { ConsumerFailure } from './consumer-failures.js';

type Read = { ok: true; value: HeldContent | undefined } | { ok: false; failure: ConsumerFailure };

function leafContent(stored: StoredLeaf): LeafContent {
  return { 'tls.crt': stored.certificatePem, 'tls.key': stored.privateKeyPem, 'ca.crt': stored.bundlePem };
}

function sameLeaf(read: HeldContent | undefined, content: LeafContent): boolean {
  return read !== undefined && read['tls.crt'] === content['tls.crt'] && read['tls.key'] === content['tls.key'] && read['ca.crt'] === content['ca.crt'];
}

export class AuthorityConsumers {
  readonly authority: string;
  readonly #targets: readonly Consumer[];
  readonly #byId: Map<string, Consumer>;
  /** The copies of each leaf that has any: looked up per leaf, so never a scan of every consumer. */
  readonly #copies = new Map<string, Consumer[]>();
  readonly #events: EventSink;
  readonly #reads = new Map<string, Read>();
  /** Clusters that failed this tick, with the failure: not asked again until the next tick. */
  readonly #down = new Map<string, ConsumerFailure>();
  readonly #failures: ConsumerFailure[] = [];
  /** Leaf copies still not holding their leaf after this tick's writes, by consumer id. */
  readonly #staleCopies = new Set<string>();

  constructor(authority: string, consumers: readonly Consumer[], events: EventSink) {
    this.authority = authority;
    this.#targets = consumers;
    this.#byId = new Map(consumers.map((consumer) => [consumer.id, consumer]));
    for (const consumer of consumers) if (consumer.leaf !== undefined) this.#copies.set(consumer.leaf, [...(this.#copies.get(consumer.leaf) ?? []), consumer]);
    this.#events = events;
  }

  get active(): boolean {
    return this.#targets.length > 0;
  }

  /** True when some consumer is external (not certrotate's own secrets): only then are laggards named. */
  get external(): boolean {
    return this.#targets.some((target) => target.external);
  }

  /** Whether consumer `id` is external (Consumer.external): it then holds only what it reports. */
  isExternal(id: string): boolean {
    return this.#byId.get(id)?.external === true;
  }

  /** What failed this tick, in order. */
  failures(): ConsumerFailure[] {
    return [...this.#failures];
  }

  /**
   * Reads every target not read yet this tick, in parallel (one cluster's trouble delays only its
   * own reads). Targets that answer from what the run already read (`current`) are not read here.
   */
  async observe(): Promise<void> {
    await Promise.all(this.#targets.filter((target) => target.current === undefined && !this.#reads.has(target.id)).map((target) => this.#read(target)));
  }

  /**
   * The observations with these consumers added. Without `full` only bundle consumers are added
   * (a leaf target's copy is judged against its leaf secret, which only a full observation reads).
   */
  observations(base: Observations, world: AuthorityWorld, now: number, full: boolean): Observations {
    if (!this.active) return base;
    const consumers: ObservedConsumer[] = [...base.consumers];
    for (const target of this.#targets) {
      if (target.current !== undefined) {
        const held = target.current();
        if (held !== 'unobserved') consumers.push({ id: target.id, holds: held === 'unreadable' ? undefined : this.#generations(target, held?.['ca.crt'], world, now) });
        continue;
      }
      // A leaf target follows its leaf secret: until that exists (bootstrap, or deleted) there is
      // nothing to give it, and it is not waited for; it gets the leaf when the leaf is issued.
      if (target.leaf !== undefined && (!full || world.leaf(target.leaf)?.secret === undefined)) continue;
      consumers.push({ id: target.id, holds: this.#holds(target, world, now) });
    }
    if (!full) return { ...base, consumers };
    const leaves = base.leaves.map((leaf) => {
      for (const copy of this.#leafTargets(leaf.id)) {
        const generation = this.#copyGeneration(copy, world);
        if (generation !== leaf.generation) return { id: leaf.id, generation };
      }
      return leaf;
    });
    return { ...base, consumers, leaves };
  }

  /** The leaves that have copies among these consumers (the run keeps them whole). */
  get copiedLeaves(): string[] {
    return [...this.#copies.keys()];
  }

  /** Whether leaf `leafId` has copies among these consumers. */
  hasCopies(leafId: string): boolean {
    return this.#leafTargets(leafId).length > 0;
  }

  /** The consumers carrying a copy of leaf `leafId`. */
  copiesOf(leafId: string): readonly Consumer[] {
    return this.#leafTargets(leafId);
  }

  consumer(id: string): Consumer | undefined {
    return this.#byId.get(id);
  }

  /** True when `copy` was read (or written and read back) this tick holding exactly this leaf secret's content. */
  copyHolds(copy: Consumer, stored: StoredLeaf): boolean {
    const read = this.#reads.get(copy.id);
    return read?.ok === true && sameLeaf(read.value, leafContent(stored));
  }

  /**
   * Of the leaves a reissue-leaves step names for `generation`, those whose secret is already from
   * it: they are named only because a copy still holds another leaf, and get no new certificate.
   */
  copyOnly(leafIds: readonly string[], generation: number, world: AuthorityWorld): string[] {
    return leafIds.filter((id) => {
      return world.wholeLeaf(id) !== undefined && world.leaf(id)?.condition.generation === generation && this.hasCopies(id);
    });
  }

  /**
   * publish-bundle for one consumer: a bundle consumer gets `bundlePem`; a leaf copy gets its
   * leaf secret's certificate and key with `bundlePem` as `ca.crt` (a missing leaf gets it when it
   * is issued). Returns false when it failed (recorded, emitted).
   */
  async publishBundle(consumer: string, world: AuthorityWorld, generations: readonly number[], bundlePem: string): Promise<boolean> {
    const target = this.#byId.get(consumer);
    if (target === undefined) return true;
    if (target.leaf === undefined) return this.#publishBundle(target, generations, bundlePem);
    const stored = world.wholeLeaf(target.leaf);
    if (stored === undefined) return true;
    const content = { ...leafContent(stored), 'ca.crt': bundlePem };
    return this.#publishLeaf(target, content, world.leaf(target.leaf)?.condition.generation ?? 0);
  }

  /**
   * After a leaf secret was (re)written: every copy gets exactly it (then its restarts). Returns
   * how many copies could not be written.
   */
  async pushLeaf(stored: StoredLeaf, generation: number): Promise<number> {
    const results = await Promise.all(this.#leafTargets(stored.id).map((target) => this.#publishLeaf(target, leafContent(stored), generation)));
    return results.filter((ok) => !ok).length;
  }

  /**
   * Brings every leaf copy to its leaf secret: the ones read this tick (`world`) or, for the rest,
   * read here. With `full` a copy with workloads to restart is applied even when it already holds
   * its leaf (a no-op write that also finishes a restart a crash interrupted).
   */
  async syncLeafCopies(world: AuthorityWorld, store: CertificateStore, full: boolean): Promise<void> {
    const targets = this.#targets.flatMap((target) => (target.leaf === undefined ? [] : [{ target, leaf: target.leaf }]));
    if (targets.length === 0) return;
    const ids = [...new Set(targets.map(({ leaf }) => leaf))];
    const known = new Map<string, StoredLeaf>();
    for (const id of ids) {
      const stored = world.wholeLeaf(id);
      if (stored !== undefined) known.set(id, stored);
    }
    const unread = ids.filter((id) => !known.has(id) && world.leaf(id) === undefined);
    if (unread.length > 0) {
      const { leaves } = await store.readLeaves(this.authority, unread);
      for (const leaf of leaves) known.set(leaf.id, leaf);
    }
    await Promise.all(
      targets.map(async ({ target, leaf }) => {
        const stored = known.get(leaf);
        if (stored === undefined) return;
        const content = leafContent(stored);
        const read = this.#reads.get(target.id);
        // A copy that already holds its leaf needs no write, unless (in a full observation) it
        // names workloads to restart: applying again finishes a restart a crash interrupted.
        if ((!full || !target.restartsWorkloads) && read?.ok === true && sameLeaf(read.value, content)) return;
        const generation = world.leafGeneration(stored.certificatePem, stored.privateKeyPem) ?? 0;
        await this.#publishLeaf(target, content, generation);
      }),
    );
  }

  /** Every consumer that reads on its own (not certrotate's own secrets; leaf copies too), as it names itself in status. */
  get externalNames(): string[] {
    return this.#targets.filter((target) => target.external).map((target) => target.name);
  }

  /**
   * What consumers reported against what they hold, as last read or written this tick (API
   * Gateway's truststore warnings), bounded and quoted: status shows them whole, laggards the first.
   */
  findings(): Array<{ consumer: string; target: string } & ShownFindings> {
    return this.#targets.flatMap((target) => {
      const findings = this.#failureOf(target)?.findings;
      return findings === undefined ? [] : [{ consumer: target.id, target: target.name, ...findings }];
    });
  }

  /** Consumers not holding exactly `bundle`, named for an operator: `prod-eu kube-system/cluster-ca lacks [2]`. */
  laggards(observations: Observations, bundle: readonly number[]): string[] {
    const names: string[] = [];
    for (const consumer of observations.consumers) {
      if (holdsExactly(consumer, bundle)) continue;
      const target = this.#byId.get(consumer.id);
      const name = target === undefined ? consumer.id : target.name;
      if (consumer.holds === undefined) {
        const failure = target === undefined ? undefined : this.#failureOf(target);
        names.push(`${name} ${failure === undefined ? 'unreadable' : describeFailure(failure)}`);
        continue;
      }
      const held = new Set(consumer.holds);
      const lacks = bundle.filter((generation) => !held.has(generation));
      const extra = consumer.holds.filter((generation) => !bundle.includes(generation) && generation !== UNKNOWN_CA);
      const unknown = consumer.holds.includes(UNKNOWN_CA) ? ' and a certificate that is none of its CAs' : '';
      names.push(
        lacks.length > 0
          ? `${name} lacks ${formatGenerations(lacks)}`
          : extra.length > 0
            ? `${name} still trusts ${formatGenerations(extra)}${unknown}`
            : `${name} also trusts a certificate that is none of its CAs`,
      );
    }
    for (const id of this.#staleCopies) {
      const target = this.#byId.get(id);
      if (target === undefined || names.some((name) => name.startsWith(`${target.name} `))) continue;
      const failure = this.#failureOf(target);
      names.push(`${target.name} lacks its current leaf${failure === undefined ? '' : ` (${describeFailure(failure)})`}`);
    }
    return names;
  }

  #leafTargets(leafId: string): readonly Consumer[] {
    return this.#copies.get(leafId) ?? [];
  }

  #failureOf(target: Consumer): ConsumerFailure | undefined {
    const read = this.#reads.get(target.id);
    if (read !== undefined && !read.ok) return read.failure;
    return this.#down.get(target.scope);
  }

  #holds(target: Consumer, world: AuthorityWorld, now: number): readonly number[] | undefined {
    const read = this.#reads.get(target.id);
    if (read === undefined || !read.ok) return undefined;
    return this.#generations(target, read.value?.['ca.crt'], world, now);
  }

  /** The generations a held `ca.crt` counts for, by the consumer's matching rule (ports.ts). */
  #generations(target: Consumer, pem: string | undefined, world: AuthorityWorld, now: number): readonly number[] | undefined {
    if (pem === undefined) return [];
    return target.matching === 'exact' ? (world.exactBundleGenerations(pem, now) ?? []) : world.bundleGenerations(pem);
  }

  /** The generation of the leaf a copy holds; undefined when unreadable, missing or broken. */
  #copyGeneration(target: Consumer, world: AuthorityWorld): number | undefined {
    const read = this.#reads.get(target.id);
    if (read === undefined || !read.ok || read.value === undefined) return undefined;
    const certificate = read.value['tls.crt'];
    const key = read.value['tls.key'];
    if (certificate === undefined || key === undefined) return undefined;
    return world.leafGeneration(certificate, key);
  }

  async #read(target: Consumer): Promise<void> {
    const id = target.id;
    const down = this.#down.get(target.scope);
    if (down !== undefined) {
      this.#reads.set(id, { ok: false, failure: down });
      return;
    }
    try {
      this.#reads.set(id, { ok: true, value: await target.readBack() });
    } catch (error) {
      this.#reads.set(id, { ok: false, failure: this.#failed(target, error, 'read') });
    }
  }

  /**
   * What a consumer holds after a write that succeeded. certrotate's own secrets hold what was
   * written (the store answers reads with it at once). An external consumer holds only what it
   * reports: it is read back now, so one that applies changes on its own time (an ELBv2 trust
   * store, an API Gateway domain) still counts as what it serves. Soaks never stand in for that
   * read: an emergency rotation has none.
   */
  async #afterWrite(target: Consumer, written: HeldContent): Promise<void> {
    // One answering from what the run read (`current`) is asked at every observation instead.
    if (target.external && target.current === undefined) await this.#read(target);
    else this.#reads.set(target.id, { ok: true, value: written });
  }

  async #publishBundle(target: Consumer, generations: readonly number[], pem: string): Promise<boolean> {
    const id = target.id;
    const down = this.#down.get(target.scope);
    if (down !== undefined) {
      this.#reads.set(id, { ok: false, failure: down });
      return false;
    }
    try {
      const result = await target.publishBundle(pem, generations);
      await this.#afterWrite(target, { 'ca.crt': pem });
      if (result.changed && target.external) {
        this.#events.emit({ type: 'consumer-published', authority: this.authority, detail: { consumer: id, generations: [...generations] } });
      }
      return true;
    } catch (error) {
      this.#reads.set(id, { ok: false, failure: this.#failed(target, error, 'publish') });
      return false;
    }
  }

  async #publishLeaf(target: Consumer, content: LeafContent, generation: number): Promise<boolean> {
    const id = target.id;
    const down = this.#down.get(target.scope);
    if (down !== undefined) {
      // Keep what was read (the copy is still what it was); note that it lags.
      if (!this.#reads.has(id)) this.#reads.set(id, { ok: false, failure: down });
      this.#staleCopies.add(id);
      return false;
    }
    try {
      const result = await target.publishLeaf(content, generation);
      await this.#afterWrite(target, { ...content });
      const read = this.#reads.get(id);
      if (read?.ok === true && sameLeaf(read.value, content)) this.#staleCopies.delete(id);
      else this.#staleCopies.add(id);
      if (result.changed || result.restarted.length > 0) {
        this.#events.emit({
          type: 'consumer-published',
          authority: this.authority,
          detail: { consumer: id, leaf: target.leaf, generation, restarted: result.restarted },
        });
      }
      if (result.missing.length > 0) {
        this.#events.emit({
          type: 'consumer-restart-missing',
          authority: this.authority,
          detail: { consumer: id, missing: result.missing },
        });
      }
      return true;
    } catch (error) {
      const failure = this.#failed(target, error, 'publish');
      // A failed write leaves the copy as it was: unknown now, and certainly not the new leaf.
      this.#reads.set(id, { ok: false, failure });
      this.#staleCopies.add(id);
      return false;
    }
  }

  /** Records a per-target failure and emits it; anything else is not ours to swallow. */
  #failed(target: Consumer, error: unknown, action: ConsumerFailure['action']): ConsumerFailure {
    const failure = consumerFailure(target, error, action);
    if (failure === undefined) throw error;
    if (failure.kind === 'unavailable') this.#down.set(target.scope, failure);
    this.#failures.push(failure);
    this.#events.emit({ type: `consumer-${failure.kind}`, authority: this.authority, detail: { ...failure } });
    return failure;
  }
}
