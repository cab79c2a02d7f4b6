import { describe, expect, it } from 'vitest';
import { isUnderWay } from '../../lib/engine/scheduled.js';
import { initialRotationState, type RotationState } from '../../lib/rotation/index.js';

const stable: RotationState = { ...initialRotationState('cluster', 0), generation: 2, highestGeneration: 2, retired: [1] };

describe('which authorities the 5-minute advance works on', () => {
  it('takes one not bootstrapped yet, and one never run', () => {
    expect(isUnderWay(undefined)).toBe(true);
    expect(isUnderWay(initialRotationState('cluster', 0))).toBe(true);
  });
  it('takes a rotation under way, paused or not', () => {
    expect(isUnderWay({ ...stable, phase: 'TrustExpanded', target: 3, highestGeneration: 3 })).toBe(true);
    expect(isUnderWay({ ...stable, phase: 'Prepared', target: 3, highestGeneration: 3, paused: true })).toBe(true);
  });
  it('takes a Stable authority whose old CA is still to be retired, and leaves a settled one to the hourly scan', () => {
    expect(isUnderWay({ ...stable, retired: [], retiring: 1 })).toBe(true);
    expect(isUnderWay(stable)).toBe(false);
  });
});
