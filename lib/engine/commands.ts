/**
 * Operator commands against the stored state: read, apply (pure), write conditionally. A lost race
 * re-reads and applies again, so a command and a concurrent tick converge; a command whose
 * requestId is already in the history (the state's entries or the archive) changes nothing.
 */
import { CommandRefusedError, ConflictError, NotFoundError } from '../errors.js';
import type { RequestLedger, StateStore } from '../ports.js';
import { parseCertificate } from '../pki/index.js';
import { applyCommand, describePhase, stageOf, type CommandContext, type RotationCommand, type RotationState } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { findCommandEntry, historyEntry, iso, phaseChangedEvent, writeRotationState, type HistoryBudget, type HistoryEntry } from './history.js';

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
  contextOf: (state: RotationState) => Promise<CommandContext> = () => Promise.resolve({}),
): Promise<{ state: RotationState; applied: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const record = await store.readState(authority);
    if (record === undefined) {
      throw new NotFoundError(`authority "${authority}" has no rotation state yet: check the name, or wait for the first scan to bootstrap it`);
    }
    const archived = await findCommandEntry(store, authority, record.state, command.requestId);
    const next = applyCommand(record.state, command, now, archived, await contextOf(record.state));
    if (next === record.state) return { state: next, applied: false };
    try {
      return { state: (await writeRotationState(store, authority, next, record, historyBudget)).state, applied: true };
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
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
  const { state, applied } = await applyStoredCommand(deps.state, authority, command, now, deps.historyBudget, (current) =>
    commandContext(deps, authority, command, current),
  );
  const transition = await findCommandEntry(deps.state, authority, state, command.requestId);
  if (applied && transition !== undefined) deps.events.emit(phaseChangedEvent(authority, transition));
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

/**
 * What rollback and a forced rotation out of a rollback need besides the state: CA N's expiry (a
 * walk back to a CA that dies first is refused) and the soaks. Unknown when CA N cannot be read.
 */
async function commandContext(deps: EngineDeps, authority: string, command: RotationCommand, state: RotationState): Promise<CommandContext> {
  const relevant = command.kind === 'rollback' || (command.kind === 'rotate-ca' && stageOf(state).startsWith('rollback-'));
  if (!relevant) return {};
  const soakMs = deps.config.authorities.find((candidate) => candidate.name === authority)?.rotation.soakMs;
  try {
    const ca = await deps.certificates.readCa(authority, state.generation);
    if (ca === undefined) return soakMs === undefined ? {} : { soakMs };
    return { currentCaNotAfter: parseCertificate(ca.certificatePem).notAfter, ...(soakMs === undefined ? {} : { soakMs }) };
  } catch {
    // A CA N that cannot be read is no reason to refuse: the commands decide as they did before.
    return soakMs === undefined ? {} : { soakMs };
  }
}
