import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SecretsManagerCertificateStore, clientRequestToken } from '../../lib/aws/secrets-manager-store.js';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { StoredDataError, ValidationError } from '../../lib/errors.js';
import { startLocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import type { InjectedFault, LocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import type { StoredCa, StoredLeaf } from '../../lib/ports.js';

/** Recognisable stand-ins: the store never parses PEM, and a leak of these is easy to spot. */
const KEY_MARKER = 'PRIVATE-KEY-MATERIAL-do-not-log';
const keyPem = (label: string): string => `-----BEGIN PRIVATE KEY-----\n${KEY_MARKER}-${label}\n-----END PRIVATE KEY-----\n`;
const certPem = (label: string): string => `-----BEGIN CERTIFICATE-----\n${label}\n-----END CERTIFICATE-----\n`;

let server: LocalSecretsManager;
let client: SecretsManagerClient;
let fault: ((operation: string) => InjectedFault | undefined) | undefined;
let counter = 0;
let prefix: string;
let store: SecretsManagerCertificateStore;

function newStore(options: { kmsKeyId?: string } = {}): SecretsManagerCertificateStore {
  return new SecretsManagerCertificateStore({ client, prefix, writeLimiter: new WriteLimiter({ writesPerSecond: 1000, baseDelayMs: 1, maxDelayMs: 5 }), ...options });
}

const leaf = (authority: string, id: string, version = 'v1'): StoredLeaf => ({
  authority,
  id,
  certificatePem: certPem(`${id}-${version}`),
  privateKeyPem: keyPem(`${id}-${version}`),
  bundlePem: certPem('bundle'),
});

async function versionCount(name: string): Promise<number> {
  const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
  return Object.keys(described.VersionIdsToStages ?? {}).length;
}

beforeAll(async () => {
  server = await startLocalSecretsManager({ faults: (operation) => fault?.(operation) });
  client = new SecretsManagerClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await server.stop();
});

beforeEach(() => {
  // Each test gets its own prefix, so tests never see each other's secrets.
  prefix = `certrotate-test-${++counter}`;
  store = newStore();
  fault = undefined;
  server.resetCalls();
});

describe('SecretsManagerCertificateStore layout', () => {
  it('stores CA generations, the bundle and leaves under the documented names, JSON keys and tags', async () => {
    const kmsStore = newStore({ kmsKeyId: 'alias/certrotate' });
    const ca: StoredCa = { authority: 'cluster', generation: 1, certificatePem: certPem('ca1'), privateKeyPem: keyPem('ca1') };
    await kmsStore.createCa(ca);
    await kmsStore.writeBundle('cluster', certPem('ca1'));
    await kmsStore.writeLeaf(leaf('cluster', 'api-server'));

    const caSecret = await client.send(new GetSecretValueCommand({ SecretId: `${prefix}/cluster/ca/1` }));
    expect(JSON.parse(caSecret.SecretString ?? '')).toEqual({ 'ca.crt': certPem('ca1'), 'ca.key': keyPem('ca1') });
    const bundle = await client.send(new GetSecretValueCommand({ SecretId: `${prefix}/cluster/bundle` }));
    expect(JSON.parse(bundle.SecretString ?? '')).toEqual({ 'ca.crt': certPem('ca1') });
    const leafSecret = await client.send(new GetSecretValueCommand({ SecretId: `${prefix}/cluster/leaf/api-server` }));
    expect(JSON.parse(leafSecret.SecretString ?? '')).toEqual({
      'tls.crt': certPem('api-server-v1'),
      'tls.key': keyPem('api-server-v1'),
      'ca.crt': certPem('bundle'),
    });

    const tagsOf = async (name: string): Promise<Record<string, string>> => {
      const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
      expect(described.KmsKeyId).toBe('alias/certrotate');
      return Object.fromEntries((described.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
    };
    expect(await tagsOf(`${prefix}/cluster/ca/1`)).toEqual({ 'certrotate:authority': 'cluster', 'certrotate:kind': 'ca', 'certrotate:generation': '1' });
    expect(await tagsOf(`${prefix}/cluster/bundle`)).toEqual({ 'certrotate:authority': 'cluster', 'certrotate:kind': 'bundle' });
    expect(await tagsOf(`${prefix}/cluster/leaf/api-server`)).toEqual({ 'certrotate:authority': 'cluster', 'certrotate:kind': 'leaf', 'certrotate:leaf': 'api-server' });
  });

  it('reads back what it wrote and answers undefined or absence for what does not exist', async () => {
    const ca: StoredCa = { authority: 'etcd', generation: 2, certificatePem: certPem('ca2'), privateKeyPem: keyPem('ca2') };
    await store.createCa(ca);
    await store.writeBundle('etcd', certPem('b'));
    await store.writeLeaf(leaf('etcd', 'peer-1'));
    expect(await store.readCa('etcd', 2)).toEqual(ca);
    expect(await store.readCa('etcd', 3)).toBeUndefined();
    expect(await store.readBundle('etcd')).toBe(certPem('b'));
    expect(await store.readBundle('other')).toBeUndefined();
    expect(await store.readLeaves('etcd', ['peer-1', 'peer-2'])).toMatchObject({ leaves: [leaf('etcd', 'peer-1')], unreadable: [] });
  });

  it('lists CA generations ascending and leaf ids of one authority only, across ListSecrets pages', async () => {
    for (const generation of [3, 1, 12, 2]) {
      await store.createCa({ authority: 'front-proxy', generation, certificatePem: certPem(`g${generation}`), privateKeyPem: keyPem(`g${generation}`) });
    }
    // Look-alikes that prefix matching alone would confuse: another authority whose name starts the same.
    await store.createCa({ authority: 'front-proxy-2', generation: 7, certificatePem: certPem('x'), privateKeyPem: keyPem('x') });
    for (let i = 0; i < 105; i += 1) await store.writeLeaf(leaf('front-proxy', `leaf-${String(i).padStart(3, '0')}`));
    await store.writeLeaf(leaf('front-proxy-2', 'intruder'));
    server.resetCalls();

    expect(await store.listCaGenerations('front-proxy')).toEqual([1, 2, 3, 12]);
    expect(await store.listCaGenerations('front-proxy-2')).toEqual([7]);
    const ids = await store.listLeafIds('front-proxy');
    expect(ids).toHaveLength(105);
    expect(ids).not.toContain('intruder');
    // 105 leaves need two pages of 100.
    expect(server.calls()['ListSecrets']).toBe(4);
  });

  it('reads each CA secret once while listings show its version current, and again once it changes, goes or the listing is old', async () => {
    let now = 1_000_000;
    const timed = new SecretsManagerCertificateStore({ client, prefix, writeLimiter: new WriteLimiter({ writesPerSecond: 1000, baseDelayMs: 1, maxDelayMs: 5 }), now: () => now });
    const ca = (generation: number, label: string): StoredCa => ({ authority: 'kube', generation, certificatePem: certPem(label), privateKeyPem: keyPem(label) });
    await timed.createCa(ca(1, 'ca1'));
    await timed.createCa(ca(2, 'ca2'));
    const tick = async (): Promise<Array<StoredCa | undefined>> => {
      const generations = await timed.listCaGenerations('kube');
      return Promise.all(generations.map((generation) => timed.readCa('kube', generation)));
    };
    server.resetCalls();
    expect(await tick()).toEqual([ca(1, 'ca1'), ca(2, 'ca2')]);
    expect(await tick()).toEqual([ca(1, 'ca1'), ca(2, 'ca2')]);
    expect(server.calls()).toEqual({ ListSecrets: 2, GetSecretValue: 2 });

    // Changed out of band (a bad restore): the listing shows a new current version, so it is read again.
    await client.send(new PutSecretValueCommand({ SecretId: `${prefix}/kube/ca/2`, SecretString: '{"ca.crt":"tampered"}' }));
    server.resetCalls();
    await expect(tick()).rejects.toBeInstanceOf(StoredDataError);
    expect(server.calls()['GetSecretValue']).toBe(1);

    // Scheduled for deletion: no longer listed, and a read without a listing asks Secrets Manager.
    await client.send(new DeleteSecretCommand({ SecretId: `${prefix}/kube/ca/1`, RecoveryWindowInDays: 7 }));
    expect(await timed.listCaGenerations('kube')).toEqual([2]);
    expect(await timed.readCa('kube', 1)).toBeUndefined();

    // A listing older than a minute vouches for nothing, nor one from the future (a clock set back).
    await client.send(new PutSecretValueCommand({ SecretId: `${prefix}/kube/ca/2`, SecretString: JSON.stringify({ 'ca.crt': certPem('ca2'), 'ca.key': keyPem('ca2') }) }));
    expect(await tick()).toEqual([ca(2, 'ca2')]);
    now += 61_000;
    server.resetCalls();
    expect(await timed.readCa('kube', 2)).toEqual(ca(2, 'ca2'));
    expect(server.calls()).toEqual({ GetSecretValue: 1 });
    expect(await timed.listCaGenerations('kube')).toEqual([2]);
    now -= 2 * 3_600_000;
    server.resetCalls();
    expect(await timed.readCa('kube', 2)).toEqual(ca(2, 'ca2'));
    expect(server.calls()).toEqual({ GetSecretValue: 1 });
  });

  it('ignores a secret scheduled for deletion when reading, and restores it when writing', async () => {
    await store.writeLeaf(leaf('cluster', 'gone'));
    await client.send(new DeleteSecretCommand({ SecretId: `${prefix}/cluster/leaf/gone`, RecoveryWindowInDays: 7 }));
    expect(await store.readLeaves('cluster', ['gone'])).toEqual({ leaves: [], unreadable: [] });
    expect(await store.listLeafIds('cluster')).toEqual([]);
    await store.writeLeaf(leaf('cluster', 'gone', 'v2'));
    expect((await store.readLeaves('cluster', ['gone'])).leaves).toMatchObject([leaf('cluster', 'gone', 'v2')]);
  });

  it('refuses names that would break the layout', async () => {
    await expect(store.writeLeaf(leaf('cluster', 'a/b'))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.readCa('cluster', 0)).rejects.toBeInstanceOf(ValidationError);
    expect(server.calls()).toEqual({});
  });
});

describe('SecretsManagerCertificateStore writes', () => {
  it('skips a write whose content is already current, so a retried write is a no-op', async () => {
    const name = `${prefix}/cluster/leaf/web`;
    await store.writeLeaf(leaf('cluster', 'web'));
    await store.writeLeaf(leaf('cluster', 'web', 'v2'));
    expect(await versionCount(name)).toBe(2);
    server.resetCalls();
    await store.writeLeaf(leaf('cluster', 'web', 'v2'));
    expect(await versionCount(name)).toBe(2);
    expect(server.calls()['PutSecretValue']).toBeUndefined();
    expect(server.calls()['CreateSecret']).toBeUndefined();
  });

  it('uses a deterministic token, so a write retried after a lost response lands once', async () => {
    const name = `${prefix}/cluster/bundle`;
    await store.writeBundle('cluster', certPem('1'));
    const before = await client.send(new GetSecretValueCommand({ SecretId: name }));
    // The first PutSecretValue lands but the caller sees a failure (a timeout, say); it retries.
    const content = JSON.stringify({ 'ca.crt': certPem('1') + certPem('2') });
    const token = clientRequestToken(name, content, before.VersionId);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: content, ClientRequestToken: token }));
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: content, ClientRequestToken: token }));
    await store.writeBundle('cluster', certPem('1') + certPem('2'));
    expect(await versionCount(name)).toBe(2);
    expect((await client.send(new GetSecretValueCommand({ SecretId: name }))).VersionId).toBe(token);
  });

  it('makes recurring content current again: bundle [1] -> [1,2] -> [1] after a rollback', async () => {
    const name = `${prefix}/cluster/bundle`;
    await store.writeBundle('cluster', certPem('1'));
    const first = await client.send(new GetSecretValueCommand({ SecretId: name }));
    await store.writeBundle('cluster', certPem('1') + certPem('2'));
    await store.writeBundle('cluster', certPem('1'));
    expect(await store.readBundle('cluster')).toBe(certPem('1'));
    const current = await client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(current.VersionId).not.toBe(first.VersionId);
    const previous = await client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    expect(JSON.parse(previous.SecretString ?? '')).toEqual({ 'ca.crt': certPem('1') + certPem('2') });
  });

  it('createCa keeps the first CA of a generation and returns it to a second creator', async () => {
    const first: StoredCa = { authority: 'cluster', generation: 4, certificatePem: certPem('first'), privateKeyPem: keyPem('first') };
    const second: StoredCa = { ...first, certificatePem: certPem('second'), privateKeyPem: keyPem('second') };
    expect(await store.createCa(first)).toEqual(first);
    expect(await store.createCa(second)).toEqual(first);
    expect(await store.readCa('cluster', 4)).toEqual(first);
    expect(await versionCount(`${prefix}/cluster/ca/4`)).toBe(1);
  });

  it('createCa run twice at once yields one CA', async () => {
    const a: StoredCa = { authority: 'cluster', generation: 5, certificatePem: certPem('a'), privateKeyPem: keyPem('a') };
    const b: StoredCa = { ...a, certificatePem: certPem('b'), privateKeyPem: keyPem('b') };
    const [ra, rb] = await Promise.all([store.createCa(a), newStore().createCa(b)]);
    expect(ra).toEqual(rb);
    expect(await store.readCa('cluster', 5)).toEqual(ra);
  });

  it('a throttled write is retried by the limiter and lands', async () => {
    let throttled = 0;
    fault = (operation) => (operation === 'PutSecretValue' && throttled++ < 2 ? { type: 'ThrottlingException', message: 'Rate exceeded' } : undefined);
    await store.writeBundle('cluster', certPem('1'));
    await store.writeBundle('cluster', certPem('1') + certPem('2'));
    expect(throttled).toBe(3);
    expect(server.calls()['PutSecretValue']).toBe(3);
    expect(await store.readBundle('cluster')).toBe(certPem('1') + certPem('2'));
  });

  it('passes other vendor errors through unchanged', async () => {
    fault = (operation) => (operation === 'GetSecretValue' ? { type: 'DecryptionFailure', message: 'KMS says no' } : undefined);
    await expect(store.readBundle('cluster')).rejects.toMatchObject({ name: 'DecryptionFailure' });
  });
});

