/**
 * What the tick, status and plan observe of one authority, built in one place: the stored CAs,
 * the bundle and leaf secrets (lib/engine/world.ts) and every registered consumer, the store's own
 * secrets among them (lib/engine/consumers.ts), turned into the phase machine's observations; and the one way the
 * consumers holding the bundle are counted and named, so that status and a run's report agree.
 */
import type { AuthorityConfig } from '../config/index.js';
import { LostCaError, type StoredDataError } from '../errors.js';
import { bundleOf, holdsExactly, initialRotationState, liveGenerations, stageOf, statusLine, type Observations, type RotationState } from '../rotation/index.js';
import { AuthorityConsumers } from './consumers.js';
import type { EngineDeps } from './deps.js';
import { AuthorityWorld } from './world.js';

/** The consumers at the end of an observation, against the bundle its gate waits for. */
export interface ConsumerCounts {
  total: number;
  /** Consumers holding exactly the live generations of the bundle (expired CAs left out). */
  holding: number;
  unreadable: number;
  /** The ones not holding it, named for an operator (only when there are external consumers: Consumer.external). */
  laggards: string[];
  /** Every consumer that reads on its own (an EKS Secret, a trust store, a domain, an ACM certificate), by name, holding or not. */
  names: string[];
  /** What consumers reported against what they hold (API Gateway's truststore warnings), bounded and quoted. */
  findings: ReturnType<AuthorityConsumers['findings']>;
}

/** An authority's world and consumers, not read yet: the renew command reads only what it needs. */
export function authorityParts(deps: EngineDeps, authority: AuthorityConfig): { world: AuthorityWorld; consumers: AuthorityConsumers } {
  const name = authority.name;
  const world = new AuthorityWorld(deps.certificates, authority, deps.config.leaves.filter((leaf) => leaf.authority === name), deps.caKeys, deps.leafPageSize);
  const consumers = new AuthorityConsumers(name, deps.consumers(authority, { store: deps.certificates, reads: world }), deps.events);
  world.keepWhole(consumers.copiedLeaves);
  return { world, consumers };
}

export class AuthorityObservation {
  readonly world: AuthorityWorld;
  readonly consumers: AuthorityConsumers;
  readonly now: number;
  #full = false;

  constructor(parts: { world: AuthorityWorld; consumers: AuthorityConsumers }, now: number) {
    this.world = parts.world;
    this.consumers = parts.consumers;
    this.now = now;
  }

  /** True once every leaf secret was read: observations then count leaves and leaf consumers. */
  get full(): boolean {
    return this.#full;
  }

  /** Reads the bundle secret and every configured leaf secret (once). */
  async readEveryLeaf(): Promise<void> {
    this.#full = true;
    await this.world.readAll();
  }

