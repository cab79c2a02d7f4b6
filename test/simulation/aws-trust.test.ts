import { describe, expect, it } from 'vitest';
import { simulate } from '../../lib/simulation/run.js';

const short = { days: 15, leaves: 12, algorithm: 'p256', seed: 7, forceRotationAt: 5, caLifetimeDays: 45 } as const;

describe('the simulation\'s load balancer and API Gateway domain in front of cluster', { timeout: 240_000 }, () => {
  it('fails handshakes through the load balancer when a broken deployment gives the trust store [N+1] before the leaves moved', async () => {
    const result = await simulate({ ...short, broken: true });
    expect(result.consumers?.elbv2TrustStore.failedHandshakes).toBeGreaterThan(0);
    expect(result.failures.join('\n')).toMatch(/load balancer \(trust store cluster-clients\)|API Gateway domain/);
  });
});
