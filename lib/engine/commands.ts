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
  for (let attempt = 1; ; attempt++) {
    const record = await store.readState(authority);
    if (record === undefined) {
      throw new NotFoundError(`authority "${authority}" has no rotation state yet: check the name, or wait for the first scan to bootstrap it`);
    }
    const archived = await findCommandEntry(store, authority, record.state, command.requestId);
    const next = applyCommand(record.state, command, now, archived);
    if (next === record.state) return next;
    try {
      return (await writeRotationState(store, authority, next, record, historyBudget)).state;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}
