import { afterEach, describe, expect, it } from 'vitest';
import { composeDeps } from '../../lib/handlers/compose.js';
import { ConfigurationError, readHandlerEnv } from '../../lib/handlers/env.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { T0 } from '../support/pki.js';
import { captureOutput, endpointOf, fixture, lambdaContext } from './support.js';

const CONFIG = JSON.stringify({ authorities: [{ name: 'cluster' }], leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 7 }] });
const BASE = { AWS_REGION: 'eu-west-1', CERTROTATE_TABLE_NAME: 'certrotate-state', CERTROTATE_CONFIG: CONFIG };

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

/** Runs the scan handler's reconcile on the composed deps: authority cluster Stable, its one leaf issued. */
async function expectOneLeafIssued(deps: ReturnType<typeof composeDeps>): Promise<void> {
  const { createHandler } = await import('../../functions/scan.js');
  const output = captureOutput();
  try {
    const response = await createHandler({ clock: { now: () => T0 }, deps: () => deps })(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
    expect(response).toMatchObject({ ok: true, authorities: [{ authority: 'cluster', phase: 'Stable', renewed: 1 }] });
  } finally {
    output.restore();
  }
}

describe('the function environment', () => {
  it('reads a complete environment with its defaults', () => {
    expect(readHandlerEnv(BASE)).toMatchObject({ tableName: 'certrotate-state', secretPrefix: 'certrotate', kmsKeyId: undefined, writesPerSecond: 20, region: 'eu-west-1', endpoints: {} });
  });

  it('names every problem at once: a typo, a missing table, a rate over the quota, two config sources', () => {
    const read = () =>
      readHandlerEnv({ AWS_REGION: 'eu-west-1', CERTROTATE_TABEL_NAME: 'x', CERTROTATE_WRITES_PER_SECOND: '80', CERTROTATE_CONFIG: CONFIG, CERTROTATE_CONFIG_FILE: '/var/task/c.json' });
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(/CERTROTATE_TABEL_NAME: unknown variable[\s\S]*CERTROTATE_TABLE_NAME: expected a string[\s\S]*must be at most 50, got 80[\s\S]*set exactly one/);
  });

  it('refuses an invalid configuration document', () => {
    expect(() => readHandlerEnv({ ...BASE, CERTROTATE_CONFIG: '{"authorities": [], "leafs": []}' })).toThrow(/config\.leafs: unknown key/);
    expect(() => readHandlerEnv({ ...BASE, CERTROTATE_CONFIG: '{' })).toThrow(/CERTROTATE_CONFIG is not valid JSON/);
  });

  it('composes the production adapters from the environment, pointed at the local endpoints', async () => {
    env = await startLocalEnvironment();
    const handlerEnv = readHandlerEnv({
      ...BASE,
      AWS_REGION: env.secretsManager.region,
      CERTROTATE_TABLE_NAME: env.tableName,
      CERTROTATE_SECRET_PREFIX: 'certrotate',
      CERTROTATE_DYNAMODB_ENDPOINT: await endpointOf(env),
      CERTROTATE_SECRETS_MANAGER_ENDPOINT: env.secretsManager.endpoint,
      // The configuration names no caKeyStore: its CA key is a KMS key (the default).
      CERTROTATE_KMS_ENDPOINT: env.kms.server.endpoint,
    });
    await expectOneLeafIssued(composeDeps(handlerEnv, { credentials: env.secretsManager.credentials }));
    expect(await env.certificates.listLeafIds('cluster')).toEqual(['api']);
    expect((await env.certificates.readCa('cluster', 1))?.keyArn).toMatch(/^arn:aws:kms:/);
  });

  it('refuses an authority on leafStore s3 without CERTROTATE_LEAF_BUCKET, and a bucket name S3 would refuse', () => {
    const onS3 = JSON.stringify({ ...JSON.parse(CONFIG), authorities: [{ name: 'cluster', leafStore: 's3' }] });
    expect(() => readHandlerEnv({ ...BASE, CERTROTATE_CONFIG: onS3 })).toThrow(/CERTROTATE_LEAF_BUCKET is not set, but authorities cluster have leafStore "s3"/);
    expect(() => readHandlerEnv({ ...BASE, CERTROTATE_CONFIG: onS3, CERTROTATE_LEAF_BUCKET: 'Leaves_Bucket' })).toThrow(/CERTROTATE_LEAF_BUCKET: .*S3 bucket name/);
    expect(readHandlerEnv({ ...BASE, CERTROTATE_CONFIG: onS3, CERTROTATE_LEAF_BUCKET: 'certrotate-leaves', CERTROTATE_S3_ENDPOINT: 'http://127.0.0.1:9000' })).toMatchObject({ leafBucket: 'certrotate-leaves', endpoints: { s3: 'http://127.0.0.1:9000' } });
  });

  it('composes a scan that writes an s3 authority\'s leaves to the leaf bucket and nothing else to Secrets Manager but its CA and bundle', async () => {
    env = await startLocalEnvironment({ leafBucket: true });
    const bucket = env.leafBucket;
    if (bucket === undefined) throw new Error('no leaf bucket');
    const handlerEnv = readHandlerEnv({
      ...BASE,
      CERTROTATE_CONFIG: JSON.stringify({ ...JSON.parse(CONFIG), authorities: [{ name: 'cluster', leafStore: 's3', caKeyStore: 'secret' }] }),
      AWS_REGION: env.secretsManager.region,
      CERTROTATE_TABLE_NAME: env.tableName,
      CERTROTATE_DYNAMODB_ENDPOINT: await endpointOf(env),
      CERTROTATE_SECRETS_MANAGER_ENDPOINT: env.secretsManager.endpoint,
      CERTROTATE_LEAF_BUCKET: bucket.bucket,
      CERTROTATE_S3_ENDPOINT: bucket.s3.endpoint,
    });
    await expectOneLeafIssued(composeDeps(handlerEnv, { credentials: env.secretsManager.credentials }));
    expect(await bucket.store.listLeafIds('cluster')).toEqual(['api']);
    expect(await env.secrets.listLeafIds('cluster')).toEqual([]);
    expect(await env.secrets.listCaGenerations('cluster')).toEqual([1]);
  });
});
