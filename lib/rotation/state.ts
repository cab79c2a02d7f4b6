import { CertrotateError } from '../errors.js';
import type { Phase, RotationState, Stage } from './types.js';

/** The state of an authority that has never run: the first tick generates and publishes CA 1. */
export function initialRotationState(authority: string, now: number): RotationState {
  return {
    authority,
    generation: 0,
    phase: 'Stable',
    phaseSince: now,
    contracting: false,
    rollingBack: false,
    paused: false,
    emergency: false,
    highestGeneration: 0,
    abandoned: [],
    retired: [],
    history: [],
  };
}

export function stageOf(state: RotationState): Stage {
  if (state.generation === 0) return 'bootstrap';
  switch (state.phase) {
    case 'Stable':
      return 'stable';
    case 'Prepared':
      return state.rollingBack ? 'rollback-drop' : 'prepared';
    case 'TrustExpanded':
      return state.rollingBack ? 'rollback-reissue' : 'trust-expanded';
    case 'LeavesMigrated':
      if (state.rollingBack) return 'rollback-restore-trust';
      return state.contracting ? 'contracting' : 'leaves-migrated';
  }
}

/** N+1 of a rotation under way; a state in a rotating phase without one is corrupt. */
export function targetOf(state: RotationState): number {
  if (state.target === undefined) {
    throw new CertrotateError(
      `rotation state of authority ${state.authority} is in phase ${state.phase} without a target generation: ` +
        'the stored state is corrupt; restore it from its history',
    );
  }
  return state.target;
}

/**
 * The generation new leaves are issued from, or undefined before bootstrap. Leaf renewal uses this
 * in every phase, paused or not.
 */
export function signerOf(state: RotationState): number | undefined {
  const n = state.generation;
  switch (stageOf(state)) {
    case 'bootstrap':
      return undefined;
    case 'stable':
    case 'prepared':
    case 'trust-expanded':
    case 'rollback-reissue':
    case 'rollback-drop':
      return n;
    case 'leaves-migrated':
    case 'contracting':
    case 'rollback-restore-trust':
      return targetOf(state);
  }
}

/**
 * The trust bundle of the current stage, generations ascending: the one order every copy of the
 * bundle is stored in (the table in DESIGN.md). Empty before bootstrap: nothing is trusted yet.
 */
export function bundleOf(state: RotationState): number[] {
  const n = state.generation;
  switch (stageOf(state)) {
    case 'bootstrap':
      return [];
    case 'stable':
    case 'prepared':
    case 'rollback-drop':
      return [n];
    case 'trust-expanded':
    case 'rollback-reissue':
    case 'leaves-migrated':
    case 'rollback-restore-trust':
      return [n, targetOf(state)];
    case 'contracting':
      return [targetOf(state)];
  }
}

/** Phase position shown in status lines, GKE style; Stable has none. */
export function phaseFraction(phase: Phase): string | undefined {
  switch (phase) {
    case 'Stable':
      return undefined;
    case 'Prepared':
      return '1/4';
    case 'TrustExpanded':
      return '2/4';
    case 'LeavesMigrated':
      return '3/4';
  }
}
