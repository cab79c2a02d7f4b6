/**
 * The `status` and `plan` commands: read the world as the next run would observe it
 * (lib/engine/observe.ts), decide nothing, write nothing.
 */
import type { AuthorityConfig } from '../config/index.js';
import { bundleOf, describePhase, migrationPace, plan, signerOf, stageOf, type Step } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { daysUntil, earliestExpiry } from './expiry.js';
import { historyEntry, iso, type HistoryEntry } from './history.js';
import { observeForOperator, type ConsumerCounts, type OperatorSource } from './observe.js';
import { plannedWrites, type PlannedWrite } from './planned-writes.js';
import { gateWaitMs } from './tick.js';

export interface Expiry {
  /** What expires: `leaf <id>` or `CA <generation>`. */
  what: string;
  notAfter: string;
  days: number;
}

export interface AuthorityStatus {
  authority: string;
  /** The GKE-style one-liner. */
  status: string;
  generation: number;
  phase: string;
  stage: string;
  phaseSince: string;
  paused: boolean;
  emergency: boolean;
  rollingBack: boolean;
  target: number | null;
  signer: number | null;
  bundle: number[];
  leaves: { total: number; fromSigner: number; missingOrUnreadable: number };
  consumers: { total: number; holdingBundle: number; unreadable: number; laggards: string[]; names: string[]; findings: ConsumerCounts['findings'] };
  earliestExpiry: Expiry | null;
  /** Hours the current gate has waited (0 when Stable, paused, or the gate is met and only the soak runs). */
  gateWaitHours: number;
  next: string;
  recentHistory: HistoryEntry[];
  /**
   * `inventory`: leaves as DynamoDB's inventory rows record them, consumers that read on their own
   * (not the bundle and leaf secrets); `secrets`: every secret read (`deep`).
   */
  source: OperatorSource;
  /**
   * `deep` only, after a change of leafStore: leaves whose old copy in the other store is left
   * behind (never written again, so it will expire); the first 20 ids.
   */
  staleCopies?: { store: string; count: number; ids: string[] };
}

/** `deep`: read every leaf secret and the bundle (O(leaves)) instead of the inventory rows. */
export interface OperatorReadOptions {
  deep?: boolean;
}

/**
 * The authority's state, CAs and leaf inventory (O(authorities), a query per authority); with
 * `deep`, every secret of the authority (CAs, bundle, leaves) and every consumer: O(leaves).
 */
export async function authorityStatus(deps: EngineDeps, authority: AuthorityConfig, now: number, options: OperatorReadOptions = {}): Promise<AuthorityStatus> {
  const { state, observed, observations, source, leafExpiries } = await observeForOperator(deps, authority, now, options);
  const counts = observed.consumerCounts(state, observations);
  const signer = signerOf(state);
  const leaves = {
    total: observations.leaves.length,
    fromSigner: observations.leaves.filter((leaf) => leaf.generation !== undefined && leaf.generation === signer).length,
    missingOrUnreadable: observations.leaves.filter((leaf) => leaf.generation === undefined).length,
  };
  const earliest = earliestExpiry(state, leafExpiries, observations.caGenerations);
  const stale = options.deep === true ? await staleCopiesOf(deps, authority.name) : undefined;
  return {
    authority: authority.name,
    status: source === 'secrets' ? observed.statusLine(state, observations, counts) + staleCopiesNote(stale) : inventoryLine(observed.statusLine(state, observations, counts, { withCounts: false }), signer, leaves, counts, migrationPace(state, leaves.fromSigner, leaves.total, now)),
    generation: state.generation,
    phase: describePhase(state),
    stage: stageOf(state),
    phaseSince: iso(state.phaseSince),
    paused: state.paused,
    emergency: state.emergency,
    rollingBack: state.rollingBack,
    target: state.target ?? null,
    signer: signer ?? null,
    bundle: bundleOf(state),
    leaves,
    consumers: { total: counts.total, holdingBundle: counts.holding, unreadable: counts.unreadable, laggards: counts.laggards, names: counts.names, findings: counts.findings },
    earliestExpiry: earliest === undefined ? null : { what: earliest.what, notAfter: iso(earliest.notAfter), days: daysUntil(earliest.notAfter, now) },
    gateWaitHours: Math.round((gateWaitMs(state, now) / 3_600_000) * 100) / 100,
    next: plan(state, observations, authority.rotation, now).description,
    recentHistory: state.history.slice(-5).map(historyEntry),
    source,
    ...(stale === undefined ? {} : { staleCopies: stale }),
  };
}

async function staleCopiesOf(deps: EngineDeps, authority: string): Promise<AuthorityStatus['staleCopies']> {
  const stale = await deps.certificates.staleLeafCopies?.(authority);
  if (stale === undefined || stale.ids.length === 0) return undefined;
  return { store: stale.store, count: stale.ids.length, ids: stale.ids.slice(0, 20) };
}

function staleCopiesNote(stale: AuthorityStatus['staleCopies']): string {
  if (stale === undefined) return '';
  return `; ${stale.count} ${stale.count === 1 ? 'leaf keeps' : 'leaves keep'} an old copy in ${stale.store} that is no longer written and will expire (${stale.ids.slice(0, 3).join(', ')}${stale.count > 3 ? ', ...' : ''}): point their workloads at the new leafStore, then delete the old copies`;
}

/**
 * The status line from the inventory: the leaf counts the rows give, and only the consumers that
 * read on their own (the bundle and leaf secrets were not read back, so they are not counted).
 */
function inventoryLine(line: string, signer: number | undefined, leaves: { total: number; fromSigner: number; missingOrUnreadable: number }, counts: ConsumerCounts, pace: string): string {
  const at = line.indexOf(', next: ');
  if (signer === undefined || at < 0) return line;
  const missing = leaves.missingOrUnreadable > 0 ? ` (${leaves.missingOrUnreadable} without a row)` : '';
  const consumers = counts.total > 0 ? `, consumers that read on their own ${counts.holding}/${counts.total} hold the bundle` : '';
  return `${line.slice(0, at)}, leaves ${leaves.fromSigner}/${leaves.total} from ${signer}${pace}${missing} per the inventory${consumers}${line.slice(at)}`;
}

export interface AuthorityPlan {
  authority: string;
  step: Step;
  description: string;
  transitions: HistoryEntry[];
  /**
   * What the step writes where: each consumer it would change (not those already holding what it
   * gives them) and the store's own secrets it issues. From the inventory (`source`), certrotate's
   * own secrets and the copies of leaves are not read: a bundle going to them is listed only with
   * `deep` (a leaf issued is listed with its copies either way).
   */
  writes: PlannedWrite[];
  source: OperatorSource;
}

/** A dry run: what the next tick would do for this authority; nothing is written. Reads as `authorityStatus` does. */
export async function authorityPlan(deps: EngineDeps, authority: AuthorityConfig, now: number, options: OperatorReadOptions = {}): Promise<AuthorityPlan> {
  const { state, observed, observations, source } = await observeForOperator(deps, authority, now, options);
  const result = plan(state, observations, authority.rotation, now);
  return {
    authority: authority.name,
    step: result.step,
    description: result.description,
    transitions: result.transitions.map(historyEntry),
    writes: plannedWrites(result.step, result.state, observed, observations),
    source,
  };
}
