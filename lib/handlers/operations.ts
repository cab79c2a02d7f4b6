/**
 * What the command function does, one function per action, over the ports: status and plan read
 * the world and decide nothing; rotate-ca, pause, resume and rollback go through the engine's
 * runCommand (idempotent by requestId through the rotation history); renew reissues leaves under
 * the authority's lease and records its request id in the ledger so a retry never reissues twice.
 */
import { X509Certificate } from 'node:crypto';
import type { AuthorityConfig } from '../config/index.js';
import { applyStoredCommand } from '../engine/commands.js';
import { findCommandEntry, fullHistory } from '../engine/history.js';
import { reissueLeaves, type EngineDeps } from '../engine/tick.js';
import { AuthorityConsumers } from '../engine/consumers.js';
import { AuthorityWorld } from '../engine/world.js';
import { CommandRefusedError, NotFoundError, StoredDataError } from '../errors.js';
import { CLOCK_SKEW_BACKDATE_MS } from '../pki/index.js';
import type { RequestLedger } from '../ports.js';
import {
  bundleOf,
  describePhase,
  holdsExactly,
  initialRotationState,
  plan,
  signerOf,
  stageOf,
  statusLine,
  type Observations,
  type RotationCommand,
  type RotationState,
  type Step,
  type Transition,
} from '../rotation/index.js';


const DAY = 86_400_000;

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
  next: string;
  recentHistory: HistoryEntry[];
}

