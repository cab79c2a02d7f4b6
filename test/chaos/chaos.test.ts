import { describe, expect, it } from 'vitest';
import { runChaos } from './suite.js';

describe('chaos (a fixed-seed subset of `npm run chaos`)', () => {
  it('every randomized run with a crash after a random external call keeps the invariant and converges', { timeout: 240_000 }, async () => {
    const tally = await runChaos(12, 7);
    expect(tally.failures.map((failure) => `seed ${failure.seed}: ${failure.failure}`)).toEqual([]);
    expect(tally.crashed).toBeGreaterThan(6);
  });

  it('keeps the invariant and converges with the leaves in the S3 leaf bucket', { timeout: 240_000 }, async () => {
    const tally = await runChaos(6, 11, undefined, { leafStore: 's3' });
    expect(tally.failures.map((failure) => `seed ${failure.seed}: ${failure.failure}`)).toEqual([]);
    expect(tally.crashed).toBeGreaterThan(2);
  });

  it('catches a deployment that drops the old CA from bundles early (the suite can fail)', { timeout: 240_000 }, async () => {
    const tally = await runChaos(4, 3, undefined, { broken: true });
    expect(tally.failures.length).toBeGreaterThan(0);
    expect(tally.failures.map((failure) => failure.failure).join('\n')).toMatch(/UnknownIssuer|not signed|issuer|verif/i);
  });
});
