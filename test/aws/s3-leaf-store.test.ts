import * as sdk from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3LeafStore } from '../../lib/aws/s3-leaf-store.js';
import { AwsError } from '../../lib/local/kit/aws-error.js';
import { startLocalS3, type LocalS3 } from '../../lib/local/s3/server.js';
import { s3LeafStoreSuite } from './s3-leaf-store.suite.js';

let s3: LocalS3;
let client: sdk.S3Client;
let denied: string | undefined;

beforeAll(async () => {
  s3 = await startLocalS3({ faults: (operation, _bucket, key) => (operation === 'GetObject' && key === denied ? new AwsError('AccessDenied', 'Access Denied', 403) : undefined) });
  client = new sdk.S3Client({ region: s3.region, endpoint: s3.endpoint, credentials: s3.credentials, forcePathStyle: true, maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await s3.stop();
});

s3LeafStoreSuite('local S3', () => ({ client, puts: () => s3.calls().PutObject ?? 0 }));

describe('S3LeafStore against the local S3', () => {
  it('reports an object S3 refuses to return (AccessDenied: a KMS key it cannot use) as unreadable, and reads the rest', async () => {
    await client.send(new sdk.CreateBucketCommand({ Bucket: 'denied-leaves' }));
    const store = new S3LeafStore({ s3: () => Promise.resolve({ sdk, client }), bucket: 'denied-leaves' });
    for (const id of ['a', 'b']) await store.writeLeaf({ authority: 'cluster', id, certificatePem: 'C', privateKeyPem: 'K', bundlePem: 'B' });
    denied = 'certrotate/cluster/leaf/a';
    try {
      const { leaves, unreadable } = await store.readLeaves('cluster', ['a', 'b']);
      expect(leaves.map((leaf) => leaf.id)).toEqual(['b']);
      expect(unreadable).toEqual([{ authority: 'cluster', id: 'a', problem: 'S3 could not return object s3://denied-leaves/certrotate/cluster/leaf/a: AccessDenied (Access Denied)' }]);
    } finally {
      denied = undefined;
    }
  });

  it('throws what is about the run rather than one object (no such bucket), as a failed batch read of secrets does', async () => {
    const store = new S3LeafStore({ s3: () => Promise.resolve({ sdk, client }), bucket: 'no-such-bucket' });
    await expect(store.readLeaves('cluster', ['a'])).rejects.toMatchObject({ name: 'NoSuchBucket' });
  });

  it('answers conditional writes as S3 does: 412 on a stale If-Match or an existing key with If-None-Match, NoSuchKey on If-Match of nothing', async () => {
    await client.send(new sdk.CreateBucketCommand({ Bucket: 'conditions' }));
    const put = (input: Partial<sdk.PutObjectCommandInput>) => client.send(new sdk.PutObjectCommand({ Bucket: 'conditions', Key: 'k', Body: 'v', ...input }));
    await expect(put({ IfMatch: '"abc"' })).rejects.toMatchObject({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
    const first = await put({ IfNoneMatch: '*' });
    await expect(put({ IfNoneMatch: '*' })).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    await expect(put({ IfMatch: '"0123"' })).rejects.toMatchObject({ name: 'PreconditionFailed' });
    await expect(put({ IfMatch: first.ETag, Body: 'w' })).resolves.toBeDefined();
    expect(s3.object('conditions', 'k').body.toString()).toBe('w');
  });

  it('restores a snapshot with every version id and ETag: a conditional write after a restart holds on the ETag read before it, a stale one fails, an old version reads by id', async () => {
    await client.send(new sdk.CreateBucketCommand({ Bucket: 'restored' }));
    await client.send(new sdk.PutBucketVersioningCommand({ Bucket: 'restored', VersioningConfiguration: { Status: 'Enabled' } }));
    const put = (to: sdk.S3Client, input: Partial<sdk.PutObjectCommandInput>) => to.send(new sdk.PutObjectCommand({ Bucket: 'restored', Key: 'k', Body: 'v1', ContentType: 'application/json', ...input }));
    const first = await put(client, { IfNoneMatch: '*' });
    const second = await put(client, { IfMatch: first.ETag, Body: 'v2' });
    const again = await startLocalS3({ restore: JSON.parse(JSON.stringify(s3.snapshot())) as ReturnType<LocalS3['snapshot']> });
    const restored = new sdk.S3Client({ region: again.region, endpoint: again.endpoint, credentials: again.credentials, forcePathStyle: true, maxAttempts: 1 });
    try {
      const old = await restored.send(new sdk.GetObjectCommand({ Bucket: 'restored', Key: 'k', VersionId: first.VersionId }));
      expect([await old.Body?.transformToString(), old.ETag, old.ContentType]).toEqual(['v1', first.ETag, 'application/json']);
      await expect(put(restored, { IfNoneMatch: '*' })).rejects.toMatchObject({ name: 'PreconditionFailed' });
      await expect(put(restored, { IfMatch: first.ETag, Body: 'v3' })).rejects.toMatchObject({ name: 'PreconditionFailed' });
      const third = await put(restored, { IfMatch: second.ETag, Body: 'v3' });
      expect(third.VersionId).not.toBe(second.VersionId);
      expect((await restored.send(new sdk.GetBucketVersioningCommand({ Bucket: 'restored' }))).Status).toBe('Enabled');
      expect(again.object('restored', 'k', second.VersionId).body.toString()).toBe('v2');
    } finally {
      restored.destroy();
      await again.stop();
    }
  });
});
