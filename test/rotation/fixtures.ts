import {
  defaultRotationConfig,
  initialRotationState,
  type Observations,
  type RotationConfig,
  type RotationState,
} from '../../lib/rotation/index.js';
import { DAY, HOUR, T0 } from './world.js';

export { DAY, HOUR, T0 };

export const config: RotationConfig = defaultRotationConfig;
export const schedule = { kind: 'schedule' } as const;

/** CA lifetimes in these tests: CA g is valid from T0 for a year. */
export function ca(generation: number, notAfter = T0 + 365 * DAY): { generation: number; notBefore: number; notAfter: number } {
  return { generation, notBefore: T0, notAfter };
}

/** Observations from compact literals: consumers and leaves as id -> generations / generation. */
export function observed(
  cas: number[],
  consumers: Record<string, number[] | undefined>,
  leaves: Record<string, number | undefined>,
): Observations {
  return {
    caGenerations: cas.map((g) => ca(g)),
    consumers: Object.entries(consumers).map(([id, holds]) => ({ id, holds })),
    leaves: Object.entries(leaves).map(([id, generation]) => ({ id, generation })),
  };
}

/** Stable on CA 1, bootstrapped at T0, bundle [1] sent. */
export function stableOn1(): RotationState {
  return {
    ...initialRotationState('cluster', T0),
    generation: 1,
    highestGeneration: 1,
    lastPublish: { generations: [1], at: T0 },
  };
}

/** A rotation from 1 to 2 at the given stage, with the bundle of that stage already sent. */
export function rotating(
  phase: 'Prepared' | 'TrustExpanded' | 'LeavesMigrated',
  extra: Partial<RotationState> = {},
): RotationState {
  const lastPublish =
    phase === 'Prepared' ? { generations: [1], at: T0 } : { generations: [1, 2], at: T0 };
  return { ...stableOn1(), phase, target: 2, highestGeneration: 2, lastPublish, ...extra };
}
