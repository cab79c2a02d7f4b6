/**
 * The S3 leaf store's behaviour, run against our local S3 (s3-leaf-store.test.ts) and against moto
 * (s3-leaf-store.moto.test.ts), so that both endpoints are checked against one expectation.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import * as sdk from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3LeafStore } from '../../lib/aws/s3-leaf-store.js';
import { ValidationError } from '../../lib/errors.js';
import type { StoredLeaf } from '../../lib/ports.js';

export interface S3Endpoint {
  client: S3Client;
  /** PutObject requests the endpoint has answered so far (counted by the test's middleware). */
  puts(): number;
}

let buckets = 0;

async function newBucket(client: S3Client): Promise<string> {
  const bucket = `leaves-${process.pid}-${++buckets}`;
  await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
  await client.send(new sdk.PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  return bucket;
}

function leaf(id: string, generation: number, authority = 'cluster'): StoredLeaf {
  return { authority, id, certificatePem: `CERT ${id} ${generation}`, privateKeyPem: `KEY ${id} ${generation}`, bundlePem: `BUNDLE ${generation}` };
}

function content(stored: StoredLeaf): Omit<StoredLeaf, 'versionId'> {
  return { authority: stored.authority, id: stored.id, certificatePem: stored.certificatePem, privateKeyPem: stored.privateKeyPem, bundlePem: stored.bundlePem };
}

export function s3LeafStoreSuite(name: string, endpoint: () => S3Endpoint): void {
  async function setUp(concurrency?: number): Promise<{ store: S3LeafStore; bucket: string; client: S3Client }> {
    const { client } = endpoint();
    const bucket = await newBucket(client);
    const store = new S3LeafStore({ s3: () => Promise.resolve({ sdk, client }), bucket, ...(concurrency === undefined ? {} : { concurrency }) });
    return { store, bucket, client };
  }

  describe(`S3LeafStore (${name})`, () => {
    it('stores each leaf as one object with the leaf secret JSON, lists and reads it back', async () => {
      const { store, bucket, client } = await setUp();
      await store.writeLeaf(leaf('api', 1));
      await store.writeLeaf(leaf('etcd-peer', 1));
      await store.writeLeaf(leaf('other', 1, 'front-proxy'));
      const raw = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: 'certrotate/cluster/leaf/api' }));
      expect(JSON.parse(await raw.Body?.transformToString('utf8') ?? '')).toEqual({ 'tls.crt': 'CERT api 1', 'tls.key': 'KEY api 1', 'ca.crt': 'BUNDLE 1' });
      expect(raw.VersionId).toBeTruthy();
      expect(await store.listLeafIds('cluster')).toEqual(['api', 'etcd-peer']);
      const { leaves, unreadable } = await store.readLeaves('cluster', ['etcd-peer', 'api', 'missing', 'api']);
      expect(unreadable).toEqual([]);
      expect(leaves.map(content)).toEqual([leaf('etcd-peer', 1), leaf('api', 1)]);
      expect(leaves.every((read) => typeof read.versionId === 'string' && read.versionId !== '')).toBe(true);
    });

    it('writes nothing when the object already holds the content: a retried write is a no-op', async () => {
      const { store } = await setUp();
      await store.writeLeaf(leaf('api', 1));
      const before = endpoint().puts();
      await store.writeLeaf(leaf('api', 1));
      expect(endpoint().puts()).toBe(before);
    });

    it('writes with the version token from readLeaves without reading first, and a stale token still writes', async () => {
      const { store } = await setUp();
      await store.writeLeaf(leaf('api', 1));
      const [first] = (await store.readLeaves('cluster', ['api'])).leaves;
      await store.writeLeaf(leaf('api', 2), first?.versionId);
      // The token is stale now (generation 2 was written over it): a 412, a read, a write.
      await store.writeLeaf(leaf('api', 3), first?.versionId);
      const { leaves } = await store.readLeaves('cluster', ['api']);
      expect(leaves.map(content)).toEqual([leaf('api', 3)]);
    });

    it('converges when two writers race: each write lands or loses to a 412 and rewrites, the last one stays', async () => {
      const { store } = await setUp();
      await store.writeLeaf(leaf('api', 1));
      const [read] = (await store.readLeaves('cluster', ['api'])).leaves;
      // Both start from the same token; one of them meets a 412 and goes again.
      await Promise.all([store.writeLeaf(leaf('api', 2), read?.versionId), store.writeLeaf(leaf('api', 3), read?.versionId)]);
      const { leaves } = await store.readLeaves('cluster', ['api']);
      expect([leaf('api', 2), leaf('api', 3)]).toContainEqual(content(leaves[0] ?? leaf('x', 0)));
      // Ten writers of ten contents from one token (found by the crash tests' leaseless racers): every
      // write returns, none gives up, and one of the ten is what stays.
      const [hot] = (await store.readLeaves('cluster', ['api'])).leaves;
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.writeLeaf(leaf('api', 10 + i), hot?.versionId)));
      const [stayed] = (await store.readLeaves('cluster', ['api'])).leaves;
      expect(Array.from({ length: 10 }, (_, i) => leaf('api', 10 + i))).toContainEqual(content(stayed ?? leaf('x', 0)));
      // Two creators of a new leaf: If-None-Match lets one through, the other rewrites over it.
      await Promise.all([store.writeLeaf(leaf('new', 1)), store.writeLeaf(leaf('new', 1))]);
      expect((await store.readLeaves('cluster', ['new'])).leaves.map(content)).toEqual([leaf('new', 1)]);
    });

    it('reports an unreadable object with the reason, without its content, and reads the others', async () => {
      const { store, bucket, client } = await setUp(2);
      for (const id of ['a', 'b', 'c', 'd']) await store.writeLeaf(leaf(id, 1));
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: 'certrotate/cluster/leaf/b', Body: '{"tls.crt": "CERT", "tls.key": "-----BEGIN PRIVATE KEY-----' }));
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: 'certrotate/cluster/leaf/c', Body: JSON.stringify({ 'tls.crt': 'CERT', 'tls.key': 'SECRET KEY' }) }));
      const { leaves, unreadable } = await store.readLeaves('cluster', ['a', 'b', 'c', 'd']);
      expect(leaves.map((read) => read.id)).toEqual(['a', 'd']);
      expect(unreadable).toEqual([
        { authority: 'cluster', id: 'b', problem: `object s3://${bucket}/certrotate/cluster/leaf/b is not valid JSON; expected an object with tls.crt, tls.key, ca.crt` },
        { authority: 'cluster', id: 'c', problem: `object s3://${bucket}/certrotate/cluster/leaf/c lacks a non-empty string for ca.crt` },
      ]);
      expect(JSON.stringify(unreadable)).not.toMatch(/PRIVATE KEY|SECRET KEY/);
      // A rewrite makes it whole again.
      await store.writeLeaf(leaf('b', 2));
      expect((await store.readLeaves('cluster', ['b'])).unreadable).toEqual([]);
    });

    it('lists past one page of keys, ignoring keys that are not leaf ids', async () => {
      const { store, bucket, client } = await setUp();
      const ids = Array.from({ length: 1005 }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
      for (let i = 0; i < ids.length; i += 40) {
        await Promise.all(ids.slice(i, i + 40).map((id) => client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: `certrotate/cluster/leaf/${id}`, Body: '{}' }))));
      }
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: 'certrotate/cluster/leaf/nested/x', Body: '{}' }));
      await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: 'certrotate/clusterx/leaf/y', Body: '{}' }));
      expect(await store.listLeafIds('cluster')).toEqual(ids);
    }, 60_000);

    it('refuses an authority or leaf id that is not one key segment, before any call', async () => {
      const { store } = await setUp();
      const before = endpoint().puts();
      await expect(store.writeLeaf(leaf('../x', 1))).rejects.toThrow(ValidationError);
      await expect(store.readLeaves('cluster', ['a/b'])).rejects.toThrow(ValidationError);
      await expect(store.listLeafIds('a/b')).rejects.toThrow(ValidationError);
      expect(endpoint().puts()).toBe(before);
    });
  });
}