export interface HistoryEntry {
  at: string;
  from: string;
  to: string;
  why: string;
  by: string;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function daysUntil(ms: number, now: number): number {
  return Math.round(((ms - now) / DAY) * 100) / 100;
}

export function historyEntry(transition: Transition): HistoryEntry {
  const by = transition.by.kind === 'schedule' ? 'schedule' : `${transition.by.command} (request ${transition.by.requestId})`;
  return { at: iso(transition.at), from: transition.from, to: transition.to, why: transition.why, by };
}

async function loadState(deps: EngineDeps, authority: string, now: number): Promise<RotationState> {
  return (await deps.state.readState(authority))?.state ?? initialRotationState(authority, now);
}

/** Reads every secret of the authority (CAs, bundle, leaves) and every EKS target: accurate, O(leaves). */
async function observe(deps: EngineDeps, authority: AuthorityConfig, now: number): Promise<{ world: AuthorityWorld; consumers: AuthorityConsumers; observations: Observations }> {
  const world = new AuthorityWorld(deps.certificates, authority, deps.config.leaves.filter((leaf) => leaf.authority === authority.name));
  const consumers = new AuthorityConsumers(authority.name, authority.consumers?.eks ?? [], deps.publisher, deps.events);
  await Promise.all([world.readAll(), consumers.observe()]);
  // A corrupted CA secret is the authority's news: not "missing", which would send the operator looking for a deleted one.
  const unreadable = world.unreadableCa;
  if (unreadable !== undefined) throw unreadable;
  return { world, consumers, observations: consumers.observations(world.observations(true), world, now, true) };
}

export async function authorityStatus(deps: EngineDeps, authority: AuthorityConfig, now: number): Promise<AuthorityStatus> {
  const state = await loadState(deps, authority.name, now);
  const { world, consumers, observations } = await observe(deps, authority, now);
  const bundle = bundleOf(state);
  const laggards = consumers.laggards(observations, bundle);
  const signer = signerOf(state);
  const expiries: { what: string; notAfter: number }[] = [];
  for (const record of world.records()) {
    if (record.condition.notAfter !== undefined) expiries.push({ what: `leaf ${record.spec.id}`, notAfter: record.condition.notAfter });
  }
  for (const ca of observations.caGenerations) {
    if (bundle.includes(ca.generation)) expiries.push({ what: `CA ${ca.generation}`, notAfter: ca.notAfter });
  }
  const earliest = expiries.reduce<(typeof expiries)[number] | undefined>((a, b) => (a === undefined || b.notAfter < a.notAfter ? b : a), undefined);
  return {
    authority: authority.name,
    status:
      statusLine(state, observations, authority.rotation, now) +
      (consumers.active && laggards.length > 0
        ? `; consumers ${observations.consumers.filter((consumer) => holdsExactly(consumer, bundle)).length}/${observations.consumers.length}: ${laggards.join(', ')}`
        : ''),
    generation: state.generation,
    phase: describePhase(state),
    stage: stageOf(state),
    phaseSince: iso(state.phaseSince),
    paused: state.paused,
    emergency: state.emergency,
    rollingBack: state.rollingBack,
    target: state.target ?? null,
    signer: signer ?? null,
    bundle,
    leaves: {
      total: observations.leaves.length,
      fromSigner: observations.leaves.filter((leaf) => leaf.generation !== undefined && leaf.generation === signer).length,
      missingOrUnreadable: observations.leaves.filter((leaf) => leaf.generation === undefined).length,
    },
    consumers: {
      total: observations.consumers.length,
      holdingBundle: observations.consumers.filter((consumer) => holdsExactly(consumer, bundle)).length,
      unreadable: observations.consumers.filter((consumer) => consumer.holds === undefined).length,
      laggards,
    },
    earliestExpiry: earliest === undefined ? null : { what: earliest.what, notAfter: iso(earliest.notAfter), days: daysUntil(earliest.notAfter, now) },
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
  const state = await loadState(deps, authority.name, now);
  const { observations } = await observe(deps, authority, now);
  const result = plan(state, observations, authority.rotation, now);
  return { authority: authority.name, step: result.step, description: result.description, transitions: result.transitions.map(historyEntry) };
}

/** The whole audit history of an authority, oldest first (the archive, then the state's entries). */
export async function authorityHistory(deps: EngineDeps, authority: string): Promise<{ authority: string; entries: HistoryEntry[] }> {
  const record = await deps.state.readState(authority);
  const entries = record === undefined ? [] : await fullHistory(deps.state, authority, record.state);
  return { authority, entries: entries.map(historyEntry) };
}

export interface CommandOutcome {
  authority: string;
  /** False when the request id was already applied: nothing changed this time. */
  applied: boolean;
  phase: string;
  generation: number;
  target: number | null;
  paused: boolean;
  emergency: boolean;
  rollingBack: boolean;
  transition: HistoryEntry | null;
}

/** rotate-ca, pause, resume, rollback: one conditional write of the rotation state. */
export async function rotationCommand(deps: EngineDeps, ledger: RequestLedger, authority: string, command: RotationCommand, now: number): Promise<CommandOutcome> {
  // Request ids are one namespace for every command: a renew's id is in the ledger, not the history.
  const renew = await ledger.find(authority, command.requestId);
  if (renew !== undefined) {
    throw new CommandRefusedError(`request ${command.requestId} was already used for "${renew.intent}" at ${iso(renew.startedAt)}; send the ${command.kind} command with a new request id`);
  }
  const { state, applied } = await applyStoredCommand(deps.state, authority, command, now, deps.historyBudget);
  const transition = await findCommandEntry(deps.state, authority, state, command.requestId);
  return {
    authority,
    applied,
    phase: describePhase(state),
    generation: state.generation,
    target: state.target ?? null,
    paused: state.paused,
    emergency: state.emergency,
    rollingBack: state.rollingBack,
    transition: transition === undefined ? null : historyEntry(transition),
  };
}

export interface RenewOutcome {
  authority: string;
  requestId: string;
  /** False when the request id had already completed: its recorded result is returned, nothing reissued. */
  applied: boolean;
  generation: number;
  renewed: string[];
  /** Leaves already reissued since the request started (a resumed retry skips them). */
  alreadyRenewed: string[];
}

export interface RenewRequest {
  authority: AuthorityConfig;
  requestId: string;
  /** One leaf; all of the authority's leaves when absent. */
  leaf?: string;
  /** The lease owner (unique per invocation). */
  owner: string;
}

const RENEW_LEASE_MS = 15 * 60 * 1000;

/**
 * Reissues one leaf or all of an authority's leaves from the current signer, like for like. The
 * request id is recorded first: a completed request replays its result, a request that crashed
 * resumes and skips the leaves it already reissued (their notBefore is after the request began).
 */
export async function renewLeaves(deps: EngineDeps, ledger: RequestLedger, request: RenewRequest, now: number): Promise<RenewOutcome> {
  const name = request.authority.name;
  const record = await deps.state.readState(name);
  if (record === undefined) {
    throw new NotFoundError(`authority "${name}" has no rotation state yet: wait for the first scan to bootstrap it`);
  }
  const signer = signerOf(record.state);
  if (signer === undefined) throw new CommandRefusedError(`authority "${name}" has no CA yet: wait for the first scan to bootstrap it`);
  const intent = request.leaf === undefined ? 'renew all' : `renew leaf ${request.leaf}`;
  const command = await findCommandEntry(deps.state, name, record.state, request.requestId);
  if (command !== undefined && command.by.kind === 'command') {
    throw new CommandRefusedError(`request ${request.requestId} was already used for a ${command.by.command} command at ${iso(command.at)}; send "${intent}" with a new request id`);
  }
  const { entry, created } = await ledger.begin({ authority: name, requestId: request.requestId, intent, startedAt: now });
  if (entry.intent !== intent) {
    throw new CommandRefusedError(
      `request ${request.requestId} was already used for "${entry.intent}" at ${iso(entry.startedAt)}; send "${intent}" with a new request id`,
    );
  }
  if (entry.result !== undefined) {
    const replay = parseOutcome(entry.result);
    if (replay !== undefined) return { ...replay, applied: false };
  }
  if (!(await deps.state.acquireLease(name, request.owner, now, RENEW_LEASE_MS))) {
    throw new CommandRefusedError(
      `another run (a scheduled one, or this same request sent twice) is working on authority "${name}" right now; retry with the same request id in a minute (it will not reissue twice)`,
    );
  }
  try {
    // A duplicate of this request may have finished while this one waited for the lease.
    const finished = await recordedOutcome(ledger, name, request.requestId);
    if (finished !== undefined) return finished;
    // Re-read under the lease: a tick may have moved the signer since the first read.
    const current = (await deps.state.readState(name))?.state ?? record.state;
    const generation = signerOf(current) ?? signer;
    const specs = deps.config.leaves.filter((leaf) => leaf.authority === name);
    const ids = request.leaf === undefined ? specs.map((spec) => spec.id) : [request.leaf];
    const world = new AuthorityWorld(deps.certificates, request.authority, specs);
    const consumers = new AuthorityConsumers(name, request.authority.consumers?.eks ?? [], deps.publisher, deps.events);
    const records = await world.readLeaves(ids);
    if (await world.bundleDistrusts(generation)) {
      throw new StoredDataError(
        `the published bundle of authority "${name}" does not trust CA ${generation}, the signer its stored state names: the state and the secrets disagree (a state restored from an old backup, or a CA secret replaced?). Nothing was reissued; restore the state item or the secrets`,
      );
    }
    // A retry of a request that never completed resumes: leaves issued since it began are done.
    const caNotBefore = new Map(world.observations(false).caGenerations.map((ca) => [ca.generation, ca.notBefore]));
    const alreadyRenewed = created
      ? []
      : records
          .filter((leaf) => leaf.stored !== undefined && issuedSince(leaf.stored.certificatePem, entry.startedAt, caNotBefore.get(leaf.condition.generation ?? 0)))
          .map((leaf) => leaf.spec.id);
    const skip = new Set(alreadyRenewed);
    const todo = ids.filter((id) => !skip.has(id));
    // EKS copies follow each leaf; one that cannot be written now is brought up to date by the next run.
    await reissueLeaves(deps, world, consumers, todo, generation, world.bundlePem(bundleOf(current), now), now, () => false);
    const outcome: RenewOutcome = { authority: name, requestId: request.requestId, applied: true, generation, renewed: todo, alreadyRenewed };
    if (!(await ledger.complete(name, request.requestId, JSON.stringify(outcome)))) {
      // A duplicate recorded its answer first: that one is the request's answer, every time.
      return (await recordedOutcome(ledger, name, request.requestId)) ?? outcome;
    }
    deps.events.emit({ type: 'leaves-renewed', authority: name, detail: { count: todo.length, requestId: request.requestId, forced: true } });
    return outcome;
  } finally {
    await deps.state.releaseLease(name, request.owner);
  }
}

/**
 * True when the leaf was issued at or after `since`: its notBefore (backdated for clock skew, whole
 * seconds) is no earlier than `since` minus the backdate. A notBefore clipped to its CA's notBefore
 * says nothing about when the leaf was issued: such a leaf counts as not renewed, so a resumed
 * request may reissue it once more, never skip it.
 */
function issuedSince(certificatePem: string, since: number, caNotBefore: number | undefined): boolean {
  try {
    const notBefore = Date.parse(new X509Certificate(certificatePem).validFrom);
    return notBefore >= since - CLOCK_SKEW_BACKDATE_MS - 1000 && (caNotBefore === undefined || notBefore > caNotBefore);
  } catch {
    return false;
  }
}

/** The answer recorded for this request id, replayed (applied: false); undefined while none is. */
async function recordedOutcome(ledger: RequestLedger, authority: string, requestId: string): Promise<RenewOutcome | undefined> {
  const result = (await ledger.find(authority, requestId))?.result;
  const replay = result === undefined ? undefined : parseOutcome(result);
  return replay === undefined ? undefined : { ...replay, applied: false };
}

function parseOutcome(text: string): RenewOutcome | undefined {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null) return undefined;
  const outcome: Partial<Record<keyof RenewOutcome, unknown>> = value;
  const { authority, requestId, generation, renewed, alreadyRenewed } = outcome;
  if (typeof authority !== 'string' || typeof requestId !== 'string' || typeof generation !== 'number') return undefined;
  const strings = (list: unknown) => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []);
  return { authority, requestId, applied: false, generation, renewed: strings(renewed), alreadyRenewed: strings(alreadyRenewed) };
}
