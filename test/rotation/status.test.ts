import { describe, expect, it } from 'vitest';
import { initialRotationState, statusLine } from '../../lib/rotation/index.js';
import { HOUR, T0, config, observed, rotating, stableOn1 } from './fixtures.js';

/** 1000 leaves, 812 of them already from CA 2; 12 consumers holding [1 2]. */
function midMigration() {
  const leaves: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) leaves[`leaf-${i}`] = i < 812 ? 2 : 1;
  const consumers: Record<string, number[]> = {};
  for (let i = 0; i < 12; i++) consumers[`c-${i}`] = [1, 2];
  return observed([1, 2], consumers, leaves);
}

describe('statusLine', () => {
  it('reads like GKE in the middle of a rotation', () => {
    expect(statusLine(rotating('LeavesMigrated'), midMigration(), config, T0)).toBe(
      'cluster: CA generation 2, phase LeavesMigrated (3/4): bundle [1 2], signer 2, leaves 812/1000 from 2, ' +
        'consumers 12/12 hold [1 2], next: reissue 188 leaves from CA 2',
    );
  });

  it('gives the time left to migrate the leaves at the pace since the phase began', () => {
    // 812 leaves in 10 minutes: 81/min, so 188 more take about 2.3 minutes.
    const line = statusLine(rotating('LeavesMigrated', { phaseSince: T0 - 10 * 60_000 }), midMigration(), config, T0);
    expect(line).toContain('leaves 812/1000 from 2 (about 3m left at 81/min), consumers 12/12');
    // Nothing to estimate from before the phase has run, or once every leaf has moved.
    expect(statusLine(rotating('LeavesMigrated', { phaseSince: T0 }), midMigration(), config, T0)).not.toContain('left at');
    expect(statusLine(rotating('TrustExpanded', { phaseSince: T0 - 60_000 }), midMigration(), config, T0)).not.toContain('left at');
  });

  it('says how long until the next gate opens', () => {
    const obs = observed([1, 2], { a: [1, 2] }, { x: 2 });
    const soaking = rotating('LeavesMigrated', { gateMetAt: T0 - HOUR });
    expect(statusLine(soaking, obs, config, T0)).toMatch(/next: drop CA 1 from the bundle after soak \(in 1h\)$/);
  });

  it('shows no fraction in Stable, and when the next rotation is due', () => {
    expect(statusLine(stableOn1(), observed([1], { a: [1] }, { x: 1 }), config, T0)).toBe(
      'cluster: CA generation 1, phase Stable: bundle [1], signer 1, leaves 1/1 from 1, consumers 1/1 hold [1], ' +
        'next: nothing to do; rotation of CA 1 due in 335d',
    );
  });

  it('says PAUSED, EMERGENCY and ROLLING BACK up front', () => {
    const state = rotating('TrustExpanded', { paused: true, emergency: true, rollingBack: true });
    const line = statusLine(state, observed([1, 2], { a: [1, 2] }, { x: 1 }), config, T0);
    expect(line).toMatch(/^cluster: PAUSED, EMERGENCY rotation \(soak times skipped\), ROLLING BACK to CA 1: /);
    expect(line).toMatch(/phase TrustExpanded \(2\/4\)/);
    expect(line).toMatch(/next: nothing until resumed/);
  });

  it('counts unreadable consumers and leaves instead of hiding them', () => {
    const line = statusLine(rotating('TrustExpanded'), observed([1, 2], { a: [1, 2], b: undefined }, { x: 1, y: undefined }), config, T0);
    expect(line).toContain('leaves 1/2 from 1 (1 missing or unreadable)');
    expect(line).toContain('consumers 1/2 hold [1 2] (1 unreadable)');
  });

  it('reports an authority that has not been bootstrapped', () => {
    expect(statusLine(initialRotationState('etcd', T0), observed([], {}, {}), config, T0)).toBe(
      'etcd: not bootstrapped yet, next: generate CA 1',
    );
  });

  it('shows the newest live generation, not an abandoned one', () => {
    const afterRollback = { ...stableOn1(), highestGeneration: 2, abandoned: [2] };
    expect(statusLine(afterRollback, observed([1, 2], {}, {}), config, T0)).toMatch(/^cluster: CA generation 1,/);
  });
});
