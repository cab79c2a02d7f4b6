/**
 * The local S3's buckets and every object version as JSON-safe data and back, for the sandbox's
 * restart. Each version keeps its id, ETag and Last-Modified as they were answered, so a conditional
 * write after a restart (`If-Match: <etag>` from a read before it) holds or fails as it would have.
 * Bodies are base64. Leaf objects hold private keys: the sandbox keeps this file at mode 0600.
 */
import { ValidationError } from '../../errors.js';
import type { S3ObjectVersion, Versioning } from './backend.js';

type VersionJson = Omit<S3ObjectVersion, 'bucket' | 'key' | 'body'> & { body: string };

export interface S3Snapshot {
  format: 'certrotate-local-s3/1';
  buckets: Array<{ name: string; region: string; versioning: Versioning; objects: Array<{ key: string; versions: VersionJson[] }> }>;
}

/** A bucket as the backend holds it: every key's versions, newest last. */
export interface BucketData {
  region: string;
  versioning: Versioning;
  objects: Map<string, S3ObjectVersion[]>;
}

export function snapshotBuckets(buckets: ReadonlyMap<string, BucketData>): S3Snapshot {
  return {
    format: 'certrotate-local-s3/1',
    buckets: [...buckets].map(([name, bucket]) => ({
      name,
      region: bucket.region,
      versioning: bucket.versioning,
      objects: [...bucket.objects].map(([key, versions]) => ({
        key,
        versions: versions.map(({ bucket: _bucket, key: _key, body, ...rest }) => ({ ...rest, body: body.toString('base64') })),
      })),
    })),
  };
}

export function restoreBuckets(snapshot: S3Snapshot): Map<string, BucketData> {
  if (snapshot.format !== 'certrotate-local-s3/1' || !Array.isArray(snapshot.buckets)) {
    throw new ValidationError('the local S3 snapshot is not one this version wrote (format certrotate-local-s3/1)');
  }
  return new Map(
    snapshot.buckets.map((bucket) => [
      bucket.name,
      {
        region: bucket.region,
        versioning: bucket.versioning,
        objects: new Map(bucket.objects.map(({ key, versions }) => [key, versions.map((version) => ({ ...version, bucket: bucket.name, key, body: Buffer.from(version.body, 'base64') }))])),
      },
    ]),
  );
}
