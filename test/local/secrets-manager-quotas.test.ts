import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import { RequestQuotas, SECRETS_MANAGER_QUOTAS } from '../../lib/local/secrets-manager/quotas.js';

let server: LocalSecretsManager | undefined;
let client: SecretsManagerClient | undefined;

async function start(options: Parameters<typeof startLocalSecretsManager>[0]): Promise<{ server: LocalSecretsManager; client: SecretsManagerClient }> {
  server = await startLocalSecretsManager(options);
  // One attempt per call: what we see is what the endpoint answered, not the SDK's retries.
  client = new SecretsManagerClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
  return { server, client };
}

afterEach(async () => {
  client?.destroy();
  await server?.stop();
  server = undefined;
  client = undefined;
});

describe('the local Secrets Manager request quotas', () => {
  it('lists the documented rates', () => {
    expect(SECRETS_MANAGER_QUOTAS['valueWrites']?.perSecond).toBe(50);
    expect(SECRETS_MANAGER_QUOTAS['valueWrites']?.operations).toEqual(expect.arrayContaining(['PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage']));
    expect(SECRETS_MANAGER_QUOTAS['batchGet']?.perSecond).toBe(100);
    expect(SECRETS_MANAGER_QUOTAS['reads']?.perSecond).toBe(10_000);
    expect(new RequestQuotas({ scale: 4 }).rateOf('PutSecretValue')).toBe(200);
    expect(new RequestQuotas({ scale: 0.001 }).rateOf('PutSecretValue')).toBe(1);
    expect(() => new RequestQuotas({ scale: 0 })).toThrow(RangeError);
  });

  it('counts the requests it admits per quota group and clock second, and the refused ones per operation', () => {
    const quotas = new RequestQuotas({ scale: 1, perSecond: { batchGet: 3 } });
    const at = 1_000_000;
    for (let i = 0; i < 5; i++) {
      try {
        quotas.admit('BatchGetSecretValue', at + i);
      } catch {
        // refused: counted below
      }
    }
    quotas.admit('GetSecretValue', at);
    quotas.admit('DescribeSecret', at + 1);
    quotas.admit('BatchGetSecretValue', at + 1_000);
    const counts = quotas.counts();
    expect(counts.throttled).toEqual({ BatchGetSecretValue: 2 });
    expect([...(counts.admittedPerSecond.get('batchGet') ?? [])]).toEqual([
      [1000, 3],
      [1001, 1],
    ]);
    expect([...(counts.admittedPerSecond.get('reads') ?? [])]).toEqual([[1000, 2]]);
    expect(counts.writesPerSecond.size).toBe(0);
  });

  it('refuses writes over the quota with ThrottlingException, HTTP 400, "Rate exceeded", and does not apply them', async () => {
    const local = await start({ quotas: { scale: 1, perSecond: { valueWrites: 10 } } });
    await local.client.send(new CreateSecretCommand({ Name: 'quota/a', SecretString: 'v0' }));
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, (_, i) => local.client.send(new PutSecretValueCommand({ SecretId: 'quota/a', SecretString: `v${i + 1}` }))),
    );
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(refused).toHaveLength(15);
    for (const error of refused) {
      expect(error).toBeInstanceOf(SecretsManagerServiceException);
      const aws = error as SecretsManagerServiceException;
      expect(aws.name).toBe('ThrottlingException');
      expect(aws.message).toBe('Rate exceeded');
      expect(aws.$metadata.httpStatusCode).toBe(400);
    }
    expect(local.server.quotaCounts().throttled['PutSecretValue']).toBe(15);
    // Reads have their own (much larger) quota: the secret holds one of the admitted values.
    const current = await local.client.send(new GetSecretValueCommand({ SecretId: 'quota/a' }));
    const admitted = results.flatMap((r, i) => (r.status === 'fulfilled' ? [`v${i + 1}`] : []));
    expect(admitted).toContain(current.SecretString);
    // A second later the window has moved on.
    await new Promise((resolve) => setTimeout(resolve, 1050));
    await expect(local.client.send(new PutSecretValueCommand({ SecretId: 'quota/a', SecretString: 'later' }))).resolves.toBeDefined();
  });

  it('counts admitted writes per second, never more than the quota', async () => {
    const local = await start({ quotas: { scale: 0.2 } }); // valueWrites 10/s, createDelete 10/s
    const tries = Array.from({ length: 40 }, (_, i) => local.client.send(new CreateSecretCommand({ Name: `quota/c${i}`, SecretString: 'x' })).then(() => 'ok', () => 'throttled'));
    const outcome = await Promise.all(tries);
    expect(outcome.filter((o) => o === 'ok')).toHaveLength(10);
    const perSecond = [...local.server.quotaCounts().writesPerSecond.values()];
    expect(perSecond.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...perSecond)).toBeLessThanOrEqual(10);
  });

  it('answers after the configured latency', async () => {
    const local = await start({ latencyMs: 80 });
    const started = performance.now();
    await local.client.send(new CreateSecretCommand({ Name: 'quota/slow', SecretString: 'x' }));
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });

  it('has no quota unless asked', async () => {
    const local = await start({});
    await local.client.send(new CreateSecretCommand({ Name: 'quota/free', SecretString: 'x' }));
    const results = await Promise.allSettled(Array.from({ length: 120 }, (_, i) => local.client.send(new PutSecretValueCommand({ SecretId: 'quota/free', SecretString: `v${i}` }))));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
  });
});