  observations(): Observations {
    return this.consumers.observations(this.world.observations(this.#full), this.world, this.now, this.#full);
  }

  /**
   * Counts the consumers against the bundle of `state`'s stage, less the CAs that have expired
   * (they leave bundles); before bootstrap the gate waits for the first CA alone.
   */
  consumerCounts(state: RotationState, observations: Observations = this.observations()): ConsumerCounts {
    const bundle = stageOf(state) === 'bootstrap' ? (state.target === undefined ? [] : [state.target]) : bundleOf(state);
    const live = liveGenerations(bundle, observations, this.now);
    return {
      total: observations.consumers.length,
      holding: observations.consumers.filter((consumer) => holdsExactly(consumer, live)).length,
      unreadable: observations.consumers.filter((consumer) => consumer.holds === undefined).length,
      laggards: this.consumers.external ? this.consumers.laggards(observations, live) : [],
      names: this.consumers.externalNames,
      findings: this.consumers.findings(),
    };
  }

  /** The GKE-style line, with the consumers that lag named (the first five). */
  statusLine(state: RotationState, observations: Observations, counts: ConsumerCounts, options: { withCounts?: boolean } = {}): string {
    const line = statusLine(state, observations, this.world.authority.rotation, this.now, { counts: options.withCounts ?? this.#full });
    const { laggards } = counts;
    if (laggards.length === 0) return line;
    const shown = laggards.slice(0, 5).join(', ') + (laggards.length > 5 ? `, and ${laggards.length - 5} more` : '');
    return `${line}; consumers ${counts.holding}/${counts.total}: ${shown}`;
  }
}

/**
 * Reads what the phase machine needs to decide for `state`: the stored CAs (retired and abandoned
 * ones sign nothing and sit in no bundle: not read), every consumer that reads on its own, and
 * with `full` every leaf secret (the store's own consumers answer from those reads). A CA secret that cannot be read is left for the caller to report
 * (`world.unreadableCa`).
 */
export async function observeAuthority(deps: EngineDeps, authority: AuthorityConfig, state: RotationState, now: number, options: { full: boolean }): Promise<AuthorityObservation> {
  const observed = new AuthorityObservation(authorityParts(deps, authority), now);
  await observed.world.loadCas(new Set([...state.retired, ...state.abandoned]));
  if (!state.retired.includes(state.generation)) await observed.world.recoverLostCa(state.generation);
  // Consumers that read on their own (EKS) are read back on every run, Stable scans included: a cluster that
  // lost its bundle is noticed within the hour (ConsumersLagging). These are Kubernetes reads, not
  // AWS API calls, so the scan's AWS cost stays O(due).
  if (options.full) await observed.readEveryLeaf();
  else await observed.world.readCopiedLeaves();
  await observed.consumers.observe();
  return observed;
}

/** What the operator's status and plan read the leaves from. */
export type OperatorSource = 'inventory' | 'secrets';

/**
 * For the operator's status and plan: the stored state (the initial one before the first run) and
 * an observation. By default the leaves come from the inventory rows in DynamoDB (their issuing
 * generation and expiry, as the last run that wrote them recorded), so the cost is the stored CAs,
 * the consumers that read on their own and a query per authority, not a read of every leaf
 * secret; the consumers that are the store's own secrets (the bundle and each leaf's ca.crt) are
 * then not read back. `deep` reads every secret, as a reconcile does. A corrupted CA secret is the
 * authority's news: not "missing", which would send the operator looking for a deleted one.
 */
export async function observeForOperator(
  deps: EngineDeps,
  authority: AuthorityConfig,
  now: number,
  options: { deep?: boolean } = {},
): Promise<{ state: RotationState; observed: AuthorityObservation; observations: Observations; source: OperatorSource; leafExpiries: Array<{ what: string; notAfter: number }> }> {
  const state = (await deps.state.readState(authority.name))?.state ?? initialRotationState(authority.name, now);
  const deep = options.deep === true;
  const observed = await observeAuthority(deps, authority, state, now, { full: deep });
  const problem = caProblem(observed.world, state);
  if (problem?.blocking === true) throw problem.error;
  if (deep) {
    const leafExpiries = observed.world.records().flatMap((record) => (record.condition.notAfter === undefined ? [] : [{ what: `leaf ${record.spec.id}`, notAfter: record.condition.notAfter }]));
    return { state, observed, observations: observed.observations(), source: 'secrets', leafExpiries };
  }
  // Intent rows (written before a leaf is issued) describe no certificate: such a leaf counts as missing.
  const rows = new Map((await deps.state.readAllLeafRows(authority.name)).filter((row) => row.fingerprintSha256 !== '').map((row) => [row.id, row]));
  const leaves = observed.world.specs.map((spec) => ({ id: spec.id, generation: rows.get(spec.id)?.generation }));
  const leafExpiries = [...rows.values()].map((row) => ({ what: `leaf ${row.id}`, notAfter: row.notAfter }));
  return { state, observed, observations: { ...observed.observations(), leaves }, source: 'inventory', leafExpiries };
}

/**
 * The CA secret problem of an observation, if any, and whether it blocks (fails a run, answers an
 * operator's read with it). A lost CA being rotated away from, or just retired, does not: the
 * rotation is the way out, and it is only reported.
 */
export function caProblem(world: AuthorityWorld, state: RotationState): { error: StoredDataError; blocking: boolean } | undefined {
  const error = world.unreadableCa;
  if (error === undefined) return undefined;
  const rotatedAway = error instanceof LostCaError && (state.target !== undefined || state.retired.includes(error.generation));
  return { error, blocking: !rotatedAway };
}
