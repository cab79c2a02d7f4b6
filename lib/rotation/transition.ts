import type { Actor, Phase, RotationState, Transition } from './types.js';

/** Appends an audit entry without changing the phase (pause, resume). */
export function appendHistory(
  state: RotationState,
  changes: Partial<RotationState>,
  why: string,
  now: number,
  by: Actor,
): RotationState {
  return { ...state, ...changes, history: [...state.history, entryFor(state, changes, state.phase, why, now, by)] };
}

/**
 * Moves to another stage (`to` may equal the current phase: a stage change within it). Resets the
 * gate clock: the next gate has not been seen met yet.
 */
export function enter(
  state: RotationState,
  to: Phase,
  changes: Partial<RotationState>,
  why: string,
  now: number,
  by: Actor,
): RotationState {
  return {
    ...state,
    ...changes,
    phase: to,
    phaseSince: now,
    gateMetAt: undefined,
    history: [...state.history, entryFor(state, changes, to, why, now, by)],
  };
}

/** The entry names the rotation it belongs to, whether the change starts it or ends it. */
function entryFor(
  state: RotationState,
  changes: Partial<RotationState>,
  to: Phase,
  why: string,
  now: number,
  by: Actor,
): Transition {
  const entry: Transition = { from: state.phase, to, at: now, why, by, generation: state.generation };
  const target = changes.target ?? state.target;
  if (target !== undefined) entry.target = target;
  if (state.emergency || changes.emergency === true) entry.emergency = true;
  return entry;
}
