/**
 * Operator commands against the stored state: read, apply (pure), write conditionally. A lost race
 * re-reads and applies again, so a command and a concurrent tick converge; a command whose
 * requestId is already in the history (the state's entries or the archive) changes nothing.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import type { StateStore } from '../ports.js';
import { applyCommand, type RotationCommand, type RotationState } from '../rotation/index.js';
import { findCommandEntry, writeRotationState, type HistoryBudget } from './history.js';

const MAX_ATTEMPTS = 5;

export async function runCommand(
  store: StateStore<RotationState>,
  authority: string,
  command: RotationCommand,
  now: number,
  historyBudget?: HistoryBudget,
): Promise<RotationState> {
  return (await applyStoredCommand(store, authority, command, now, historyBudget)).state;
}

/**
 * runCommand, also saying whether this call is the one that recorded the command: of identical
 * requests sent at once, exactly one answers `applied: true` (the others find its entry on re-read).
 */
export async function applyStoredCommand(
  store: StateStore<RotationState>,
  authority: string,
  command: RotationCommand,
  now: number,
  historyBudget?: HistoryBudget,
): Promise<{ state: RotationState; applied: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const record = await store.readState(authority);
    if (record === undefined) {
      throw new NotFoundError(`authority "${authority}" has no rotation state yet: check the name, or wait for the first scan to bootstrap it`);
    }
    const archived = await findCommandEntry(store, authority, record.state, command.requestId);
    const next = applyCommand(record.state, command, now, archived);
    if (next === record.state) return { state: next, applied: false };
    try {
      return { state: (await writeRotationState(store, authority, next, record, historyBudget)).state, applied: true };
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}
