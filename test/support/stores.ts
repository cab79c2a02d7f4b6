import type { StateStore } from '../../lib/ports.js';
import type { RotationState } from '../../lib/rotation/index.js';

/** Every method of `real`, each calling through: spread it and replace one to inject a fault or a race. */
export function delegatingStateStore(real: StateStore<RotationState>): StateStore<RotationState> {
  return {
    readState: (authority) => real.readState(authority),
    writeState: (authority, state, version) => real.writeState(authority, state, version),
    acquireLease: (authority, owner, now, duration) => real.acquireLease(authority, owner, now, duration),
    releaseLease: (authority, owner) => real.releaseLease(authority, owner),
    putLeafRows: (rows) => real.putLeafRows(rows),
    readAllLeafRows: (authority) => real.readAllLeafRows(authority),
    readEarliestLeafRows: (authority, withinMs, dueBy) => real.readEarliestLeafRows(authority, withinMs, dueBy),
    deleteLeafRow: (authority, id) => real.deleteLeafRow(authority, id),
    archiveHistory: (authority, first, entries) => real.archiveHistory(authority, first, entries),
    readArchivedHistory: (authority, before) => real.readArchivedHistory(authority, before),
    readArchivedCommand: (authority, requestId) => real.readArchivedCommand(authority, requestId),
  };
}
