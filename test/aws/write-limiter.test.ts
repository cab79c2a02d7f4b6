import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteLimiter, isThrottlingError, isTransientError } from '../../lib/aws/write-limiter.js';
import { startLocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import type { InjectedFault, LocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import { virtualTime } from '../support/virtual-time.js';

describe('WriteLimiter', () => {
  it('never lets more than writesPerSecond writes start in any one-second window', async () => {
    const time = virtualTime();
    const limiter = new WriteLimiter({ writesPerSecond: 20, now: time.now, sleep: time.sleep, random: () => 0.5 });
    const starts: number[] = [];
    const writes = Array.from({ length: 130 }, () =>
      limiter.run(() => {
        starts.push(time.now());
        return Promise.resolve();
      }),
    );
    await time.run(Promise.all(writes));
    expect(starts).toHaveLength(130);
    for (const start of starts) {
      const inWindow = starts.filter((t) => t >= start && t < start + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(20);
    }
    // And it is not slower than it must be: 130 writes at 20/s take 6.45 s.
    expect(Math.max(...starts)).toBeCloseTo(129 * 50, 6);
  });

  it('allows a configured burst, then falls back to the rate', async () => {
    const time = virtualTime();
    const limiter = new WriteLimiter({ writesPerSecond: 10, burst: 5, now: time.now, sleep: time.sleep });
    const starts: number[] = [];
    await time.run(Promise.all(Array.from({ length: 8 }, () => limiter.run(() => Promise.resolve(starts.push(time.now()))))));
    expect(starts).toEqual([0, 0, 0, 0, 0, 100, 200, 300]);
  });

  it('retries throttling with exponential backoff and full jitter, and throws other errors at once', async () => {
    const time = virtualTime();
    const limiter = new WriteLimiter({ writesPerSecond: 1000, baseDelayMs: 100, maxDelayMs: 350, now: time.now, sleep: time.sleep, random: () => 0.5 });
    let attempts = 0;
    const throttle = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const result = await time.run(
      limiter.run(() => {
        attempts += 1;
        return attempts <= 4 ? Promise.reject(throttle) : Promise.resolve('landed');
      }),
    );
    expect(result).toBe('landed');
    // Ceilings 100, 200, 350 (capped), 350; half of each with random() = 0.5. Rate waits are 1 ms.
    expect(time.sleeps.filter((ms) => ms > 1)).toEqual([50, 100, 175, 175]);

    let other = 0;
    await expect(
      time.run(
        limiter.run(() => {
          other += 1;
          return Promise.reject(new Error('AccessDeniedException'));
        }),
      ),
    ).rejects.toThrow('AccessDeniedException');
    expect(other).toBe(1);
  });

  it('gives up after maxAttempts and throws the last throttling error rather than dropping the write silently', async () => {
    const time = virtualTime();
    const limiter = new WriteLimiter({ maxAttempts: 3, now: time.now, sleep: time.sleep, random: () => 0 });
    let attempts = 0;
    const limit = Object.assign(new Error('quota'), { name: 'LimitExceededException' });
    await expect(time.run(limiter.run(() => Promise.reject(limit).finally(() => (attempts += 1))))).rejects.toBe(limit);
    expect(attempts).toBe(3);
  });

  it.each([
    ['a dropped connection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a request timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
    ['a 500 answer', Object.assign(new Error('boom'), { name: 'InternalServiceError', $metadata: { httpStatusCode: 500 } })],
    ['a 503 answer', Object.assign(new Error('busy'), { name: 'Unknown', $metadata: { httpStatusCode: 503 } })],
  ])('retries a write after %s (writes are idempotent by ClientRequestToken), so one network blip does not fail the run', async (_name, transient) => {
    const time = virtualTime();
    const limiter = new WriteLimiter({ now: time.now, sleep: time.sleep, random: () => 0 });
    let attempts = 0;
    const result = await time.run(limiter.run(() => (++attempts <= 2 ? Promise.reject(transient) : Promise.resolve('landed'))));
    expect(result).toBe('landed');
    expect(attempts).toBe(3);
    expect(isTransientError(transient)).toBe(true);
    expect(isTransientError(Object.assign(new Error('no'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }))).toBe(false);
  });

  it('gives up on transient failures after maxTransientAttempts while still retrying throttling up to maxAttempts', async () => {
    const time = virtualTime();
    const limiter = new WriteLimiter({ maxAttempts: 10, maxTransientAttempts: 3, now: time.now, sleep: time.sleep, random: () => 0 });
    const timeout = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
    const throttle = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    let attempts = 0;
    await expect(time.run(limiter.run(() => Promise.reject(timeout).finally(() => (attempts += 1))))).rejects.toBe(timeout);
    expect(attempts).toBe(3);
    // Throttles in between do not count against the transient attempts.
    attempts = 0;
    const answers = [throttle, timeout, throttle, throttle, timeout, throttle];
    const result = await time.run(
      limiter.run(() => {
        const answer = answers[attempts];
        attempts += 1;
        return answer === undefined ? Promise.resolve('landed') : Promise.reject(answer);
      }),
    );
    expect(result).toBe('landed');
    expect(attempts).toBe(7);
  });

  it('recognises HTTP 429 as throttling', () => {
    expect(isThrottlingError(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 429 } }))).toBe(true);
    expect(isThrottlingError(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isThrottlingError('ThrottlingException')).toBe(false);
  });
});

describe('WriteLimiter against the local Secrets Manager', () => {
  let server: LocalSecretsManager;
  let fault: ((operation: string) => InjectedFault | undefined) | undefined;

  beforeAll(async () => {
    server = await startLocalSecretsManager({ faults: (operation) => fault?.(operation) });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('retries a throttled write until it lands', async () => {
    // maxAttempts 1: the SDK's own retry is off, so what retries here is the limiter.
    const client = new SecretsManagerClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
    let throttled = 0;
    fault = (operation) => {
      if (operation !== 'CreateSecret' || throttled >= 3) return undefined;
      throttled += 1;
      return throttled === 3 ? { type: 'TooManyRequestsException', message: 'slow down', status: 429 } : { type: 'ThrottlingException', message: 'Rate exceeded' };
    };
    const limiter = new WriteLimiter({ baseDelayMs: 1, maxDelayMs: 5 });
    await limiter.run(() => client.send(new CreateSecretCommand({ Name: 'limiter/landed', SecretString: 'yes' })));
    expect(throttled).toBe(3);
    expect(server.calls()['CreateSecret']).toBe(4);
    expect((await client.send(new GetSecretValueCommand({ SecretId: 'limiter/landed' }))).SecretString).toBe('yes');
    client.destroy();
  });
});
