/**
 * The leaf half of CertificateStore on S3 (`leafStore: s3`): one object per leaf,
 * `<prefix>/<authority>/leaf/<id>`, holding the same JSON as the leaf secret
 * (`{"tls.crt", "tls.key", "ca.crt"}`), in a versioned bucket whose default encryption is SSE-KMS
 * with certrotate's key and an S3 Bucket Key (the construct creates it; infra/parts/leaf-bucket.ts).
 *
 * Writes are conditional, so a retried or raced write converges: the current object is read (or its
 * ETag is known from readLeaves), nothing is written when it already holds the content, else
 * PutObject carries `If-Match: <etag>` (`If-None-Match: *` for a new leaf). A 412 (someone wrote
 * in between, or our own earlier attempt landed) or 409 (a concurrent conditional write) reads
 * again and decides again; after four lost rounds the write is unconditional. The last writer wins,
 * as with Secrets Manager, and a write whose content is already current is never repeated.
 *
 * Pace: S3 takes at least 3,500 PUT and 5,500 GET requests per second per partitioned prefix
 * (Amazon S3 user guide, "Best practices design patterns: optimizing Amazon S3 performance"), with
 * no account-wide write quota like Secrets Manager's 50/s, so no WriteLimiter: a bound on requests
 * in flight (default 16, a few hundred requests per second at S3's latency) keeps a run well below
 * it, and the SDK's standard retries back off on a 503 SlowDown.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { CertificateStore, StoredLeaf, UnreadableSecret } from '../ports.js';
import type { Loaded, S3Module } from './aws-trust-clients.js';
import { SEGMENT_PATTERN, checkSegment } from './secrets-manager-store.js';
import { LEAF_KEYS, inIdOrder, leafJson, parseStoredJson } from './stored-json.js';

/** The leaf half of the port: what a leaf store implements (lib/aws/per-authority-leaf-store.ts routes to it). */
export type LeafStore = Pick<CertificateStore, 'listLeafIds' | 'readLeaves' | 'writeLeaf'>;

export interface S3LeafStoreOptions {
  /** The S3 SDK and client, loaded on first use (AwsTrustClients.s3 of the functions' region). */
  s3: () => Promise<Loaded<S3Module, S3Client>>;
  bucket: string;
  /** First segment of every key, as the secrets' prefix. Default `certrotate`. */
  prefix?: string;
  /** Requests in flight per readLeaves call. Default 16. */
  concurrency?: number;
}

/** Rounds of one write: conditional ones, each lost to another writer, then a last unconditional one. */
const WRITE_ATTEMPTS = 5;
/** Upper bound of the random wait after the n-th lost round, times n. */
const RACE_BACKOFF_MS = 20;
const DEFAULT_CONCURRENCY = 16;

