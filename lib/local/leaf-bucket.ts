/**
 * The embedded default's leaf bucket (`leafStore: s3`): a local S3 on loopback with one versioned
 * bucket, an SDK client pointed at it (path-style, the production retries), and the production
 * S3LeafStore over it. With `restore` (the sandbox's restart) the local S3 starts with the buckets
 * and object versions of an earlier `s3.snapshot()`, the leaf bucket among them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { S3LeafStore } from '../aws/s3-leaf-store.js';
import type { AwsError } from './kit/aws-error.js';
import { startLocalS3, type LocalS3 } from './s3/server.js';
import type { S3Snapshot } from './s3/snapshot.js';

export const LOCAL_LEAF_BUCKET = 'certrotate-leaves';

export interface LocalLeafBucket {
  s3: LocalS3;
  bucket: string;
  /** The client the store uses (crash injection installs itself on it). */
  client: S3Client;
  store: S3LeafStore;
  stop(): Promise<void>;
}

export async function startLocalLeafBucket(options: {
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  faults?: (operation: string, bucket: string, key: string | undefined) => AwsError | undefined;
  maxAttempts?: number;
  restore?: S3Snapshot;
}): Promise<LocalLeafBucket> {
  const s3 = await startLocalS3({
    region: options.region,
    credentials: options.credentials,
    ...(options.faults === undefined ? {} : { faults: options.faults }),
    ...(options.restore === undefined ? {} : { restore: options.restore }),
  });
  const sdk = await import('@aws-sdk/client-s3');
  const client = new sdk.S3Client({
    region: options.region,
    credentials: options.credentials,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    maxAttempts: options.maxAttempts ?? 4,
    retryMode: 'standard',
  });
  if (options.restore?.buckets.some((bucket) => bucket.name === LOCAL_LEAF_BUCKET) !== true) await client.send(new sdk.CreateBucketCommand({ Bucket: LOCAL_LEAF_BUCKET }));
  await client.send(new sdk.PutBucketVersioningCommand({ Bucket: LOCAL_LEAF_BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  const loaded = Promise.resolve({ sdk, client });
  return {
    s3,
    bucket: LOCAL_LEAF_BUCKET,
    client,
    store: new S3LeafStore({ s3: () => loaded, bucket: LOCAL_LEAF_BUCKET }),
    async stop() {
      client.destroy();
      await s3.stop();
    },
  };
}
