/**
 * Operator commands. Each either returns the state to record or throws CommandRefusedError with a
 * message an operator can act on. Commands are idempotent by requestId: a request already in the
 * history returns the state unchanged, so a retried Lambda or CLI call does nothing twice.
 */
import { CommandRefusedError, ValidationError } from '../errors.js';
import type { RotationConfig } from './config.js';
import { formatDuration, formatGenerations, formatInstant } from './format.js';
import { bundleOf, phaseFraction, stageOf, targetOf } from './state.js';
import { appendHistory, enter } from './transition.js';
import type { Actor, RotationCommand, RotationState, Transition } from './types.js';

/** The entry a command with this request id recorded, if it is among the state's entries. */
export function commandEntry(state: RotationState, requestId: string): Transition | undefined {
  return state.history.find((t) => t.by.kind === 'command' && t.by.requestId === requestId);
}

/** What the caller read besides the state, for the commands that depend on it. */
export interface CommandContext {
  /** notAfter of CA N (the state's generation), when its certificate could be read. */
  currentCaNotAfter?: number;
  /** The authority's soaks: a walk back waits for them (unless the rotation is an emergency). */
  soakMs?: RotationConfig['soakMs'];
}

/** Slack on top of the soaks for the ticks of a walk back (publish, read back, reissue). */
const WALK_BACK_SLACK_MS = 60 * 60 * 1000;

/**
 * When a rollback to CA N started now would at the earliest be done, or undefined when CA N's
 * expiry is unknown. A rollback that cannot finish before CA N expires would move every leaf back
 * to a dead CA: it is refused, and a forced rotation supersedes one already under way.
 */
function rollbackDoomed(state: RotationState, now: number, context: CommandContext): { notAfter: number } | undefined {
  if (context.currentCaNotAfter === undefined) return undefined;
  const soaks = state.emergency || context.soakMs === undefined ? 0 : context.soakMs.trustExpanded + context.soakMs.leavesMigrated;
  return now + soaks + WALK_BACK_SLACK_MS >= context.currentCaNotAfter ? { notAfter: context.currentCaNotAfter } : undefined;
}

/**
 * `archived` is the entry of this request id from the history archive, when the caller found it
 * there: the state keeps only the newest entries, and a retry must be recognised however old.
 */
export function applyCommand(
  state: RotationState,
  command: RotationCommand,
  now: number,
  archived?: Transition,
  context: CommandContext = {},
): RotationState {
  if (command.requestId.trim() === '') {
    throw new ValidationError(`${command.kind} command for authority ${state.authority}: requestId must not be empty`);
  }
  const earlier = commandEntry(state, command.requestId) ?? archived;
  if (earlier !== undefined && earlier.by.kind === 'command') {
    if (earlier.by.command !== command.kind) {
      throw new CommandRefusedError(
        `request ${command.requestId} was already used for a ${earlier.by.command} command at ${formatInstant(earlier.at)}; ` +
          `send the ${command.kind} command with a new request id`,
      );
    }
    return state;
  }

  const by: Actor =
    command.reason !== undefined && command.reason !== ''
      ? { kind: 'command', command: command.kind, requestId: command.requestId, reason: command.reason }
      : { kind: 'command', command: command.kind, requestId: command.requestId };

  switch (command.kind) {
    case 'rotate-ca':
      return forceRotation(state, command, now, by, context);

    case 'pause':
      if (state.paused) {
        throw new CommandRefusedError(`authority ${state.authority} is already paused; resume it to continue`);
      }
      return appendHistory(state, { paused: true }, `paused at phase ${describePhase(state)}; leaf renewal continues`, now, by);

    case 'resume':
      if (!state.paused) {
        throw new CommandRefusedError(`authority ${state.authority} is not paused`);
      }
      // Whatever was observed before the pause is stale: soak counts again from the next observation.
      return appendHistory(state, { paused: false, gateMetAt: undefined }, `resumed at phase ${describePhase(state)}`, now, by);

    case 'rollback':
      return rollback(state, now, by, context);
  }
}

/** rotate-ca: starts a rotation from Stable, or supersedes a rollback that cannot complete. */
function forceRotation(
  state: RotationState,
  command: Extract<RotationCommand, { kind: 'rotate-ca' }>,
  now: number,
  by: Actor,
  context: CommandContext,
): RotationState {
  const stage = stageOf(state);
  if (command.reason.trim() === '') {
    throw new ValidationError(`rotate-ca for authority ${state.authority}: give a reason; it goes into the audit history`);
  }
  if (stage === 'bootstrap') {
    throw new CommandRefusedError(
      `authority ${state.authority} has no CA yet: let a tick bootstrap CA 1 before forcing a rotation`,
    );
  }
  if (stage.startsWith('rollback-') && rollbackDoomed(state, now, context) !== undefined) {
    return supersedeRollback(state, command.emergency, command.reason, now, by, command.requestId);
  }
  if (stage !== 'stable') {
    throw new CommandRefusedError(
      `rotation already in progress at phase ${describePhase(state)} (CA ${state.generation} to ${targetOf(state)}); ` +
        'watch its status, or roll it back first',
    );
  }
  if (state.paused) {
    throw new CommandRefusedError(`authority ${state.authority} is paused: resume it before forcing a rotation`);
  }
  const t = state.highestGeneration + 1;
  return enter(
    state,
    'Prepared',
    {
      target: t,
      highestGeneration: t,
      emergency: command.emergency,
      forced: { requestId: command.requestId, reason: command.reason, at: now },
    },
    command.emergency
      ? `EMERGENCY rotation to CA ${t} forced (soak times skipped): ${command.reason}`
      : `rotation to CA ${t} forced: ${command.reason}`,
    now,
    by,
  );
}

