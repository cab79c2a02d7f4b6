/**
 * The local S3's buckets and object versions, in memory: what PutObject (with its conditional
 * headers), GetObject, HeadObject, ListObjectsV2, CreateBucket and PutBucketVersioning act on. Semantics as S3 documents them: a versioned bucket
 * gives every write a new version id and keeps the old versions readable by id; an unversioned one
 * (or a suspended one) keeps one version, `null`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import { restoreBuckets, snapshotBuckets, type BucketData, type S3Snapshot } from './snapshot.js';

export type Versioning = 'Enabled' | 'Suspended' | undefined;

export interface S3ObjectVersion {
  bucket: string;
  key: string;
  /** `null` in an unversioned bucket, as S3 answers it. */
  versionId: string;
  body: Buffer;
  contentType: string;
  etag: string;
  lastModified: number;
}

/** PutObject's conditional write headers, as S3 takes them: `If-None-Match: *` and `If-Match: <etag>`. */
export interface PutCondition {
  ifMatch?: string;
  ifNoneMatch?: string;
}

const PRECONDITION_FAILED = (): AwsError => new AwsError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412);

/**
 * S3's conditional writes: `If-None-Match` takes only `*` and fails when the key has a current
 * object; `If-Match` fails with 412 on another ETag (quotes optional) and NoSuchKey on no object.
 */
function checkCondition(current: S3ObjectVersion | undefined, condition: PutCondition): void {
  const { ifMatch, ifNoneMatch } = condition;
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch !== '*') throw new AwsError('NotImplemented', 'A header you provided implies functionality that is not implemented', 501);
    if (current !== undefined) throw PRECONDITION_FAILED();
  }
  if (ifMatch === undefined) return;
  if (current === undefined) throw new AwsError('NoSuchKey', 'The specified key does not exist.', 404);
  if (ifMatch.replace(/"/g, '') !== current.etag.replace(/"/g, '')) throw PRECONDITION_FAILED();
}

/** S3's bucket naming rules (the general-purpose ones). */
const BUCKET_NAME = /^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MAX_KEY_BYTES = 1024;

export class S3Backend {
  private readonly buckets: Map<string, BucketData>;

  /** `restore`: the buckets and versions of an earlier `snapshot()` (the sandbox resumes from disk). */
  constructor(private readonly now: () => number, restore?: S3Snapshot) {
    this.buckets = restore === undefined ? new Map<string, BucketData>() : restoreBuckets(restore);
  }

  /** Every bucket and object version, ids and ETags as answered, for `restore`. */
  snapshot(): S3Snapshot {
    return snapshotBuckets(this.buckets);
  }

  createBucket(name: string, region: string): void {
    if (!BUCKET_NAME.test(name) || name.includes('..')) throw new AwsError('InvalidBucketName', 'The specified bucket is not valid.', 400);
    const existing = this.buckets.get(name);
    if (existing !== undefined) {
      throw new AwsError('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409);
    }
    this.buckets.set(name, { region, versioning: undefined, objects: new Map() });
  }

  setVersioning(name: string, status: string | undefined): void {
    if (status !== 'Enabled' && status !== 'Suspended') throw new AwsError('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', 400);
    this.bucket(name).versioning = status;
  }

  versioning(name: string): Versioning {
    return this.bucket(name).versioning;
  }

  put(bucketName: string, key: string, body: Buffer, contentType: string, condition: PutCondition = {}): S3ObjectVersion {
    const bucket = this.bucket(bucketName);
    if (key.length === 0 || Buffer.byteLength(key) > MAX_KEY_BYTES) throw new AwsError('KeyTooLongError', 'Your key is too long.', 400);
    checkCondition(bucket.objects.get(key)?.at(-1), condition);
    const versioned = bucket.versioning === 'Enabled';
    const version: S3ObjectVersion = {
      bucket: bucketName,
      key,
      versionId: versioned ? randomBytes(24).toString('base64url') : 'null',
      body,
      contentType,
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      lastModified: Math.floor(this.now() / 1000) * 1000,
    };
    const kept = versioned ? (bucket.objects.get(key) ?? []) : (bucket.objects.get(key) ?? []).filter((old) => old.versionId !== 'null');
    bucket.objects.set(key, [...kept, version]);
    return version;
  }

  /**
   * ListObjectsV2: the keys under `prefix` in UTF-8 binary order (each key's newest version), at most
   * `maxKeys` after `startAfter` (the continuation token is the last key returned).
   */
  list(bucketName: string, prefix: string, startAfter: string | undefined, maxKeys: number): { versions: S3ObjectVersion[]; truncated: boolean } {
    const keys = [...this.bucket(bucketName).objects.keys()]
      .filter((key) => key.startsWith(prefix) && (startAfter === undefined || Buffer.compare(Buffer.from(key), Buffer.from(startAfter)) > 0))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const page = keys.slice(0, maxKeys);
    return { versions: page.map((key) => this.get(bucketName, key)), truncated: keys.length > page.length };
  }

  /** The newest version, or the one named; NoSuchKey / NoSuchVersion otherwise. */
  get(bucketName: string, key: string, versionId?: string): S3ObjectVersion {
    const versions = this.bucket(bucketName).objects.get(key) ?? [];
    if (versionId === undefined) {
      const latest = versions.at(-1);
      if (latest === undefined) throw new AwsError('NoSuchKey', 'The specified key does not exist.', 404);
      return latest;
    }
    const found = versions.find((version) => version.versionId === versionId);
    if (found !== undefined) return found;
    if (versionId !== 'null' && !/^[A-Za-z0-9_.-]{1,1024}$/.test(versionId)) throw new AwsError('InvalidArgument', 'Invalid version id specified', 400);
    throw new AwsError('NoSuchVersion', 'The specified version does not exist.', 404);
  }

  private bucket(name: string): BucketData {
    const bucket = this.buckets.get(name);
    if (bucket === undefined) throw new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404);
    return bucket;
  }
}
