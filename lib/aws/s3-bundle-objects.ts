/**
 * Trust bundles as objects in a versioned S3 bucket, as ELBv2 trust stores and API Gateway
 * truststores read them: each write is a new object version, and the version id is what the trust
 * store is pinned to. A bucket without versioning is refused (ConsumerRejectedError): a trust
 * store could not be pinned to what was written.
 *
 * An object version never changes (S3 versions are immutable), so the content of one read by its
 * version id is kept: an API Gateway domain's read-back asks for the version it is pinned to at
 * every tick, and that is the same version between publishes. A version deleted since is still
 * answered from what was kept: the domain keeps serving the truststore it loaded until it is
 * pointed at another version.
 */
import { LruMap } from '../pki/index.js';
import { ConsumerRejectedError } from '../ports.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, targetFailure } from './aws-target-errors.js';

export interface BundleObjectRef {
  region: string;
  bucket: string;
  key: string;
}

/** Object versions whose content is kept: a few per trust target, which has one pinned version at a time. */
const VERSIONS_KEPT = 256;

export class S3BundleObjects {
  readonly #versions = new LruMap<string, string>(VERSIONS_KEPT);

  constructor(private readonly clients: Pick<AwsTrustClients, 's3'>) {}

  /** Writes `pem` as a new version of the object; returns the version id. */
  async put(ref: BundleObjectRef, pem: string): Promise<string> {
    const where = { service: 'S3 object', target: `s3://${ref.bucket}/${ref.key}`, region: ref.region };
    const { sdk, client } = await this.clients.s3(ref.region);
    const answer = await onTarget(where, () =>
      client.send(new sdk.PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, Body: pem, ContentType: 'application/x-pem-file' })),
    );
    if (answer.VersionId === undefined || answer.VersionId === 'null') {
      throw new ConsumerRejectedError(where.target, 400, 'BucketNotVersioned', `S3 bucket ${ref.bucket} (${ref.region}) has no versioning: enable it, so a trust store can be pinned to the version certrotate wrote`);
    }
    return answer.VersionId;
  }

  /**
   * The version holding exactly `pem`: the newest version when it already does (a republish while
   * the trust store is still taking it up pins the same version, rather than restarting with a new
   * one), else a new version.
   */
  async putIfChanged(ref: BundleObjectRef, pem: string): Promise<string> {
    const latest = await this.latest(ref);
    return latest !== undefined && latest.content === pem ? latest.versionId : this.put(ref, pem);
  }

  private async latest(ref: BundleObjectRef): Promise<{ content: string; versionId: string } | undefined> {
    const { sdk, client } = await this.clients.s3(ref.region);
    try {
      const answer = await client.send(new sdk.GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
      const content = answer.Body === undefined ? '' : await answer.Body.transformToString('utf8');
      return answer.VersionId === undefined || answer.VersionId === 'null' ? undefined : { content, versionId: answer.VersionId };
    } catch (error) {
      if (error instanceof Error && error.name === 'NoSuchKey') return undefined;
      throw targetFailure(error, { service: 'S3 object', target: `s3://${ref.bucket}/${ref.key}`, region: ref.region });
    }
  }

  /** The content of one version (the newest without `versionId`); undefined when there is no such object or version. */
  async get(ref: BundleObjectRef, versionId?: string): Promise<string | undefined> {
    const where = { service: 'S3 object', target: `s3://${ref.bucket}/${ref.key}`, region: ref.region };
    const version = versionId === undefined ? undefined : JSON.stringify([ref.region, ref.bucket, ref.key, versionId]);
    const kept = version === undefined ? undefined : this.#versions.get(version);
    if (kept !== undefined) return kept;
    const { sdk, client } = await this.clients.s3(ref.region);
    try {
      const answer = await client.send(new sdk.GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(versionId === undefined ? {} : { VersionId: versionId }) }));
      const content = answer.Body === undefined ? '' : await answer.Body.transformToString('utf8');
      if (version !== undefined) this.#versions.set(version, content);
      return content;
    } catch (error) {
      if (error instanceof Error && (error.name === 'NoSuchKey' || error.name === 'NoSuchVersion')) return undefined;
      throw targetFailure(error, where);
    }
  }
}