/**
 * A forced rotation out of a rollback that cannot complete (CA N expired, or expires before the walk
 * back ends): the rotation goes forward to CA N+1 again. N+1 is still trusted wherever the walk back
 * got to, so signing moves to it (LeavesMigrated) unless N+1 had already left the bundles, in which
 * case trust is expanded again first (Prepared).
 */
function supersedeRollback(state: RotationState, emergency: boolean, reason: string, now: number, by: Actor, requestId: string): RotationState {
  const t = targetOf(state);
  const to = stageOf(state) === 'rollback-drop' ? 'Prepared' : 'LeavesMigrated';
  return enter(
    state,
    to,
    { rollingBack: false, rollbackFrom: undefined, contracting: false, lastPublish: undefined, emergency, forced: { requestId, reason, at: now } },
    `${emergency ? 'EMERGENCY ' : ''}rotation to CA ${t} forced over a rollback that cannot complete before CA ${state.generation} expires: ${reason}`,
    now,
    by,
  );
}

/**
 * Starts walking a rotation back, allowed until the old CA is retired. The walk itself is done by
 * ticks (`decide`), one gate at a time, so the invariant holds on the way back too.
 */
function rollback(state: RotationState, now: number, by: Actor, context: CommandContext): RotationState {
  const n = state.generation;
  const stage = stageOf(state);
  const doomed = stage.startsWith('rollback-') || stage === 'stable' || stage === 'bootstrap' ? undefined : rollbackDoomed(state, now, context);
  if (doomed !== undefined) {
    const left = doomed.notAfter - now;
    throw new CommandRefusedError(
      `cannot roll back authority ${state.authority} to CA ${n}: it ${left <= 0 ? 'expired' : `expires in ${formatDuration(left)}`} ` +
        `(${formatInstant(doomed.notAfter)}), before a walk back could finish, and every leaf would go back to a dead CA. ` +
        `Let the rotation to CA ${targetOf(state)} finish (resume it if paused)`,
    );
  }
  switch (stage) {
    case 'bootstrap':
    case 'stable':
      throw new CommandRefusedError(
        `nothing to roll back: authority ${state.authority} is Stable on CA ${n} with no rotation in progress ` +
          '(a retired CA is never trusted again; force a new rotation instead)',
      );
    case 'rollback-restore-trust':
    case 'rollback-reissue':
    case 'rollback-drop':
      throw new CommandRefusedError(
        `authority ${state.authority} is already rolling back to CA ${n} (phase ${describePhase(state)})`,
      );
    case 'prepared': {
      const t = targetOf(state);
      // CA N+1 was never trusted by anyone: abandon it at once.
      return enter(
        state,
        'Stable',
        { target: undefined, emergency: false, forced: undefined, abandoned: [...state.abandoned, t] },
        `rolled back before CA ${t} was trusted; CA ${t} abandoned`,
        now,
        by,
      );
    }
    case 'trust-expanded':
      return enter(
        state,
        'TrustExpanded',
        { rollingBack: true, rollbackFrom: stage },
        `rolling back to CA ${n}: making sure every leaf is from CA ${n}, then dropping CA ${targetOf(state)} from the bundle`,
        now,
        by,
      );
    case 'leaves-migrated':
    case 'contracting':
      // Re-send [N, N+1] to everyone (lastPublish cleared): a contraction to [N+1] may have been
      // written and never recorded, and the signer must not return to N while it could land.
      return enter(
        state,
        'LeavesMigrated',
        { rollingBack: true, rollbackFrom: stage, contracting: false, lastPublish: undefined },
        `rolling back to CA ${n}: restoring bundle ${formatGenerations(bundleOf({ ...state, contracting: false }))} everywhere, ` +
          `then reissuing every leaf from CA ${n}`,
        now,
        by,
      );
  }
}

/** "LeavesMigrated (3/4)", "Stable". */
export function describePhase(state: RotationState): string {
  const fraction = phaseFraction(state.phase);
  return fraction === undefined ? state.phase : `${state.phase} (${fraction})`;
}
