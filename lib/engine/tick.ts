/**
 * The tick: for each authority, look at what is stored, let the phase machine decide the next
 * safe step, perform it, record the state with a conditional write, and repeat until the machine
 * waits; then renew the leaves that are due. The same code runs in the Lambdas, the local run and
 * the tests; time, the lease owner and the time budget are inputs.
 *
 * With a publisher, the authority's EKS targets are consumers too (lib/engine/consumers.ts): read
 * back before deciding, written by publish-bundle, given each leaf as it is (re)written. A cluster
 * that is down or refuses is recorded and emitted, and only this authority's gates wait for it.
 */
import type { AuthorityConfig, CertrotateConfig, LeafSpec } from '../config/index.js';
import { ConflictError } from '../errors.js';
import type { CertificateStore, ConsumerPublisher, EventSink, LeafInventoryRow, StateStore, VersionedState } from '../ports.js';
import { generateCa } from '../pki/index.js';
import { dueLeaves, renewAt, type DueLeaf } from '../renewal/index.js';
import {
  bundleOf,
  decide,
  holdsExactly,
  initialRotationState,
  liveGenerations,
  signerOf,
  stageOf,
  statusLine,
  type Actor,
  type Observations,
  type RotationState,
  type Step,
  type Transition,
} from '../rotation/index.js';
import { forEachConcurrent } from './concurrency.js';
import { AuthorityConsumers, type ConsumerFailure } from './consumers.js';
import { writeRotationState, type HistoryBudget } from './history.js';
import { AuthorityWorld, BUNDLE_CONSUMER, type LeafRecord } from './world.js';

export interface EngineDeps {
  certificates: CertificateStore;
  state: StateStore<RotationState>;
  events: EventSink;
  config: CertrotateConfig;
  /** Secret writes in flight at once; the store's write limiter still caps the rate. */
  writeConcurrency?: number;
  /** Publishes to the consumers outside the store (EKS); without it, EKS targets are not observed. */
  publisher?: ConsumerPublisher;
  /** How much audit history the state item holds before old entries move to the archive. */
  historyBudget?: HistoryBudget;
}

export interface TickOptions {
  now: number;
  /** Who holds the lease: unique per invocation (a Lambda request id). */
  owner: string;
  /** `scan` reads only due inventory rows; `reconcile` reads every leaf and repairs the inventory. */
  mode: 'scan' | 'reconcile';
  authorities?: readonly string[];
  /** Checked between steps: true when the time budget is spent; what is left waits for the next run. */
  outOfTime?: () => boolean;
  maxSteps?: number;
  leaseMs?: number;
}

export interface AuthorityReport {
  authority: string;
  /** Why nothing was done (another run holds the lease). */
  skipped?: string;
  steps: Step[];
  transitions: Transition[];
  renewed: DueLeaf[];
  state: RotationState | undefined;
  status: string;
  /**
   * How long the current gate has waited to be met: since the phase began, while its gate
   * (consumers holding the bundle, leaves migrated) is not met yet; 0 once it is met (soaking), in
   * Stable, and when paused.
   */
  gateWaitMs: number;
  /** The consumers observed at the end of the tick, and the ones not holding the bundle, named. */
  consumers: { total: number; holding: number; laggards: string[]; failures: ConsumerFailure[] };
}

/** How long the current gate has waited (see AuthorityReport.gateWaitMs). */
export function gateWaitMs(state: RotationState, now: number): number {
  if (state.paused || stageOf(state) === 'stable' || state.gateMetAt !== undefined) return 0;
  return Math.max(0, now - state.phaseSince);
}

const DEFAULT_MAX_STEPS = 25;
const DEFAULT_LEASE_MS = 15 * 60 * 1000;

/** Runs one tick over the configured authorities, one after the other. */
export async function tick(deps: EngineDeps, options: TickOptions): Promise<AuthorityReport[]> {
  const wanted = options.authorities === undefined ? undefined : new Set(options.authorities);
  const reports: AuthorityReport[] = [];
  for (const authority of deps.config.authorities) {
    if (wanted !== undefined && !wanted.has(authority.name)) continue;
    reports.push(await tickAuthority(deps, authority, options));
  }
  return reports;
}

async function readState(deps: EngineDeps, authority: string, now: number): Promise<VersionedState<RotationState> | { state: RotationState; version: undefined }> {
  return (await deps.state.readState(authority)) ?? { state: initialRotationState(authority, now), version: undefined };
}

