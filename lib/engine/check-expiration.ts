/**
 * The `check-expiration` command, as `kubeadm certs check-expiration` prints it: one row per CA
 * generation and per leaf of each authority, with when it expires, how long is left and when
 * certrotate will act on it (a leaf's renewal, a CA's rotation). Reads; writes nothing.
 */
import type { AuthorityConfig } from '../config/index.js';
import { renewAt } from '../renewal/index.js';
import { bundleOf, initialRotationState, type RotationState } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { iso } from './history.js';
import { authorityParts } from './observe.js';

/** `ok`; `due`: past the point where certrotate renews or rotates it; `expired`; `retired`/`untrusted`: a CA no bundle holds. `missing`/`unreadable`: a leaf. */
export type ExpirationState = 'ok' | 'due' | 'expired' | 'retired' | 'untrusted' | 'missing' | 'unreadable';

export interface ExpirationRow {
  authority: string;
  /** `CA 2` or the leaf id. */
  name: string;
  kind: 'ca' | 'leaf';
  /** The CA generation, or the generation that issued the leaf; null when unknown. */
  generation: number | null;
  notAfter: string | null;
  /** Milliseconds until notAfter (negative once expired); null when unknown. */
  residualMs: number | null;
  /** When certrotate renews the leaf, or starts rotating away from the CA; null when it will not. */
  actsAt: string | null;
  state: ExpirationState;
  /** True when an operator should look: a trusted CA or a leaf past its renewal point, expired, missing or unreadable. */
  attention: boolean;
}

function caRow(authority: AuthorityConfig, state: RotationState, ca: { generation: number; notAfter: number }, now: number): ExpirationRow {
  const trusted = bundleOf(state).includes(ca.generation);
  const rotatesAt = ca.notAfter - authority.rotation.rotationLeadMs;
  const current = ca.generation === state.generation && state.target === undefined;
  let rowState: ExpirationState = 'ok';
  if (state.retired.includes(ca.generation)) rowState = 'retired';
  else if (!trusted) rowState = 'untrusted';
  else if (ca.notAfter <= now) rowState = 'expired';
  else if (current && rotatesAt <= now) rowState = 'due';
  return {
    authority: authority.name,
    name: `CA ${ca.generation}`,
    kind: 'ca',
    generation: ca.generation,
    notAfter: iso(ca.notAfter),
    residualMs: ca.notAfter - now,
    actsAt: current ? iso(rotatesAt) : null,
    state: rowState,
    attention: rowState === 'expired' || rowState === 'due',
  };
}

/** Every CA generation (retired ones included) and every configured leaf of one authority. */
export async function authorityExpirations(deps: EngineDeps, authority: AuthorityConfig, now: number): Promise<ExpirationRow[]> {
  const state = (await deps.state.readState(authority.name))?.state ?? initialRotationState(authority.name, now);
  const { world } = authorityParts(deps, authority);
  await world.readAll();
  const cas = world.observations(false).caGenerations.map((ca) => caRow(authority, state, ca, now));
  const leaves = world.records().map((record): ExpirationRow => {
    const { notAfter, generation, problem } = record.condition;
    const due = notAfter === undefined ? undefined : renewAt(record.spec.id, notAfter, deps.config.renewal);
    let rowState: ExpirationState = 'ok';
    if (problem === 'missing') rowState = 'missing';
    else if (problem === 'untrusted-issuer') rowState = 'untrusted';
    else if (notAfter === undefined || problem !== undefined) rowState = 'unreadable';
    else if (notAfter <= now) rowState = 'expired';
    else if (due !== undefined && due <= now) rowState = 'due';
    return {
      authority: authority.name,
      name: record.spec.id,
      kind: 'leaf',
      generation: generation ?? null,
      notAfter: notAfter === undefined ? null : iso(notAfter),
      residualMs: notAfter === undefined ? null : notAfter - now,
      actsAt: due === undefined ? null : iso(due),
      state: rowState,
      attention: rowState !== 'ok',
    };
  });
  return [...cas, ...leaves];
}

/** The rows of every authority in `scope`, CAs first within each. */
export async function checkExpiration(deps: EngineDeps, scope: readonly AuthorityConfig[], now: number): Promise<{ now: string; rows: ExpirationRow[]; attention: boolean }> {
  const rows: ExpirationRow[] = [];
  for (const authority of scope) rows.push(...(await authorityExpirations(deps, authority, now)));
  return { now: iso(now), rows, attention: rows.some((row) => row.attention) };
}