/** The object key of a leaf: the secret's name, so the two stores name a leaf alike. */
export function leafObjectKey(prefix: string, authority: string, id: string): string {
  return `${prefix}/${authority}/leaf/${id}`;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

function httpStatus(error: unknown): number | undefined {
  const metadata: unknown = typeof error === 'object' && error !== null ? Object.getOwnPropertyDescriptor(error, '$metadata')?.value : undefined;
  const status: unknown = typeof metadata === 'object' && metadata !== null ? Object.getOwnPropertyDescriptor(metadata, 'httpStatusCode')?.value : undefined;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A refusal about this one object (access to it denied, its KMS key disabled or unusable), reported
 * like an unreadable secret; anything else (no bucket, bad credentials, throttling, S3 down) is
 * thrown, as a failed BatchGetSecretValue is: it is about the run, not the leaf.
 */
function isObjectProblem(error: unknown): boolean {
  const name = errorName(error) ?? '';
  return name === 'AccessDenied' || name === 'InvalidObjectState' || name.startsWith('KMS.');
}

/** The object as read: its content and ETag; undefined when there is none. */
interface CurrentObject {
  etag: string;
  content: string;
}

export class S3LeafStore implements LeafStore {
  private readonly s3: S3LeafStoreOptions['s3'];
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly concurrency: number;

  constructor(options: S3LeafStoreOptions) {
    this.s3 = options.s3;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? 'certrotate';
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  }

  objectKey(authority: string, id: string): string {
    return leafObjectKey(this.prefix, authority, id);
  }

  private where(key: string): string {
    return `object s3://${this.bucket}/${key}`;
  }

  async listLeafIds(authority: string): Promise<string[]> {
    checkSegment('authority', authority);
    const { sdk, client } = await this.s3();
    const keyPrefix = `${this.prefix}/${authority}/leaf/`;
    const ids: string[] = [];
    for await (const page of sdk.paginateListObjectsV2({ client, pageSize: 1000 }, { Bucket: this.bucket, Prefix: keyPrefix })) {
      for (const { Key } of page.Contents ?? []) {
        const id = Key?.slice(keyPrefix.length);
        if (id !== undefined && SEGMENT_PATTERN.test(id)) ids.push(id);
      }
    }
    return ids.sort();
  }

  async readLeaves(authority: string, ids: readonly string[]): Promise<{ leaves: StoredLeaf[]; unreadable: UnreadableSecret[] }> {
    checkSegment('authority', authority);
    const unique = [...new Set(ids)];
    for (const id of unique) checkSegment('leaf id', id);
    const byId = new Map<string, StoredLeaf | UnreadableSecret>();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let id = unique[next++]; id !== undefined; id = unique[next++]) {
        const read = await this.readOne(authority, id);
        if (read !== undefined) byId.set(id, read);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, unique.length) }, worker));
    return inIdOrder(unique, byId);
  }

  /**
   * Makes `leaf` the object's current content. `previousVersionId` is what readLeaves returned as the
   * leaf's `versionId`: the object's ETag, which the conditional write names (saving the read);
   * a stale one costs a 412 and a read, and still writes correctly.
   */
  async writeLeaf(leaf: StoredLeaf, previousVersionId?: string): Promise<void> {
    checkSegment('authority', leaf.authority);
    checkSegment('leaf id', leaf.id);
    const key = this.objectKey(leaf.authority, leaf.id);
    const content = leafJson(leaf);
    let expected: string | null | undefined = previousVersionId;
    for (let attempt = 1; attempt < WRITE_ATTEMPTS; attempt++) {
      if (expected === undefined) {
        const current = await this.current(key);
        if (current?.content === content) return;
        expected = current === undefined ? null : current.etag;
      }
      if (await this.putIf(key, content, expected === null ? { IfNoneMatch: '*' } : { IfMatch: expected })) return;
      expected = undefined;
      // Lost to another writer: let the race settle a little before reading again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * RACE_BACKOFF_MS * attempt));
    }
    // Still racing after that many rounds: write unconditionally, as Secrets Manager does (the last writer wins).
    const current = await this.current(key);
    if (current?.content !== content) await this.putIf(key, content, {});
  }

  // -- reads ------------------------------------------------------------------------------------

  private async readOne(authority: string, id: string): Promise<StoredLeaf | UnreadableSecret | undefined> {
    const key = this.objectKey(authority, id);
    let current: CurrentObject | undefined;
    try {
      current = await this.current(key);
    } catch (error) {
      if (!isObjectProblem(error)) throw error;
      const message = error instanceof Error && error.message !== '' && error.message !== 'UnknownError' ? ` (${error.message})` : '';
      return { authority, id, problem: `S3 could not return ${this.where(key)}: ${errorName(error) ?? 'unknown error'}${message}` };
    }
    if (current === undefined) return undefined;
    const parsed = parseStoredJson(this.where(key), current.content, LEAF_KEYS);
    if (!parsed.ok) return { authority, id, problem: parsed.problem };
    return {
      authority,
      id,
      certificatePem: parsed.value['tls.crt'],
      privateKeyPem: parsed.value['tls.key'],
      bundlePem: parsed.value['ca.crt'],
      versionId: current.etag,
    };
  }

  /** The newest version's content and ETag; undefined when the key has no object. */
  private async current(key: string): Promise<CurrentObject | undefined> {
    const { sdk, client } = await this.s3();
    try {
      const answer = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const content = answer.Body === undefined ? '' : await answer.Body.transformToString('utf8');
      return { etag: answer.ETag ?? '', content };
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  // -- writes -----------------------------------------------------------------------------------

  /**
   * PutObject under `condition` (`If-Match` an ETag, `If-None-Match: *`, or none). False when
   * the condition failed (412), a concurrent conditional write conflicted (409), or the object that
   * `If-Match` named is gone (404): the caller reads again.
   */
  private async putIf(key: string, content: string, condition: { IfMatch?: string; IfNoneMatch?: string }): Promise<boolean> {
    const { sdk, client } = await this.s3();
    try {
      await client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: content, ContentType: 'application/json', ...condition }));
      return true;
    } catch (error) {
      const name = errorName(error);
      const status = httpStatus(error);
      if (name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || name === 'NoSuchKey' || status === 412 || status === 409) return false;
      throw error;
    }
  }
}
