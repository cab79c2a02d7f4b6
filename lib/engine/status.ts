/**
 * The `status` and `plan` commands: read the world as the next run would observe it
 * (lib/engine/observe.ts), decide nothing, write nothing.
 */
import type { AuthorityConfig } from '../config/index.js';
import { bundleOf, describePhase, plan, signerOf, stageOf, type Step } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { daysUntil, earliestExpiry } from './expiry.js';
import { historyEntry, iso, type HistoryEntry } from './history.js';
import { observeForOperator } from './observe.js';
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
  consumers: { total: number; holdingBundle: number; unreadable: number; laggards: string[] };
  earliestExpiry: Expiry | null;
  /** Hours the current gate has waited (0 when Stable, paused, or the gate is met and only the soak runs). */
  gateWaitHours: number;
  next: string;
  recentHistory: HistoryEntry[];
}

/** Reads every secret of the authority (CAs, bundle, leaves) and every consumer: accurate, O(leaves). */
export async function authorityStatus(deps: EngineDeps, authority: AuthorityConfig, now: number): Promise<AuthorityStatus> {
  const { state, observed, observations } = await observeForOperator(deps, authority, now);
  const counts = observed.consumerCounts(state, observations);
  const signer = signerOf(state);
  const leafExpiries = observed.world.records().flatMap((record) => (record.condition.notAfter === undefined ? [] : [{ what: `leaf ${record.spec.id}`, notAfter: record.condition.notAfter }]));
  const earliest = earliestExpiry(state, leafExpiries, observations.caGenerations);
  return {
    authority: authority.name,
    status: observed.statusLine(state, observations, counts),
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
    leaves: {
      total: observations.leaves.length,
      fromSigner: observations.leaves.filter((leaf) => leaf.generation !== undefined && leaf.generation === signer).length,
      missingOrUnreadable: observations.leaves.filter((leaf) => leaf.generation === undefined).length,
    },
    consumers: { total: counts.total, holdingBundle: counts.holding, unreadable: counts.unreadable, laggards: counts.laggards },
    earliestExpiry: earliest === undefined ? null : { what: earliest.what, notAfter: iso(earliest.notAfter), days: daysUntil(earliest.notAfter, now) },
    gateWaitHours: Math.round((gateWaitMs(state, now) / 3_600_000) * 100) / 100,
    next: plan(state, observations, authority.rotation, now).description,
    recentHistory: state.history.slice(-5).map(historyEntry),
  };
}

export interface AuthorityPlan {
  authority: string;
  step: Step;
  description: string;
  transitions: HistoryEntry[];
}

/** A dry run: what the next tick would do for this authority; nothing is written. */
export async function authorityPlan(deps: EngineDeps, authority: AuthorityConfig, now: number): Promise<AuthorityPlan> {
  const { state, observations } = await observeForOperator(deps, authority, now);
  const result = plan(state, observations, authority.rotation, now);
  return { authority: authority.name, step: result.step, description: result.description, transitions: result.transitions.map(historyEntry) };
}
