/**
 * Checks a rotation state read back from storage before the core acts on it. The item is only ever
 * written by certrotate, so a failure here means it was edited or restored by hand: the message
 * names every field that is wrong, and nothing is decided or written from it. Fields the core
 * does not read are kept as they are, so a state written by a newer version still loads.
 */
import { StoredDataError } from '../errors.js';
import { Problems, array, boolean, number, oneOf, string } from '../config/validate.js';
import type { Phase, RotationState } from './types.js';

export const PHASES: readonly Phase[] = ['Stable', 'Prepared', 'TrustExpanded', 'LeavesMigrated'];

const GENERATION = { integer: true, min: 0 } as const;

export function parseRotationState(value: unknown): RotationState {
  const problems = new Problems();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StoredDataError('the stored rotation state is not a JSON object');
  }
  const state: Record<string, unknown> = { ...value };
  string(state.authority, 'authority', problems);
  const generation = number(state.generation, 'generation', problems, GENERATION);
  const phase = oneOf(state.phase, 'phase', problems, PHASES);
  number(state.phaseSince, 'phaseSince', problems);
  for (const flag of ['contracting', 'rollingBack', 'paused', 'emergency'] as const) boolean(state[flag], flag, problems);
  const highest = number(state.highestGeneration, 'highestGeneration', problems, GENERATION);
  for (const list of ['abandoned', 'retired'] as const) {
    (array(state[list], list, problems) ?? []).forEach((item, index) => number(item, `${list}[${index}]`, problems, { integer: true, min: 1 }));
  }
  for (const optional of ['target', 'retiring'] as const) {
    if (state[optional] !== undefined) number(state[optional], optional, problems, { integer: true, min: 1 });
  }
  if (state.archivedHistory !== undefined) number(state.archivedHistory, 'archivedHistory', problems, GENERATION);
  if (state.gateMetAt !== undefined) number(state.gateMetAt, 'gateMetAt', problems);
  if (phase !== undefined && phase !== 'Stable' && state.target === undefined) problems.add('target', `required in phase ${phase} (the generation being rotated to)`);
  if (generation !== undefined && highest !== undefined && highest < generation) problems.add('highestGeneration', `must be at least generation ${generation}, got ${highest}`);
  (array(state.history, 'history', problems) ?? []).forEach((entry, index) => {
    const path = `history[${index}]`;
    if (typeof entry !== 'object' || entry === null) {
      problems.add(path, 'expected an object');
      return;
    }
    const fields: Record<string, unknown> = { ...entry };
    oneOf(fields.from, `${path}.from`, problems, PHASES);
    oneOf(fields.to, `${path}.to`, problems, PHASES);
    number(fields.at, `${path}.at`, problems);
    string(fields.why, `${path}.why`, problems);
    const by: unknown = fields.by;
    const kind = typeof by === 'object' && by !== null && 'kind' in by ? by.kind : undefined;
    oneOf(kind, `${path}.by.kind`, problems, ['schedule', 'command'] as const);
  });
  if (problems.list.length > 0) {
    throw new StoredDataError(`the stored rotation state is not one certrotate writes:\n  - ${problems.list.join('\n  - ')}`);
  }
  return state as unknown as RotationState;
}