/** In Stable with nothing due, only the CAs matter: skip reading every leaf (a scan stays O(due)). */
function needsEveryLeaf(state: RotationState, world: AuthorityWorld, now: number): boolean {
  if (stageOf(state) !== 'stable' || state.paused) return stageOf(state) !== 'stable';
  const published = state.lastPublish?.generations;
  if (published?.length !== 1 || published[0] !== state.generation) return true;
  const current = world.observations(false).caGenerations.find((ca) => ca.generation === state.generation);
  return current === undefined || now >= current.notAfter - world.authority.rotation.rotationLeadMs;
}

async function tickAuthority(deps: EngineDeps, authority: AuthorityConfig, options: TickOptions): Promise<AuthorityReport> {
  const { now, owner } = options;
  const name = authority.name;
  if (!(await deps.state.acquireLease(name, owner, now, options.leaseMs ?? DEFAULT_LEASE_MS))) {
    return {
      authority: name,
      skipped: 'another run holds the lease',
      steps: [],
      transitions: [],
      renewed: [],
      state: undefined,
      status: `${name}: busy (another run holds the lease)`,
      gateWaitMs: 0,
      consumers: { total: 0, holding: 0, laggards: [], failures: [] },
    };
  }
  try {
    const world = new AuthorityWorld(deps.certificates, authority, deps.config.leaves.filter((leaf) => leaf.authority === name));
    const consumers = new AuthorityConsumers(name, authority.consumers?.eks ?? [], deps.publisher, deps.events);
    let record = await readState(deps, name, now);
    await world.loadCas(new Set([...record.state.retired, ...record.state.abandoned]));
    // EKS consumers are read back on every run, Stable scans included: a cluster that lost its
    // bundle is noticed within the hour (ConsumersLagging). These are Kubernetes reads, not AWS
    // API calls, so the scan's AWS cost stays O(due).
    await consumers.observe();
    /** The entries this run recorded, collected per write: a later write may archive them. */
    const transitions: Transition[] = [];
    const steps: Step[] = [];
    const actor: Actor = { kind: 'schedule' };
    let full = options.mode === 'reconcile';
    const observe = (): Observations => consumers.observations(world.observations(full), world, now, full);
    const outOfTime = options.outOfTime ?? (() => false);
    // A step that fails (a CA secret deleted by hand, say) must not stop the renewals below: the
    // leaves of the signer would expire behind a rotation that cannot move. The failure is thrown
    // once they are done.
    let stepFailure: { error: unknown } | undefined;
    try {
      for (let i = 0; i < (options.maxSteps ?? DEFAULT_MAX_STEPS) && !outOfTime(); i++) {
        full ||= needsEveryLeaf(record.state, world, now);
        if (full) await world.readAll();
        const decision = decide(record.state, observe(), authority.rotation, now, actor);
        const performed = await perform(deps, world, consumers, decision.step, decision.state, now, outOfTime);
        // Cut short by the time budget: record nothing; the next run observes what was done.
        if (!performed.complete) break;
        if (JSON.stringify(decision.state) !== JSON.stringify(record.state)) {
          try {
            const written = await writeRotationState(deps.state, name, decision.state, record, deps.historyBudget);
            transitions.push(...decision.state.history.slice(record.state.history.length));
            record = written;
          } catch (error) {
            if (!(error instanceof ConflictError)) throw error;
            // A command (or a run whose lease expired) wrote first: decide again from what is stored.
            record = await readState(deps, name, now);
            continue;
          }
        }
        if (decision.step.kind !== 'wait' || decision.step.until === undefined || decision.step.until > now) {
          steps.push(decision.step);
          if (decision.step.kind === 'none' || decision.step.kind === 'wait') break;
        }
        // Nothing could be written (the consumers it needed are down): the same step would come
        // back at once; the next run tries again.
        if (performed.stalled === true) break;
      }
    } catch (error) {
      stepFailure = { error };
    }
    const unreadableCa = world.unreadableCa;
    if (stepFailure === undefined && unreadableCa !== undefined) stepFailure = { error: unreadableCa };
    const renewed = await renewAfter(
      stepFailure,
      () => renew(deps, world, consumers, record.state, options),
      (error) => deps.events.emit({ type: 'renewal-failed', authority: name, detail: { error: error instanceof Error ? error.message : String(error) } }),
    );
    if (options.mode === 'reconcile') await repairInventory(deps, world);
    await consumers.syncLeafCopies(world, deps.certificates, full);
    const observations = observe();
    // Before bootstrap the gate waits for the first CA alone.
    const bundle = stageOf(record.state) === 'bootstrap' ? (record.state.target === undefined ? [] : [record.state.target]) : bundleOf(record.state);
    const live = liveGenerations(bundle, observations, now);
    const holding = observations.consumers.filter((consumer) => holdsExactly(consumer, live)).length;
    const laggards = consumers.active ? consumers.laggards(observations, live) : [];
    let status = statusLine(record.state, observations, authority.rotation, now, { counts: full });
    if (laggards.length > 0) {
      const shown = laggards.slice(0, 5).join(', ') + (laggards.length > 5 ? `, and ${laggards.length - 5} more` : '');
      status += `; consumers ${holding}/${observations.consumers.length}: ${shown}`;
    }
    return {
      authority: name,
      steps,
      transitions,
      renewed,
      state: record.state,
      status,
      gateWaitMs: gateWaitMs(record.state, now),
      consumers: { total: observations.consumers.length, holding, laggards, failures: consumers.failures() },
    };
  } finally {
    await deps.state.releaseLease(name, owner);
  }
}

