import { describe, expect, it } from 'vitest';
import type { AuthorityReport } from '../../lib/engine/tick.js';
import { Outage } from '../../lib/simulation/outage.js';

const HOUR = 3_600_000;
const FROM = Date.UTC(2027, 6, 20);
const UNTIL = FROM + 24 * HOUR;

function report(overrides: { gateWaitMs?: number; clusterName?: string; kind?: 'unavailable' | 'rejected' } = {}): AuthorityReport {
  const failure = {
    consumer: 'eks:prod-eu/kube-system/cluster-ca',
    target: 'prod-eu kube-system/cluster-ca',
    clusterName: overrides.clusterName ?? 'prod-eu',
    action: 'read' as const,
    kind: overrides.kind ?? 'unavailable',
    message: 'EKS cluster prod-eu (eu-west-1) is unavailable after 1 attempt',
  };
  return {
    authority: 'cluster',
    steps: [{ kind: 'wait', reason: '1/28 consumers have not picked up [2 3] yet' }],
    transitions: [],
    renewed: [],
    state: undefined,
    status: 'cluster: ...',
    gateWaitMs: overrides.gateWaitMs ?? 10 * 60_000,
    cas: [],
    consumers: { total: 28, holding: 27, laggards: ['prod-eu kube-system/cluster-ca unreachable'], failures: [failure] },
  };
}

describe('the simulated outage', () => {
  it('leaves the advance of an authority whose gate waits on the down cluster until the cluster is back', () => {
    const outage = new Outage('prod-eu', FROM, UNTIL);
    outage.observe(report(), FROM + HOUR);
    expect(outage.blockedUntil('cluster')).toBe(UNTIL);
    // A later tick (a leaf renewal) that finds the gate met again lifts it.
    outage.observe(report({ gateWaitMs: 0 }), FROM + 2 * HOUR);
    expect(outage.blockedUntil('cluster')).toBeUndefined();
  });

  it.each([
    ['the gate is met (a soak, not a wait on consumers)', report({ gateWaitMs: 0 }), FROM + HOUR],
    ['another cluster is unavailable', report({ clusterName: 'prod-us' }), FROM + HOUR],
    ['the down cluster refused a write (not unreachable)', report({ kind: 'rejected' }), FROM + HOUR],
    ['the outage is over', report(), UNTIL],
    ['the outage has not begun', report(), FROM - 1],
  ])('blocks nothing when %s', (_why, tickReport, now) => {
    const outage = new Outage('prod-eu', FROM, UNTIL);
    outage.observe(tickReport, now);
    expect(outage.blockedUntil('cluster')).toBeUndefined();
  });
});
