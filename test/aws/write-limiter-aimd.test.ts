import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import { virtualTime } from '../support/virtual-time.js';

const throttle = (): Error => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

describe('WriteLimiter adapting to throttling (AIMD)', () => {
  it('two runs that each think they may write 40/s share a 20/s quota: nothing lost, the quota kept busy, few throttles', async () => {
    const time = virtualTime();
    const admitted: number[] = [];
    let refused = 0;
    // The service: at most 20 writes in any sliding second, as the local endpoint enforces.
    const service = (): Promise<void> => {
      const now = time.now();
      if (admitted.filter((t) => t > now - 1000).length >= 20) {
        refused += 1;
        return Promise.reject(throttle());
      }
      admitted.push(now);
      return Promise.resolve();
    };
    const options = { writesPerSecond: 40, maxWritesPerSecond: 40, now: time.now, sleep: time.sleep, baseDelayMs: 50, maxDelayMs: 1000 };
    const scan = new WriteLimiter(options);
    const advance = new WriteLimiter(options);
    const runs = [scan, advance].map((limiter) => Promise.all(Array.from({ length: 300 }, () => limiter.run(service))));
    await time.run(Promise.all(runs));

    expect(admitted).toHaveLength(600);
    expect(scan.stats().failed + advance.stats().failed).toBe(0);
    const seconds = Math.max(...admitted) / 1000;
    // 600 writes at 20/s need 30 s; the pair keeps the quota at least 80% busy.
    expect(600 / seconds).toBeGreaterThanOrEqual(0.8 * 20);
    // Throttles happen (that is how they learn the quota; each run starts at twice its share) but stay a minority of attempts.
    expect(refused).toBe(scan.stats().throttled + advance.stats().throttled);
    expect(refused).toBeLessThan(0.35 * 600);
    expect(scan.stats().rate + advance.stats().rate).toBeLessThan(80);
  });

  /**
   * AWS's quota counted over any sliding second, reached after 0-30 ms of (seeded) network jitter:
   * writes spaced exactly at the quota can still arrive closer than that and meet a throttle.
   */
  function jitteryQuota(time: ReturnType<typeof virtualTime>, perSecond: number) {
    const admitted: number[] = [];
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const write = async (): Promise<void> => {
      await time.sleep(random() * 30);
      const now = time.now();
      const recent = admitted.length >= perSecond ? admitted[admitted.length - perSecond] : undefined;
      if (recent !== undefined && recent > now - 1000) throw throttle();
      admitted.push(now);
    };
    return { admitted, write, random };
  }

  it('alone, from 40% of the quota, keeps the quota at least 90% busy (one run may fill it)', async () => {
    const time = virtualTime();
    const quota = jitteryQuota(time, 50);
    const limiter = new WriteLimiter({ writesPerSecond: 20, maxWritesPerSecond: 50, maxInFlight: 32, now: time.now, sleep: time.sleep, random: quota.random });
    await time.run(Promise.all(Array.from({ length: 5000 }, () => limiter.run(quota.write))));
    expect(quota.admitted).toHaveLength(5000);
    expect(limiter.stats().failed).toBe(0);
    expect(5000 / (time.now() / 1000)).toBeGreaterThanOrEqual(0.9 * 50);
    expect(limiter.stats().throttled).toBeLessThan(0.05 * 5000);
  });

  it('two runs that may each fill the quota share it at least 90% busy, with throttles a small minority', async () => {
    const time = virtualTime();
    const quota = jitteryQuota(time, 50);
    const limiters = [0, 1].map(() => new WriteLimiter({ writesPerSecond: 20, maxWritesPerSecond: 50, maxInFlight: 32, now: time.now, sleep: time.sleep, random: quota.random }));
    await time.run(Promise.all(limiters.map((limiter) => Promise.all(Array.from({ length: 1500 }, () => limiter.run(quota.write))))));
    expect(quota.admitted).toHaveLength(3000);
    expect(limiters.map((limiter) => limiter.stats().failed)).toEqual([0, 0]);
    expect(3000 / (time.now() / 1000)).toBeGreaterThanOrEqual(0.9 * 50);
    expect(limiters.reduce((sum, limiter) => sum + limiter.stats().throttled, 0)).toBeLessThan(0.1 * 3000);
  });

  it('climbs back to its ceiling once throttling stops', async () => {
    const time = virtualTime();
    let fail = 3;
    const limiter = new WriteLimiter({ writesPerSecond: 10, maxWritesPerSecond: 10, increasePerSecond: 1, now: time.now, sleep: time.sleep, baseDelayMs: 1, maxDelayMs: 1 });
    await time.run(limiter.run(() => (fail-- > 0 ? Promise.reject(throttle()) : Promise.resolve())));
    const cut = limiter.stats().rate;
    expect(cut).toBeLessThan(10);
    await time.run(Promise.all(Array.from({ length: 200 }, () => limiter.run(() => Promise.resolve()))));
    expect(limiter.stats().rate).toBe(10);
  });

  it('keeps at most maxInFlight writes outstanding', async () => {
    const limiter = new WriteLimiter({ writesPerSecond: 10_000, maxInFlight: 3 });
    let inFlight = 0;
    let peak = 0;
    const write = async (): Promise<void> => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
    };
    await Promise.all(Array.from({ length: 30 }, () => limiter.run(write)));
    expect(peak).toBe(3);
  });
});

describe('two runs at once against the quota-enforcing local Secrets Manager', () => {
  const QUOTA = 100;
  let server: LocalSecretsManager;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    server = await startLocalSecretsManager({ quotas: { scale: 10, perSecond: { valueWrites: QUOTA } } });
    client = new SecretsManagerClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
    const setup = new WriteLimiter({ writesPerSecond: 400 });
    await Promise.all(Array.from({ length: 400 }, (_, i) => setup.run(() => client.send(new CreateSecretCommand({ Name: `pair/${i}`, SecretString: 'old' })))));
    server.resetCalls();
  });
  afterAll(async () => {
    client.destroy();
    await server.stop();
  });

  it('stays within the write quota and loses no write', async () => {
    // Each run starts at half the quota and may climb to all of it: together they must find half each.
    const runs = [0, 1].map((run) => {
      const limiter = new WriteLimiter({ writesPerSecond: QUOTA / 2, maxWritesPerSecond: QUOTA, baseDelayMs: 20, maxDelayMs: 500 });
      const ids = Array.from({ length: 200 }, (_, i) => run * 200 + i);
      return Promise.all(ids.map((i) => limiter.run(() => client.send(new PutSecretValueCommand({ SecretId: `pair/${i}`, SecretString: `new-${i}` }))))).then(() => limiter.stats());
    });
    const stats = await Promise.all(runs);

    expect(stats.map((s) => s.failed)).toEqual([0, 0]);
    const values = await Promise.all(Array.from({ length: 400 }, (_, i) => client.send(new GetSecretValueCommand({ SecretId: `pair/${i}` }))));
    expect(values.filter((v, i) => v.SecretString !== `new-${i}`)).toEqual([]);
    const counts = server.quotaCounts();
    const perSecond = [...counts.writesPerSecond.values()];
    expect(perSecond.reduce((a, b) => a + b, 0)).toBe(400);
    expect(Math.max(...perSecond)).toBeLessThanOrEqual(QUOTA);
    expect(counts.throttled['PutSecretValue'] ?? 0).toBe(stats.reduce((sum, s) => sum + s.throttled, 0));
    expect(counts.throttled['PutSecretValue'] ?? 0).toBeLessThan(0.25 * 400);
  });
});
