/**
 * The `renew` command: reissues leaves under the authority's lease and records its request id in
 * the ledger, so a retry never reissues twice.
 */
import { X509Certificate } from 'node:crypto';
import type { AuthorityConfig } from '../config/index.js';
import { CommandRefusedError, NotFoundError, StoredDataError } from '../errors.js';
import { CLOCK_SKEW_BACKDATE_MS } from '../pki/index.js';
import type { RequestLedger } from '../ports.js';
import { bundleOf, signerOf } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { findCommandEntry, iso } from './history.js';
import { authorityParts } from './observe.js';
import { reissueLeaves } from './reissue.js';
import { LEAF_PAGE, type AuthorityWorld } from './world.js';

export interface RenewOutcome {
  authority: string;
  requestId: string;
  /** False when the request id had already completed: its recorded result is returned, nothing reissued. */
  applied: boolean;
  generation: number;
  /** The leaves reissued, the first MAX_LISTED of them; `renewedCount` counts them all. */
  renewed: string[];
  renewedCount: number;
  /** Leaves already reissued since the request started (a resumed retry skips them), listed like `renewed`. */
  alreadyRenewed: string[];
  alreadyRenewedCount: number;
}

/**
 * Ids an answer lists at most per list. The answer is recorded in the request's ledger item, which
 * must stay far below DynamoDB's 400 KB item limit whatever the fleet (3,300 ids of 128 characters
 * already pass it), and a retry replays exactly that answer.
 */
export const MAX_LISTED = 100;

/** The answer of a renew, bounded: counts of everything, ids of the first MAX_LISTED. */
export function renewOutcome(fields: { authority: string; requestId: string; generation: number; renewed: readonly string[]; alreadyRenewed: readonly string[] }): RenewOutcome {
  return {
    authority: fields.authority,
    requestId: fields.requestId,
    applied: true,
    generation: fields.generation,
    renewed: fields.renewed.slice(0, MAX_LISTED),
    renewedCount: fields.renewed.length,
    alreadyRenewed: fields.alreadyRenewed.slice(0, MAX_LISTED),
    alreadyRenewedCount: fields.alreadyRenewed.length,
  };
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
  const lease = await deps.state.acquireLease(name, request.owner, now, RENEW_LEASE_MS);
  if (lease === undefined) {
    throw new CommandRefusedError(
      `another run (a scheduled one, or this same request sent twice) is working on authority "${name}" right now; retry with the same request id in a minute (it will not reissue twice)`,
    );
  }
  try {
    // A duplicate of this request may have finished while this one waited for the lease.
    const finished = await recordedOutcome(ledger, name, request.requestId);
    if (finished !== undefined) return finished;
    // As read when the lease was taken: a tick may have moved the signer since the first read.
    const current = lease.stored?.state ?? record.state;
    const generation = signerOf(current) ?? signer;
    const specs = deps.config.leaves.filter((leaf) => leaf.authority === name);
    const ids = request.leaf === undefined ? specs.map((spec) => spec.id) : [request.leaf];
    const { world, consumers } = authorityParts(deps, request.authority);
    await world.readLeaves(ids);
    if (await world.bundleDistrusts(generation)) {
      throw new StoredDataError(
        `the published bundle of authority "${name}" does not trust CA ${generation}, the signer its stored state names: the state and the secrets disagree (a state restored from an old backup, or a CA secret replaced?). Nothing was reissued; restore the state item or the secrets`,
      );
    }
    // A retry of a request that never completed resumes: leaves issued since it began are done.
    const caNotBefore = new Map(world.observations(false).caGenerations.map((ca) => [ca.generation, ca.notBefore]));
    const alreadyRenewed = created ? [] : await renewedSince(deps, world, ids, entry.startedAt, caNotBefore);
    const skip = new Set(alreadyRenewed);
    const todo = ids.filter((id) => !skip.has(id));
    // EKS copies follow each leaf; one that cannot be written now is brought up to date by the next run.
    await reissueLeaves(deps, world, consumers, todo, generation, world.bundlePem(bundleOf(current), now), now, () => false);
    const outcome = renewOutcome({ authority: name, requestId: request.requestId, generation, renewed: todo, alreadyRenewed });
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

/** The leaves among `ids` issued since `since`, read a page at a time (the run keeps no certificate). */
async function renewedSince(deps: EngineDeps, world: AuthorityWorld, ids: readonly string[], since: number, caNotBefore: ReadonlyMap<number, number>): Promise<string[]> {
  const renewed: string[] = [];
  for (let i = 0; i < ids.length; i += LEAF_PAGE) {
    const { leaves } = await deps.certificates.readLeaves(world.authority.name, ids.slice(i, i + LEAF_PAGE));
    for (const leaf of leaves) {
      const record = world.leaf(leaf.id);
      if (record?.secret !== undefined && issuedSince(leaf.certificatePem, since, caNotBefore.get(record.condition.generation ?? 0))) renewed.push(leaf.id);
    }
  }
  return renewed;
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
  const { authority, requestId, generation, renewed, alreadyRenewed, renewedCount, alreadyRenewedCount } = outcome;
  if (typeof authority !== 'string' || typeof requestId !== 'string' || typeof generation !== 'number') return undefined;
  const strings = (list: unknown) => (Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []);
  const count = (value: unknown, list: string[]) => (typeof value === 'number' ? value : list.length);
  const renewedIds = strings(renewed);
  const alreadyIds = strings(alreadyRenewed);
  return {
    authority,
    requestId,
    applied: false,
    generation,
    renewed: renewedIds,
    renewedCount: count(renewedCount, renewedIds),
    alreadyRenewed: alreadyIds,
    alreadyRenewedCount: count(alreadyRenewedCount, alreadyIds),
  };
}
