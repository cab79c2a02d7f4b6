import { describe, expect, it } from 'vitest';
import { CertrotateError } from '../../lib/errors.js';
import { bundleOf, initialRotationState, signerOf, stageOf, type RotationState } from '../../lib/rotation/index.js';
import { T0, rotating, stableOn1 } from './fixtures.js';

describe('bundle and signer of each stage (signer first)', () => {
  const cases: [string, RotationState, number[], number | undefined][] = [
    ['bootstrap', initialRotationState('cluster', T0), [], undefined],
    ['stable', stableOn1(), [1], 1],
    ['prepared', rotating('Prepared'), [1], 1],
    ['trust-expanded', rotating('TrustExpanded'), [1, 2], 1],
    ['leaves-migrated', rotating('LeavesMigrated'), [1, 2], 2],
    ['contracting', rotating('LeavesMigrated', { contracting: true }), [2], 2],
    ['rollback-restore-trust', rotating('LeavesMigrated', { rollingBack: true }), [1, 2], 2],
    ['rollback-reissue', rotating('TrustExpanded', { rollingBack: true }), [1, 2], 1],
    ['rollback-drop', rotating('Prepared', { rollingBack: true }), [1], 1],
  ];
  it.each(cases)('%s: bundle %j, signer %s', (stage, state, bundle, signer) => {
    expect(stageOf(state)).toBe(stage);
    expect(bundleOf(state)).toEqual(bundle);
    expect(signerOf(state)).toBe(signer);
  });

  it('keeps the signer inside the bundle in every stage', () => {
    for (const [, state] of cases) {
      const signer = signerOf(state);
      if (signer !== undefined) expect(bundleOf(state)).toContain(signer);
    }
  });

  it('refuses a rotating state without a target as corrupt', () => {
    const corrupt = { ...rotating('TrustExpanded'), target: undefined };
    expect(() => bundleOf(corrupt)).toThrow(CertrotateError);
    expect(() => bundleOf(corrupt)).toThrow(/without a target generation/);
  });

  it('is plain JSON: a state survives a round trip through JSON unchanged', () => {
    const state = rotating('LeavesMigrated', { gateMetAt: T0, forced: { requestId: 'r', reason: 'x', at: T0 } });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
