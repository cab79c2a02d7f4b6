/**
 * Rotation state writes that keep the audit history within its DynamoDB item: old entries move to
 * the archive first (rotation/history.ts), then the state is written conditionally as always.
 * Archiving before the state write is what makes a crash or a lost race harmless: the archived
 * entries were committed ones, a retry rewrites them identically, and readers take only sequences
 * below the state's `archivedHistory`.
 */
import type { StateStore, VersionedState } from '../ports.js';
import { HISTORY_BUDGET, commandEntry, compactHistory, firstHistorySequence, type RotationState, type Transition } from '../rotation/index.js';

/** A history entry as an operator reads it. */
export interface HistoryEntry {
  at: string;
  from: string;
  to: string;
  why: string;
  by: string;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function historyEntry(transition: Transition): HistoryEntry {
  const by = transition.by.kind === 'schedule' ? 'schedule' : `${transition.by.command} (request ${transition.by.requestId})`;
  return { at: iso(transition.at), from: transition.from, to: transition.to, why: transition.why, by };
}

/** The event every transition (scheduled or commanded) is also reported as. */
export function phaseChangedEvent(authority: string, transition: Transition): { type: string; authority: string; detail: Record<string, unknown> } {
  const { from, to, why, generation, target, emergency } = transition;
  const by = transition.by.kind === 'schedule' ? { by: 'schedule' } : { by: transition.by.command, requestId: transition.by.requestId, ...(transition.by.reason === undefined ? {} : { reason: transition.by.reason }) };
  return { type: 'phase-changed', authority, detail: { from, to, at: iso(transition.at), why, generation, ...(target === undefined ? {} : { target }), ...(emergency === true ? { emergency } : {}), ...by } };
}

export type HistoryBudget = { highBytes: number; lowBytes: number };

/** Writes `state`, derived from `stored` (version undefined: nothing stored yet), conditionally on its version. */
export async function writeRotationState(
  store: StateStore<RotationState>,
  authority: string,
  state: RotationState,
  stored: { state: RotationState; version: number | undefined },
  budget: HistoryBudget = HISTORY_BUDGET,
): Promise<VersionedState<RotationState>> {
  const expectedVersion = stored.version;
  // Only entries of a state actually stored may move to the archive.
  const compacted = compactHistory(state, expectedVersion === undefined ? 0 : stored.state.history.length, budget);
  if (compacted === undefined) return { state, version: await store.writeState(authority, state, expectedVersion) };
  await store.archiveHistory(authority, compacted.firstSequence, compacted.archived);
  return { state: compacted.state, version: await store.writeState(authority, compacted.state, expectedVersion) };
}

/** The entry of the command with this request id: in the state, or else in the archive. */
export async function findCommandEntry(store: StateStore<RotationState>, authority: string, state: RotationState, requestId: string): Promise<Transition | undefined> {
  const inState = commandEntry(state, requestId);
  if (inState !== undefined || firstHistorySequence(state) === 0) return inState;
  return store.readArchivedCommand(authority, requestId);
}

/** The whole audit history of an authority, oldest first: the archive, then the state's entries. */
export async function fullHistory(store: StateStore<RotationState>, authority: string, state: RotationState): Promise<Transition[]> {
  return [...(await store.readArchivedHistory(authority, firstHistorySequence(state))), ...state.history];
}

/** The `history` command: the whole audit history of an authority, oldest first. */
export async function authorityHistory(store: StateStore<RotationState>, authority: string): Promise<{ authority: string; entries: HistoryEntry[] }> {
  const record = await store.readState(authority);
  const entries = record === undefined ? [] : await fullHistory(store, authority, record.state);
  return { authority, entries: entries.map(historyEntry) };
}