function inventoryRow(authority: string, record: LeafRecord, policy: CertrotateConfig['renewal']): LeafInventoryRow | undefined {
  const { condition } = record;
  const { notAfter, generation } = condition;
  const { serialHex, fingerprintSha256 } = record;
  if (notAfter === undefined || generation === undefined || serialHex === undefined || fingerprintSha256 === undefined) return undefined;
  return { authority, id: condition.id, renewAt: renewAt(condition.id, notAfter, policy), notAfter, generation, serialHex, fingerprintSha256 };
}

/**
 * Issues each leaf from `generation` with `bundlePem` as its ca.crt, writes it, pushes its EKS
 * copies, and indexes it: the one path every reissue takes (rotation, renewal, the renew command).
 */
export async function reissueLeaves(
  deps: EngineDeps,
  world: AuthorityWorld,
  consumers: AuthorityConsumers,
  ids: readonly string[],
  generation: number,
  bundlePem: string,
  now: number,
  outOfTime: () => boolean,
): Promise<{ complete: boolean; reissued: string[] }> {
  const issuer = world.issuerFor(generation);
  const name = world.authority.name;
  // A leaf with no secret may have no inventory row either: were the run to die between writing
  // its secret and its row, no hourly scan would find it. An intent row, due now, comes first;
  // the next scan reads the leaf behind it and puts the true row in its place.
  const unindexed = ids.filter((id) => world.leaf(id)?.stored === undefined);
  await deps.state.putLeafRows(unindexed.map((id) => intentRow(name, id, now)));
  const rows: LeafInventoryRow[] = [];
  const reissued: string[] = [];
  const result = await forEachConcurrent(ids, deps.writeConcurrency ?? 8, async (id) => {
    const spec = world.spec(id);
    if (spec === undefined) return;
    const issued = await issuer.issueLeaf(leafRequest(spec), now);
    const previous = world.leaf(id)?.stored;
    const stored = { authority: name, id, certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem, bundlePem };
    await deps.certificates.writeLeaf(stored, previous?.versionId);
    reissued.push(id);
    const facts = { generation, notAfter: issued.notAfter, serialHex: issued.serialHex, fingerprintSha256: issued.fingerprintSha256 };
    const row = inventoryRow(name, world.wroteLeaf(spec, stored, facts), deps.config.renewal);
    if (row !== undefined) rows.push(row);
    await consumers.pushLeaf(stored, generation);
  }, outOfTime);
  await deps.state.putLeafRows(rows);
  return { ...result, reissued };
}

/** A row that says only "look at this leaf at the next scan"; its other facts are never trusted. */
function intentRow(authority: string, id: string, now: number): LeafInventoryRow {
  return { authority, id, renewAt: now, notAfter: now, generation: 0, serialHex: '', fingerprintSha256: '' };
}

/** True for a row written before its leaf was issued: it describes no certificate. */
export function isIntentRow(row: LeafInventoryRow): boolean {
  return row.fingerprintSha256 === '';
}

function leafRequest(spec: LeafSpec) {
  return {
    subject: spec.subject,
    dnsNames: spec.dnsNames,
    ipAddresses: spec.ipAddresses,
    uris: spec.uris,
    usage: spec.usage,
    lifetimeMs: spec.lifetimeMs,
    algorithm: spec.algorithm,
  };
}

/**
 * Carries out one step; `complete` is false when the time budget ran out part-way, `stalled` true
 * when nothing could be written because the consumers it needed are unavailable.
 */
