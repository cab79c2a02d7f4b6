/**
 * The audit history would outgrow its DynamoDB item (400 KB) after a few hundred rotations,
 * pauses and resumes. The state keeps the newest entries; older ones move to an archive, each
 * under its sequence number in the whole history, so the full record is always archive + state.
 */
import type { RotationState, Transition } from './types.js';

/**
 * When the history in the state passes `highBytes` of JSON, the oldest entries move out until it
 * is under `lowBytes`: the archive is written once per ~50 KB of history, not on every change. An
 * entry is at most ~13 KB (a 1,024-character reason, escaped, appears twice). A command's request
 * id stays findable after its entry moved: the archive keeps an item per command (see StateStore).
 */
export const HISTORY_BUDGET = { highBytes: 100_000, lowBytes: 50_000 } as const;

export interface CompactedHistory {
  /** The state with only its newest entries and `archivedHistory` advanced. */
  state: RotationState;
  /** The entries that left the state, oldest first: entry i has sequence `firstSequence + i`. */
  archived: Transition[];
  firstSequence: number;
}

/** Sequence number of the state's first history entry. */
export function firstHistorySequence(state: RotationState): number {
  return state.archivedHistory ?? 0;
}

/** Sequence number the next appended entry gets: the length of the whole history. */
export function nextHistorySequence(state: RotationState): number {
  return firstHistorySequence(state) + state.history.length;
}

/**
 * Moves the oldest entries out of the state once it holds too much history; undefined when it does
 * not. Only the first `committed` entries may move: those are in the stored state this one was
 * derived from, so an archive written by a writer that then loses its race holds only what is
 * already on record, never an entry that was not.
 */
export function compactHistory(
  state: RotationState,
  committed: number,
  budget: { highBytes: number; lowBytes: number } = HISTORY_BUDGET,
): CompactedHistory | undefined {
  if (!(budget.lowBytes > 0 && budget.lowBytes <= budget.highBytes)) {
    throw new RangeError(`history budget needs 0 < lowBytes <= highBytes, got ${budget.lowBytes} and ${budget.highBytes}`);
  }
  const sizes = state.history.map((entry) => Buffer.byteLength(JSON.stringify(entry)));
  let total = sizes.reduce((sum, size) => sum + size, 0);
  if (total <= budget.highBytes) return undefined;
  let excess = 0;
  // The newest entry always stays, so a state never has an empty history to append to.
  const movable = Math.min(committed, state.history.length - 1);
  while (total > budget.lowBytes && excess < movable) total -= sizes[excess++] ?? 0;
  if (excess === 0) return undefined;
  const firstSequence = firstHistorySequence(state);
  return {
    state: { ...state, history: state.history.slice(excess), archivedHistory: firstSequence + excess },
    archived: state.history.slice(0, excess),
    firstSequence,
  };
}