describe('SecretsManagerCertificateStore batch reads', () => {
  it('reads 45 leaves with three BatchGetSecretValue calls', async () => {
    const ids = Array.from({ length: 45 }, (_, i) => `svc-${i}`);
    for (const id of ids) await store.writeLeaf(leaf('cluster', id));
    server.resetCalls();
    const { leaves, unreadable } = await store.readLeaves('cluster', [...ids, 'never-written']);
    expect(unreadable).toEqual([]);
    expect(leaves.map((l) => l.id)).toEqual(ids);
    expect(leaves[44]).toMatchObject(leaf('cluster', 'svc-44'));
    expect(server.calls()).toEqual({ BatchGetSecretValue: 3 });
    server.resetCalls();
    const first = leaves[0];
    if (first === undefined) throw new Error('no leaf read');
    await store.writeLeaf({ ...first, bundlePem: certPem('other') }, first.versionId);
    expect(server.calls()).toEqual({ PutSecretValue: 1 });
    expect((await store.readLeaves('cluster', ['svc-0'])).leaves[0]?.bundlePem).toBe(certPem('other'));
  });

  it('retries throttled BatchGetSecretValue and ListSecrets calls through its read limiters, once per retry, and returns every leaf', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `paced-${i}`);
    for (const id of ids) await store.writeLeaf(leaf('paced', id));
    server.resetCalls();
    const refusals = new Map([
      ['BatchGetSecretValue', 3],
      ['ListSecrets', 2],
    ]);
    fault = (operation) => {
      const left = refusals.get(operation) ?? 0;
      if (left === 0) return undefined;
      refusals.set(operation, left - 1);
      return { type: 'ThrottlingException', message: 'Rate exceeded' };
    };
    expect(await store.listLeafIds('paced')).toEqual([...ids].sort());
    const { leaves, unreadable } = await store.readLeaves('paced', ids);
    fault = undefined;
    expect(unreadable).toEqual([]);
    expect(leaves.map((l) => l.id)).toEqual(ids);
    // Two batches of 20 and 10, three refusals among them; one list page, refused twice.
    expect(server.calls()).toEqual({ BatchGetSecretValue: 5, ListSecrets: 3 });
  });

  it('reports malformed leaf secrets as unreadable, reads the others, and never leaks key material', async () => {
    for (const id of ['good-1', 'good-2']) await store.writeLeaf(leaf('cluster', id));
    const tags = [
      { Key: 'certrotate:authority', Value: 'cluster' },
      { Key: 'certrotate:kind', Value: 'leaf' },
    ];
    // Truncated JSON: V8's JSON.parse error would quote this text, key included.
    await client.send(new CreateSecretCommand({ Name: `${prefix}/cluster/leaf/truncated`, SecretString: `{"tls.crt":"x","tls.key":"${KEY_MARKER}`, Tags: tags }));
    await client.send(new CreateSecretCommand({ Name: `${prefix}/cluster/leaf/no-key`, SecretString: JSON.stringify({ 'tls.crt': certPem('c'), 'ca.crt': certPem('b') }), Tags: tags }));
    await client.send(new CreateSecretCommand({ Name: `${prefix}/cluster/leaf/array`, SecretString: JSON.stringify([keyPem('arr')]), Tags: tags }));
    await client.send(new CreateSecretCommand({ Name: `${prefix}/cluster/leaf/binary`, SecretBinary: Buffer.from(KEY_MARKER), Tags: tags }));

    const { leaves, unreadable } = await store.readLeaves('cluster', ['good-1', 'truncated', 'no-key', 'array', 'binary', 'good-2']);
    expect(leaves.map((l) => l.id)).toEqual(['good-1', 'good-2']);
    expect(unreadable.map((u) => u.id)).toEqual(['truncated', 'no-key', 'array', 'binary']);
    expect(unreadable.find((u) => u.id === 'truncated')?.problem).toMatch(/not valid JSON/);
    expect(unreadable.find((u) => u.id === 'no-key')?.problem).toMatch(/tls\.key/);
    for (const entry of unreadable) {
      expect(entry.problem).toContain(`${prefix}/cluster/leaf/${entry.id}`);
      expect(entry.problem).not.toContain(KEY_MARKER);
    }
  });

  it('names a malformed CA or bundle secret in a StoredDataError (not the caller\'s mistake) without its content', async () => {
    await client.send(new CreateSecretCommand({ Name: `${prefix}/cluster/ca/1`, SecretString: `{"ca.crt":"c","ca.key":"${KEY_MARKER}` }));
    await client.send(new CreateSecretCommand({ Name: `${prefix}/cluster/bundle`, SecretString: JSON.stringify({ 'ca.key': keyPem('b') }) }));
    const errors = await Promise.all([
      store.readCa('cluster', 1).catch((error: unknown) => error),
      store.createCa({ authority: 'cluster', generation: 1, certificatePem: certPem('n'), privateKeyPem: keyPem('n') }).catch((error: unknown) => error),
      store.readBundle('cluster').catch((error: unknown) => error),
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(StoredDataError);
      expect(String(error)).not.toContain(KEY_MARKER);
      expect(JSON.stringify(error)).not.toContain(KEY_MARKER);
    }
    expect(String(errors[0])).toContain(`${prefix}/cluster/ca/1`);
    // The stored CA was not overwritten.
    expect(await versionCount(`${prefix}/cluster/ca/1`)).toBe(1);
  });

  it('lists nothing for an authority with no secrets', async () => {
    expect(await store.listCaGenerations('empty')).toEqual([]);
    expect(await store.listLeafIds('empty')).toEqual([]);
    expect((await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [`${prefix}/`] }] }))).SecretList).toEqual([]);
  });
});