async function perform(
  deps: EngineDeps,
  world: AuthorityWorld,
  consumers: AuthorityConsumers,
  step: Step,
  next: RotationState,
  now: number,
  outOfTime: () => boolean,
): Promise<{ complete: boolean; stalled?: boolean }> {
  const name = world.authority.name;
  switch (step.kind) {
    case 'generate-ca': {
      const ca = await generateCa({ authority: name, generation: step.generation, algorithm: world.authority.algorithm, now, lifetimeMs: world.authority.rotation.caLifetimeMs });
      const stored = await deps.certificates.createCa({ authority: name, generation: step.generation, certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem });
      world.addCa(stored);
      deps.events.emit({ type: 'ca-generated', authority: name, detail: { generation: step.generation } });
      return { complete: true };
    }
    case 'publish-bundle': {
      const bundlePem = world.bundlePem(step.generations, now);
      world.assertKeepsTrust(step.generations, bundlePem, now);
      const published = await forEachConcurrent(step.consumers, deps.writeConcurrency ?? 8, async (consumer) => {
        if (consumer === BUNDLE_CONSUMER) {
          await deps.certificates.writeBundle(name, bundlePem);
          world.wroteBundle(step.generations, bundlePem);
          return;
        }
        if (consumers.isEksConsumer(consumer)) {
          // A failure is recorded and emitted; the consumer lags and its gate waits.
          await consumers.publishBundle(consumer, world, step.generations, bundlePem);
          return;
        }
        const record = world.leafOfConsumer(consumer);
        // A missing or unreadable leaf gets the bundle when it is reissued; one that already holds
        // it (a run cut short, or a crash) needs no write.
        if (record?.stored === undefined || record.stored.bundlePem === bundlePem) return;
        const stored = { ...record.stored, bundlePem };
        await deps.certificates.writeLeaf(stored, record.stored.versionId);
        world.wroteLeafBundle(record, stored);
      }, outOfTime);
      if (published.complete) {
        deps.events.emit({ type: 'bundle-published', authority: name, detail: { generations: step.generations, consumers: step.consumers.length } });
      }
      return published;
    }
    case 'reissue-leaves': {
      // A leaf whose secret is already from this generation is asked for only because a copy of
      // it (an EKS leaf target) still holds another leaf: the copies get the secret, nothing is issued.
      const copyOnly = step.leafIds.filter((id) => {
        const record = world.leaf(id);
        return record?.stored !== undefined && record.condition.generation === step.generation && consumers.hasCopies(id);
      });
      let failedCopies = 0;
      for (const id of copyOnly) {
        const stored = world.leaf(id)?.stored;
        if (stored !== undefined) failedCopies += await consumers.pushLeaf(stored, step.generation);
      }
      const toIssue = step.leafIds.filter((id) => !copyOnly.includes(id));
      const reissued = await reissueLeaves(deps, world, consumers, toIssue, step.generation, world.bundlePem(bundleOf(next), now), now, outOfTime);
      if (reissued.complete && toIssue.length > 0) {
        deps.events.emit({ type: 'leaves-reissued', authority: name, detail: { generation: step.generation, count: toIssue.length } });
      }
      return { ...reissued, stalled: toIssue.length === 0 && failedCopies > 0 };
    }
    case 'retire-ca':
      // The CA secret stays for audit; it is in no bundle and signs nothing from now on.
      deps.events.emit({ type: 'ca-retired', authority: name, detail: { generation: step.generation } });
      return { complete: true };
    case 'wait':
    case 'none':
      return { complete: true };
  }
}

