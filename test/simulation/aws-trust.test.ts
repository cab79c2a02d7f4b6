import { describe, expect, it } from 'vitest';
import { simulate } from '../../lib/simulation/run.js';

const short = { days: 15, leaves: 12, algorithm: 'p256', seed: 7, forceRotationAt: 5, caLifetimeDays: 45 } as const;

describe('the simulation\'s load balancer and API Gateway domain in front of cluster', { timeout: 240_000 }, () => {
  it('handshakes through both fronts with none failing, and the forced rotation waits for the unreachable trust store', async () => {
    const progress: string[] = [];
    const result = await simulate({ ...short, onProgress: (line) => progress.push(line) });
    expect(result.consumers?.elbv2TrustStore).toMatchObject({ targets: 1, failedHandshakes: 0 });
    expect(result.consumers?.apiGatewayDomain).toMatchObject({ targets: 1, failedHandshakes: 0 });
    expect(result.consumers?.acmCertificate.handshakes).toBe((result.consumers?.elbv2TrustStore.handshakes ?? 0) + (result.consumers?.apiGatewayDomain.handshakes ?? 0));
    // At the start, and again at each of the forced rotation's four transitions at least.
    expect(result.consumers?.elbv2TrustStore.handshakes).toBeGreaterThanOrEqual(5);
    expect(progress.some((line) => /cluster: .*ELBv2 trust store cluster-clients \(us-east-1, s3:\/\/cluster-trust-bundles\/alb\.pem\) unreachable \(HTTP 503\)/.test(line))).toBe(true);
  });

  it('fails handshakes through the load balancer when a broken deployment gives the trust store [N+1] before the leaves moved', async () => {
    const result = await simulate({ ...short, broken: true });
    expect(result.consumers?.elbv2TrustStore.failedHandshakes).toBeGreaterThan(0);
    expect(result.failures.join('\n')).toMatch(/load balancer \(trust store cluster-clients\)|API Gateway domain/);
  });
});
