/**
 * The simulation behind `npm start`: the scheduled use cases the Lambdas run (lib/engine/scheduled.ts)
 * against the local endpoints, on a simulated clock, with real mutual-TLS traffic between the
 * workloads of each authority. Runs follow the production cadence (an hourly scan with a daily
 * reconcile; a five-minute advance of the authorities under way, by the advance's own rule); by default
 * the clock jumps to the next instant at which a run would act: the same history as every slot.
 * Jumping skips the runs that would find nothing to do: a scan when no leaf is due and no rotation
 * is under way or due, and a daily reconcile of such an authority unless something since its last
 * one could give it work (reconcile-gate.ts); `--every-slot` runs every one.
 */
import { X509Certificate, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { caKeyStoreOf, leafStoreOf, type CertrotateConfig } from '../config/index.js';
import { runCommand } from '../engine/commands.js';
import { fullHistory } from '../engine/history.js';
import { isUnderWay, runScheduled, type ScheduledKind } from '../engine/scheduled.js';
import type { AuthorityReport } from '../engine/tick.js';
import { withEksConsumers } from '../local/eks-clusters.js';
import { startLocalEnvironment, type LocalEnvironment } from '../local/environment.js';
import type { StoredLeaf } from '../ports.js';
import type { KeyAlgorithm } from '../pki/index.js';
import { renewAt } from '../renewal/index.js';
import type { RotationState, Transition } from '../rotation/index.js';
import { adoptFromOpenssl } from './adopt.js';
import { DroppingOldCaStore } from './broken.js';
import { AwsTrustSite, PROPAGATION_MS, TRUST_STORE, withAwsTrustTargets } from './aws-trust.js';
import type { AuthoritySummary, SimulationResult } from './result.js';
import { pairsOf, routesOf, type Pair } from './pairs.js';
import { withS3Leaves } from './leaf-store.js';
import { ReconcileGate } from './reconcile-gate.js';
import { Outage } from './outage.js';
import { Outstanding } from './outstanding.js';
import { writeSnapshot } from './snapshot.js';
import { demoConfig } from './inventory.js';
import { TrafficThreads, type ChainCheck } from './traffic.js';
import { drainWithProgress } from './progress.js';
import { DAY, HOUR, MINUTE, SIMULATION_START, forcedAtOf, hasMoreToDo, slotAtOrAfter } from './cadence.js';

export { SIMULATION_START } from './cadence.js';

export interface SimulationOptions {
  days: number;
  leaves: number;
  algorithm: KeyAlgorithm;
  seed: number;
  /** Day (from 0) at which an operator forces a rotation of the cluster authority. */
  forceRotationAt?: number;
  /** Tick at every slot of the cadence instead of jumping to the next instant that acts. */
  everySlot?: boolean;
  /** A deliberately broken deployment that drops the old CA from bundles early. */
  broken?: boolean;
  /** Write per-transition material snapshots here. */
  outDir?: string;
  caLifetimeDays?: number;
  /**
   * Two local EKS clusters as consumers of `cluster` (its bundle, and a leaf each). One of them is
   * unreachable for `outageHours` from the forced rotation on (outage.ts). Default: on, 24 hours.
   */
  clusters?: boolean;
  outageHours?: number;
  /** Adopt this authority from a CA and leaves made with openssl (adopt.ts) instead of bootstrapping it. */
  adoptCa?: string;
  onProgress?: (line: string) => void;
}

export type { AuthoritySummary, SimulationResult } from './result.js';

type Material = Map<string, StoredLeaf>;

const MAX_STEPS_PER_SLOT = 40;
/** Traffic verdicts a run lets be outstanding before it waits (outstanding.ts). */
const MAX_OUTSTANDING = 4096;
/** The first failures kept for the operator to read. */
const FAILURES_SHOWN = 20;

class Simulation {
  readonly #options: SimulationOptions;
  readonly #config: CertrotateConfig;
  readonly #env: LocalEnvironment;
  readonly #pairs: Pair[];
  readonly #traffic: TrafficThreads;
  /** Per pair, the leaf its handshakes are routed by: the less connected of its two (traffic.ts). */
  readonly #routes: Map<Pair, string>;
  /** Traffic results not yet back from the traffic thread. */
  readonly #outstanding = new Outstanding(MAX_OUTSTANDING);
  /** Failures numbered in the order they happened in simulated time, whenever their verdict came back. */
  readonly #failures: { order: number; text: string }[] = [];
  #order = 0;
  #trafficError: Error | undefined;
  readonly #material = new Map<string, Material>();
  readonly #states = new Map<string, RotationState>();
  readonly #waits = new Map<string, number | undefined>();
  readonly #caEnds = new Map<string, number>();
  readonly #notAfters = new Map<string, number>();
  readonly #earliestRenewals = new WeakMap<Material, number>();
  /** Per authority, the next slot at which a tick of it would act (jumping mode). */
  readonly #nextAction = new Map<string, number>();
  readonly #lastHandshake = new Map<Pair, string>();
  readonly #summary = new Map<string, AuthoritySummary>();
  readonly #snapshots = new Map<string, number>();
  readonly #reconciles = new ReconcileGate(
    (authority) => this.#states.get(authority),
    (authority, generation) => this.#caEnd(authority, generation),
  );
  ticks = 0;

  readonly #clock: { now: number };
  #outageReported = false;
  readonly #site: AwsTrustSite | undefined;
  readonly #outage: Outage | undefined;
  /** When the operator forces a rotation of `cluster` (and the outage begins): see forcedAt. */
  readonly #forcedAt: number | undefined;

  constructor(options: SimulationOptions, config: CertrotateConfig, env: LocalEnvironment, clock: { now: number }, traffic: TrafficThreads, site = env.awsTrust) {
    this.#clock = clock;
    this.#traffic = traffic;
    const forcedAt = options.forceRotationAt === undefined ? undefined : forcedAtOf(options.forceRotationAt);
    this.#forcedAt = forcedAt;
    const firstCluster = env.eks?.clusters[0]?.name;
    this.#outage =
      forcedAt === undefined || firstCluster === undefined || (options.outageHours ?? 24) <= 0
        ? undefined
        : new Outage(firstCluster, forcedAt, forcedAt + (options.outageHours ?? 24) * HOUR);
    this.#options = options;
    this.#config = config;
    this.#env = env;
    this.#pairs = pairsOf(config);
    this.#routes = routesOf(this.#pairs);
    for (const authority of config.authorities) {
      const name = authority.name;
      const counts = { caGenerations: 0, rotations: 0, scheduledRotations: 0, forcedRotations: 0, leavesRenewed: 0, handshakes: 0, failedHandshakes: 0, expiredServed: 0, failedDailyChecks: 0 };
      this.#summary.set(name, { name, adoptedCa: name === options.adoptCa, caKeyStore: caKeyStoreOf(authority), leafStore: leafStoreOf(authority), ...counts });
    }
    // Numbered when posted, as a pair's is: numbered when its verdict came back, a front's failure could be crowded out of the first shown.
    const failLater = (what: string, order = this.#order++) => (at: number) => this.#fail('cluster', `${new Date(at).toISOString()} ${what}: handshake failed`, order);
    this.#site = site === undefined ? undefined : new AwsTrustSite(site, traffic, failLater, this.#pairs.find((p) => p.authority === 'cluster')?.client ?? '');
  }

  #count(authority: string, field: 'leavesRenewed' | 'handshakes' | 'failedHandshakes' | 'expiredServed' | 'failedDailyChecks', by = 1): void {
    const summary = this.#summary.get(authority);
    if (summary !== undefined) summary[field] += by;
  }

  #fail(authority: string, message: string, order = this.#order++): void {
    this.#failures.push({ order, text: `${authority}: ${message}` });
    // Only the first few are shown: a broken run's thousands are not all kept.
    if (this.#failures.length > 50 * FAILURES_SHOWN) this.#failures.splice(0, Infinity, ...this.#firstFailures());
  }

  #firstFailures(): { order: number; text: string }[] {
    return [...this.#failures].sort((a, b) => a.order - b.order).slice(0, FAILURES_SHOWN);
  }

  /** Counts and records a traffic verdict when it comes back; `drain` waits for all of them. */
  #await(result: Promise<void>): void {
    this.#outstanding.track(
      result.catch((error: unknown) => {
        this.#trafficError ??= error instanceof Error ? error : new Error(String(error));
      }),
    );
  }

  /** Waits while more than MAX_OUTSTANDING traffic verdicts are out (outstanding.ts). */
  async keepPace(): Promise<void> {
    await this.#outstanding.belowLimit();
  }

  /** Waits for every traffic verdict (with progress); throws if the traffic thread failed (the run proved nothing). */
  async drain(): Promise<void> {
    await drainWithProgress(this.#outstanding.pending, this.#options.onProgress);
    if (this.#trafficError !== undefined) throw this.#trafficError;
  }

  /** Reads the authority's material: every leaf, or only the `renewed` ones into what was read before. */
  async #readMaterial(authority: string, renewed?: readonly string[]): Promise<void> {
    const known = renewed === undefined ? undefined : this.#material.get(authority);
    const ids = known !== undefined && renewed !== undefined ? renewed : this.#config.leaves.filter((leaf) => leaf.authority === authority).map((leaf) => leaf.id);
    const { leaves } = await this.#env.certificates.readLeaves(authority, ids);
    // A new map, never the old one changed: the snapshot of the material before this tick keeps it.
    // A leaf asked for and not read is gone from it, as from a whole read (its pairs then fail).
    const material = new Map(known);
    for (const id of ids) material.delete(id);
    for (const leaf of leaves) material.set(leaf.id, leaf);
    this.#material.set(authority, material);
  }

  /** A real handshake between a pair's workloads, judged at the simulated instant (on the traffic thread). */
  #handshake(pair: Pair, now: number): void {
    const material = this.#material.get(pair.authority);
    const server = material?.get(pair.server);
    const client = material?.get(pair.client);
    this.#count(pair.authority, 'handshakes');
    if (server === undefined || client === undefined) {
      this.#count(pair.authority, 'failedHandshakes');
      this.#fail(pair.authority, `${pair.client} -> ${pair.server}: a leaf secret is missing`);
      return;
    }
    this.#lastHandshake.set(pair, `${server.versionId ?? server.certificatePem}|${client.versionId ?? client.certificatePem}`);
    const order = this.#order++;
    this.#await(
      this.#traffic.handshake(server, client, now, this.#routes.get(pair)).then((result) => {
        if (result.ok) return;
        this.#count(pair.authority, 'failedHandshakes');
        this.#fail(pair.authority, `${new Date(now).toISOString()} ${pair.client} -> ${pair.server}: ${result.error}`, order);
      }),
    );
  }

  #handshakes(pairs: readonly Pair[], now: number): void {
    for (const pair of pairs) this.#handshake(pair, now);
  }

  /** Pairs of `authority` whose server or client read something new since their last handshake. */
  #changedPairs(authority: string): Pair[] {
    const material = this.#material.get(authority);
    return this.#pairs.filter((pair) => {
      if (pair.authority !== authority) return false;
      const server = material?.get(pair.server);
      const client = material?.get(pair.client);
      return this.#lastHandshake.get(pair) !== `${server?.versionId ?? server?.certificatePem}|${client?.versionId ?? client?.certificatePem}`;
    });
  }

  /** Every day: every pair's current material at that instant, even when nothing changed. */
  #dailyCheck(now: number): void {
    const checks = this.#pairs.flatMap((pair): (ChainCheck | undefined)[] => {
      const material = this.#material.get(pair.authority);
      const server = material?.get(pair.server);
      const client = material?.get(pair.client);
      if (server === undefined || client === undefined) return [undefined, undefined];
      return [
        { chainPem: server.certificatePem, bundlePem: client.bundlePem, purpose: 'serverAuth' },
        { chainPem: client.certificatePem, bundlePem: server.bundlePem, purpose: 'clientAuth' },
      ];
    });
    const order = this.#order++;
    this.#await(
      this.#traffic.dailyCheck(checks, now).then((failures) => {
        for (const { index, verdict } of failures) {
          const pair = this.#pairs[Math.floor(index / 2)];
          if (pair === undefined) continue;
          // A daily check is not a handshake: counted apart, so failed handshakes never exceed handshakes.
          this.#count(pair.authority, verdict.expired ? 'expiredServed' : 'failedDailyChecks');
          this.#fail(pair.authority, `${new Date(now).toISOString()} daily check ${pair.client} -> ${pair.server}: ${verdict.reason}`, order);
        }
      }),
    );
  }

  #snapshot(authority: string, transition: Transition, before: Material | undefined, after: Material | undefined): void {
    const dir = this.#options.outDir;
    const pair = this.#pairs.find((candidate) => candidate.authority === authority);
    if (dir === undefined || pair === undefined) return;
    const count = (this.#snapshots.get(authority) ?? 0) + 1;
    this.#snapshots.set(authority, count);
    writeSnapshot(join(dir, authority, `${String(count).padStart(2, '0')}-${transition.to}`), transition, pair, before, after);
  }

  /** A leaf's notAfter, parsed once per certificate. */
  #notAfter(certificatePem: string): number {
    let notAfter = this.#notAfters.get(certificatePem);
    if (notAfter === undefined) {
      notAfter = Date.parse(new X509Certificate(certificatePem).validTo);
      this.#notAfters.set(certificatePem, notAfter);
    }
    return notAfter;
  }

  /** When the first leaf of `material` is due for renewal; kept per material read (a read makes a new map). */
  #earliestRenewal(material: Material): number {
    let earliest = this.#earliestRenewals.get(material);
    if (earliest === undefined) {
      earliest = Number.POSITIVE_INFINITY;
      for (const leaf of material.values()) earliest = Math.min(earliest, renewAt(leaf.id, this.#notAfter(leaf.certificatePem), this.#config.renewal));
      this.#earliestRenewals.set(material, earliest);
    }
    return earliest;
  }

  async #caEnd(authority: string, generation: number): Promise<number | undefined> {
    const key = `${authority}/${generation}`;
    if (!this.#caEnds.has(key)) {
      const ca = await this.#env.certificates.readCa(authority, generation);
      if (ca !== undefined) this.#caEnds.set(key, Date.parse(new X509Certificate(ca.certificatePem).validTo));
    }
    return this.#caEnds.get(key);
  }

  /** The next instant at which some tick would act, on the production cadence's grid. */
  async nextInstant(now: number, end: number): Promise<number> {
    const dayBoundary = slotAtOrAfter(now + 1, now, DAY);
    if (this.#options.everySlot === true) {
      const rotating = [...this.#states.values()].some(isUnderWay);
      return Math.min(slotAtOrAfter(now + 1, now, rotating ? 5 * MINUTE : HOUR), dayBoundary);
    }
    const candidates = [dayBoundary, end + DAY];
    if (this.#forcedAt !== undefined && this.#forcedAt > now) candidates.push(this.#forcedAt);
    if (this.#outage !== undefined && this.#outage.until > now) candidates.push(this.#outage.until);
    for (const authority of this.#config.authorities) {
      const state = this.#states.get(authority.name);
      const rotating = isUnderWay(state);
      const step = rotating ? 5 * MINUTE : HOUR;
      const own: number[] = [];
      if (rotating) own.push(slotAtOrAfter(this.#outage?.blockedUntil(authority.name) ?? this.#waits.get(authority.name) ?? now + 1, now, step));
      else if (state !== undefined) {
        const caEnd = await this.#caEnd(authority.name, state.generation);
        if (caEnd !== undefined) own.push(slotAtOrAfter(caEnd - authority.rotation.rotationLeadMs, now, step));
      }
      const material = this.#material.get(authority.name);
      const renewal = material === undefined ? Number.POSITIVE_INFINITY : this.#earliestRenewal(material);
      // The slot at or after an instant only grows with it: the earliest renewal's slot is the earliest slot.
      if (Number.isFinite(renewal)) own.push(slotAtOrAfter(renewal, now, step));
      const next = Math.min(...own, Number.POSITIVE_INFINITY);
      this.#nextAction.set(authority.name, next);
      candidates.push(next);
    }
    return Math.min(...candidates);
  }

  /** One slot of the cadence: the forced rotation if due, the ticks, then the traffic. */
  async step(now: number, first: boolean): Promise<void> {
    // A traffic thread that failed proves nothing from here on: stop now, not after the last day.
    if (this.#trafficError !== undefined) throw this.#trafficError;
    this.#clock.now = now;
    const name = this.#config.authorities.map((authority) => authority.name);
    const outage = this.#outage;
    if (outage !== undefined && now === outage.from) {
      for (const authority of name) this.#reconciles.want(authority);
      // `reset`, not `refuse`: the cluster keeps its port, so no handshake server can take it meanwhile.
      await this.#env.eks?.goDown(outage.cluster, 'reset');
      this.#env.awsTrust?.down(TRUST_STORE);
      this.#options.onProgress?.(`${new Date(now).toISOString().slice(0, 16)} EKS cluster ${outage.cluster} becomes unreachable for ${(outage.until - outage.from) / HOUR}h`);
    }
    if (outage !== undefined && now === outage.until) {
      for (const authority of name) this.#reconciles.want(authority);
      await this.#env.eks?.comeBack(outage.cluster);
      this.#env.awsTrust?.up(TRUST_STORE);
      this.#options.onProgress?.(`${new Date(now).toISOString().slice(0, 16)} EKS cluster ${outage.cluster} is back`);
    }
    const onHour = (now - SIMULATION_START) % HOUR === 0;
    const onDay = (now - SIMULATION_START) % DAY === 0;
    const force = this.#options.forceRotationAt;
    if (force !== undefined && now === this.#forcedAt) {
      try {
        const state = await runCommand(this.#env.state, 'cluster', { kind: 'rotate-ca', requestId: `simulation-force-${force}`, reason: `forced by the simulation on day ${force}`, emergency: false }, now);
        this.#states.set('cluster', state);
        this.#options.onProgress?.(`day ${force}: operator forces a rotation of cluster`);
        const transition = state.history.at(-1);
        const material = this.#material.get('cluster');
        if (transition !== undefined) this.#snapshot('cluster', transition, material, material);
        this.#handshakes(this.#pairs.filter((pair) => pair.authority === 'cluster'), now);
      } catch (error) {
        this.#options.onProgress?.(`day ${force}: forced rotation refused: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    // Every slot: the hourly scan ticks every authority, the 5-minute advance those rotating.
    // Jumping: only the authorities with something to do now (a scan of the others would be a
    // no-op), and at the daily reconcile those too that the reconcile could give work.
    const due = (authority: string) =>
      (this.#nextAction.get(authority) ?? now) <= now || (isUnderWay(this.#states.get(authority)) && (this.#outage?.blockedUntil(authority) ?? now) <= now);
    const authorities =
      this.#options.everySlot === true
        ? onHour
          ? name
          : name.filter((authority) => isUnderWay(this.#states.get(authority)))
        : onDay
          ? await this.#reconciles.pick(name, due, now)
          : name.filter(due);
    if (authorities.length > 0) {
      const plain = this.#env.deps(this.#config);
      const deps = this.#options.broken === true ? { ...plain, certificates: new DroppingOldCaStore(plain.certificates), consumers: this.#site?.droppingOldCaTrustStores(plain.consumers) ?? plain.consumers } : plain;
      // One step per run, repeated at this instant while there is more to do: the same decisions
      // as one run of many steps, but each transition gets its own before/after material. The
      // rounds after the first go on with that run's authorities, as the Lambdas' tick would
      // within one invocation.
      let pending = authorities;
      for (let round = 0; pending.length > 0 && round < MAX_STEPS_PER_SLOT; round++) {
        const before = new Map(this.#material);
        const kind: ScheduledKind = round > 0 ? 'scan' : onDay ? 'reconcile' : onHour ? 'scan' : 'advance';
        const run = { kind, now, owner: randomUUID(), outOfTime: () => false, authorities: pending, maxSteps: 1, continuing: round > 0 };
        const result = await runScheduled(deps, run);
        const failed = result.authorities.find((outcome) => outcome.error !== undefined);
        if (failed !== undefined) throw failed.error;
        for (const report of result.reports) await this.#afterTick(report, before.get(report.authority), now, first);
        pending = result.reports.filter(hasMoreToDo).map((report) => report.authority);
      }
      this.ticks++;
      if (first) this.#handshakes(this.#pairs, now);
    }
    for (const verdict of (await this.#site?.check(this.#material.get('cluster')?.get(this.#site.clientId), now, first)) ?? []) this.#await(verdict);
    if (onDay) this.#dailyCheck(now);
  }

  async #afterTick(report: AuthorityReport, before: Material | undefined, now: number, first: boolean): Promise<void> {
    const authority = report.authority;
    if (report.transitions.length > 0 || report.consumers.failures.length > 0) this.#reconciles.want(authority);
    if (report.state !== undefined) this.#states.set(authority, report.state);
    if (authority === 'cluster' && report.transitions.length > 0) this.#site?.transitioned();
    const last = report.steps.at(-1);
    this.#waits.set(authority, last?.kind === 'wait' ? last.until : undefined);
    this.#outage?.observe(report, now);
    // A rotation step can change every leaf's secret (bundles, reissues); a renewal only its own.
    const rotated = first || report.transitions.length > 0 || report.steps.some((step) => step.kind !== 'none' && step.kind !== 'wait');
    if (!first) {
      const reissued = report.steps.reduce((sum, step) => sum + (step.kind === 'reissue-leaves' ? step.leafIds.length : 0), 0);
      this.#count(authority, 'leavesRenewed', report.renewed.length + reissued);
    }
    if (rotated || !this.#material.has(authority)) await this.#readMaterial(authority);
    else if (report.renewed.length > 0) await this.#readMaterial(authority, report.renewed.map((leaf) => leaf.id));
    for (const transition of report.transitions) this.#snapshot(authority, transition, before, this.#material.get(authority));
    const outage = this.#outage;
    const namesOutage = outage !== undefined && outage.covers(now) && report.status.includes(outage.cluster);
    if (report.transitions.length > 0 || (namesOutage && !this.#outageReported)) {
      this.#options.onProgress?.(`${new Date(now).toISOString().slice(0, 16)} ${report.status}`);
      this.#outageReported ||= namesOutage;
    }
    // Workloads start once the first slot has issued their material (see step).
    if (first) return;
    // Every pair at a phase transition; otherwise the pairs whose material changed.
    const pairs = report.transitions.length > 0 ? this.#pairs.filter((pair) => pair.authority === authority) : this.#changedPairs(authority);
    this.#handshakes(pairs, now);
  }

  /** The summary; call after `drain`, once every verdict is back. */
  async finish(): Promise<SimulationResult> {
    const history: Record<string, Transition[]> = {};
    for (const [authority, state] of this.#states) {
      const transitions = await fullHistory(this.#env.state, authority, state);
      history[authority] = transitions;
      const summary = this.#summary.get(authority);
      if (summary === undefined) continue;
      const starts = transitions.filter((transition) => transition.from === 'Stable' && transition.to === 'Prepared');
      summary.caGenerations = state.highestGeneration;
      summary.scheduledRotations = starts.filter((transition) => transition.by.kind === 'schedule').length;
      summary.forcedRotations = starts.length - summary.scheduledRotations;
      summary.rotations = starts.length;
    }
    const authorities = [...this.#summary.values()];
    const sum = (field: 'rotations' | 'leavesRenewed' | 'handshakes' | 'failedHandshakes' | 'expiredServed' | 'failedDailyChecks') =>
      authorities.reduce((total, summary) => total + summary[field], 0);
    return {
      days: this.#options.days,
      seed: this.#options.seed,
      authorities,
      totals: {
        rotations: sum('rotations'),
        ...{ leavesRenewed: sum('leavesRenewed'), handshakes: sum('handshakes'), failedHandshakes: sum('failedHandshakes') },
        ...{ expiredServed: sum('expiredServed'), failedDailyChecks: sum('failedDailyChecks') },
      },
      history,
      failures: this.#firstFailures().map((failure) => failure.text),
      ticks: this.ticks,
      ...(this.#site === undefined ? {} : { consumers: this.#site.counts }),
    };
  }
}

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const demo = withS3Leaves(demoConfig({ leaves: options.leaves, algorithm: options.algorithm, seed: options.seed, caLifetimeDays: options.caLifetimeDays ?? 180 }));
  const clock = { now: SIMULATION_START };
  // An unreachable cluster is retried on the next tick, not within one (a simulated day of outage must not cost real
  // backoff); DescribeCluster is asked once per run, as a warm Lambda would within its cache time (the clusters never change).
  const env = await startLocalEnvironment({
    leafBucket: { config: demo },
    ...(options.clusters === false
      ? {}
      : { eksClusters: { now: () => clock.now, publisher: { attempts: 1, baseDelayMs: 0, clusterInfoTtlMs: (options.days + 1) * DAY } }, awsTrust: { now: () => clock.now } }),
  });
  let traffic: TrafficThreads | undefined;
  try {
    traffic = new TrafficThreads();
    // The bundle of `cluster` in every local cluster, and one leaf copy in each.
    const withEks = env.eks === undefined ? demo : withEksConsumers(demo, 'cluster', env.eks.consumerEntries('cluster', ['kube-apiserver', 'kubelet-node-1']));
    const config = env.awsTrust === undefined ? withEks : withAwsTrustTargets(withEks);
    await env.awsTrust?.provision(config);
    if (options.adoptCa !== undefined) await adoptFromOpenssl(env, config, options.adoptCa, SIMULATION_START, options.seed, options.onProgress);
    const simulation = new Simulation(options, config, env, clock, traffic);
    const end = SIMULATION_START + options.days * DAY;
    let now = SIMULATION_START;
    await simulation.step(now, true);
    env.awsTrust?.setPropagationMs(PROPAGATION_MS); // after the bootstrap, which waits for every consumer to hold [1]
    let lastProgressDay = 0;
    for (;;) {
      now = await simulation.nextInstant(now, end);
      if (now > end) break;
      await simulation.step(now, false);
      await simulation.keepPace();
      const day = Math.floor((now - SIMULATION_START) / DAY);
      if (day >= lastProgressDay + 50) {
        lastProgressDay = day;
        options.onProgress?.(`day ${day}/${options.days}`);
      }
    }
    await simulation.drain();
    return await simulation.finish();
  } finally {
    await Promise.all([env.stop(), traffic?.stop()]);
  }
}