/** Renews what is due: every leaf read this tick, or in a scan the leaves the inventory says are due. */
async function renew(deps: EngineDeps, world: AuthorityWorld, consumers: AuthorityConsumers, state: RotationState, options: TickOptions): Promise<DueLeaf[]> {
  const signer = signerOf(state);
  if (signer === undefined) return [];
  const name = world.authority.name;
  let records = world.records();
  const scanned = records.length === 0;
  if (scanned) {
    const rows = await deps.state.readDueLeafRows(name, options.now);
    const known = new Set(world.specs.map((spec) => spec.id));
    for (const row of rows.filter((candidate) => !known.has(candidate.id))) await deps.state.deleteLeafRow(name, row.id);
    records = await world.readLeaves(rows.map((row) => row.id));
  }
  const trusted = bundleOf(state);
  const due = dueLeaves(records.map((record) => record.condition), trusted, deps.config.renewal, options.now);
  if (scanned) {
    // A due row whose leaf is not due is stale (an intent row, or a run that died before writing
    // the row of a leaf it reissued): put the leaf's true row in its place, so it is not read again
    // every hour until the daily reconcile.
    const dueIds = new Set(due.map((leaf) => leaf.id));
    const corrected = records.filter((record) => !dueIds.has(record.spec.id)).map((record) => inventoryRow(name, record, deps.config.renewal));
    await deps.state.putLeafRows(corrected.filter((row) => row !== undefined));
  }
  if (due.length === 0) return [];
  // An expired signer issues nothing: the rotation under way (one starts when the CA nears its
  // expiry) reissues every leaf from the next CA, so this is reported, not failed, every run.
  if (world.caExpired(signer, options.now)) {
    deps.events.emit({ type: 'renewal-blocked', authority: name, detail: { leaves: due.length, reason: `CA ${signer} has expired; its leaves are reissued from the next CA by the rotation` } });
    return [];
  }
  // A leaf is reissued from the signer only if the published bundle trusts the signer. When it
  // does not, the state and the store disagree (a CA secret replaced, a state restored from an old
  // backup): reissuing would strand the leaf, or bring back a retired CA.
  if (await world.bundleDistrusts(signer)) {
    for (const leaf of due) {
      deps.events.emit({ type: 'leaf-problem', authority: name, detail: { leaf: leaf.id, problem: `${leaf.reason}; not reissued: the published bundle does not trust CA ${signer}` } });
    }
    return [];
  }
  const ids = due.map((leaf) => leaf.id);
  const outOfTime = options.outOfTime ?? (() => false);
  const reissued: string[] = [];
  if (world.hasCas(trusted)) {
    reissued.push(...(await reissueLeaves(deps, world, consumers, ids, signer, world.bundlePem(trusted, options.now), options.now, outOfTime)).reissued);
  } else {
    // A CA of the bundle is gone from the store (deleted by hand; the rotation step says so). Each
    // leaf is renewed keeping the trust its workload already reads, so it does not expire behind a
    // rotation that cannot move; a leaf with no secret to take that trust from waits.
    const byBundle = new Map<string, string[]>();
    for (const id of ids) {
      const bundlePem = world.leaf(id)?.stored?.bundlePem;
      if (bundlePem === undefined) continue;
      const group = byBundle.get(bundlePem);
      if (group === undefined) byBundle.set(bundlePem, [id]);
      else group.push(id);
    }
    for (const [bundlePem, group] of byBundle) {
      reissued.push(...(await reissueLeaves(deps, world, consumers, group, signer, bundlePem, options.now, outOfTime)).reissued);
    }
  }
  // Out of time, only some were reissued; the rest stay due for the next run.
  const done = new Set(reissued);
  const renewed = due.filter((leaf) => done.has(leaf.id));
  for (const leaf of renewed.filter((candidate) => candidate.reason !== 'expiring')) {
    deps.events.emit({ type: 'leaf-problem', authority: name, detail: { leaf: leaf.id, problem: leaf.reason } });
  }
  if (renewed.length > 0) deps.events.emit({ type: 'leaves-renewed', authority: name, detail: { count: renewed.length } });
  return renewed;
}

/**
 * Runs the renewals, then throws the step's failure if there was one. That failure stays the one
 * thrown (its type tells the handler what happened); a renewal that fails too is reported as an event.
 */
async function renewAfter(
  stepFailure: { error: unknown } | undefined,
  renewDue: () => Promise<DueLeaf[]>,
  report: (renewalError: unknown) => void,
): Promise<DueLeaf[]> {
  if (stepFailure === undefined) return renewDue();
  try {
    await renewDue();
  } catch (renewalError) {
    report(renewalError);
  }
  throw stepFailure.error;
}

/** Reconcile: make the inventory match the leaf secrets, and forget leaves no longer configured. */
async function repairInventory(deps: EngineDeps, world: AuthorityWorld): Promise<void> {
  const name = world.authority.name;
  const existing = new Map((await deps.state.readAllLeafRows(name)).map((row) => [row.id, row]));
  const wanted: LeafInventoryRow[] = [];
  for (const record of world.records()) {
    const row = inventoryRow(name, record, deps.config.renewal);
    const stored = row === undefined ? undefined : existing.get(row.id);
    if (row !== undefined && (stored === undefined || stored.fingerprintSha256 !== row.fingerprintSha256 || stored.renewAt !== row.renewAt)) {
      wanted.push(row);
    }
  }
  await deps.state.putLeafRows(wanted);
  const known = new Set(world.specs.map((spec) => spec.id));
  for (const id of existing.keys()) if (!known.has(id)) await deps.state.deleteLeafRow(name, id);
}
