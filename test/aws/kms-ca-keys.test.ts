import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { KmsCaKeys } from '../../lib/aws/kms-ca-keys.js';
import { startLocalKms, type LocalKms } from '../../lib/local/kms-server.js';
import { kmsCaKeySuite } from './kms-ca-keys.suite.js';

let kms: LocalKms;
let client: KMSClient;
let throttleSigns = 0;

beforeAll(async () => {
  kms = await startLocalKms({
    faults: (operation) => {
      if (operation !== 'Sign' || throttleSigns === 0) return undefined;
      throttleSigns -= 1;
      return { type: 'ThrottlingException', message: 'Rate exceeded' };
    },
  });
  client = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await kms.stop();
});

kmsCaKeySuite('the local KMS', () => ({ client, signsDigests: true }));

describe('KmsCaKeys pacing', () => {
  it('retries a throttled Sign with backoff until it goes through', async () => {
    const sleeps: number[] = [];
    const keys = new KmsCaKeys({
      client: () => Promise.resolve(client),
      prefix: 'throttle',
      limiter: new WriteLimiter({ writesPerSecond: 1000, sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      }, random: () => 0.5 }),
    });
    const { signer } = await keys.keyFor('busy', 1, 'p256');
    kms.resetCalls();
    throttleSigns = 3;
    await expect(signer.sign(new Uint8Array([1, 2, 3]))).resolves.toBeInstanceOf(Uint8Array);
    expect(kms.calls()['Sign']).toBe(4);
    expect(sleeps.filter((ms) => ms >= 50)).toEqual([50, 100, 200]);
  });

  it('refuses an unsigned request, as KMS does', async () => {
    const stranger = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: { accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' }, maxAttempts: 1 });
    const keys = new KmsCaKeys({ client: () => Promise.resolve(stranger), limiter: new WriteLimiter({ maxAttempts: 1 }) });
    await expect(keys.keyFor('nope', 1, 'p256')).rejects.toThrow(/security token|UnrecognizedClient|signature/i);
    stranger.destroy();
  });
});
