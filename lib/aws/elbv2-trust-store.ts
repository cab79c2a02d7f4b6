/**
 * An authority's bundle in an ELBv2 trust store (ALB/NLB mutual TLS): written as a new version of
 * its S3 object, then `ModifyTrustStore` pins the trust store to that version (`CreateTrustStore`
 * for a target that asks to create one, found again by its name afterwards). Read back as the
 * trust store reports it: `DescribeTrustStores` (ACTIVE or not) and the bundle at the Location
 * `GetTrustStoreCaCertificatesBundle` gives. The documented quotas are checked before anything is
 * written.
 */
import { trustStoreBundleProblem, type Elbv2TrustStoreTarget } from '../config/aws-trust-targets.js';
import { ConsumerRejectedError } from '../ports.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, targetFailure, type TargetName } from './aws-target-errors.js';
import type { S3BundleObjects } from './s3-bundle-objects.js';

export interface TrustStoreReadBack {
  status: string;
  /** The bundle the trust store serves; undefined while it is not ACTIVE or does not exist yet. */
  bundle: string | undefined;
}

export function trustStoreName(target: Elbv2TrustStoreTarget): string {
  return 'arn' in target.trustStore ? (target.trustStore.arn.split('/')[1] ?? target.trustStore.arn) : target.trustStore.create;
}

export class Elbv2TrustStores {
  constructor(
    private readonly clients: Pick<AwsTrustClients, 'elbv2'>,
    private readonly objects: S3BundleObjects,
    /** Fetches a bundle Location (a presigned S3 URL on AWS). */
    private readonly fetchBundle: (url: string) => Promise<Response> = (url) => fetch(url, { signal: AbortSignal.timeout(10_000) }),
  ) {}

  /** Writes the bundle and points the trust store at it. */
  async publish(target: Elbv2TrustStoreTarget, pem: string): Promise<void> {
    const where = this.where(target);
    const problem = trustStoreBundleProblem(pem);
    if (problem !== undefined) throw new ConsumerRejectedError(where.target, 400, 'TrustStoreLimit', `${where.service} ${where.target} cannot take this bundle: ${problem}`);
    const versionId = await this.objects.putIfChanged(target, pem);
    const { sdk, client } = await this.clients.elbv2(target.region);
    const source = { CaCertificatesBundleS3Bucket: target.bucket, CaCertificatesBundleS3Key: target.key, CaCertificatesBundleS3ObjectVersion: versionId };
    const arn = await this.arnOf(target);
    if (arn === undefined) {
      await onTarget(where, () => client.send(new sdk.CreateTrustStoreCommand({ Name: trustStoreName(target), ...source })));
      return;
    }
    await onTarget(where, () => client.send(new sdk.ModifyTrustStoreCommand({ TrustStoreArn: arn, ...source })));
  }

  /** What the trust store serves now; undefined when a trust store to create does not exist yet. */
  async readBack(target: Elbv2TrustStoreTarget): Promise<TrustStoreReadBack | undefined> {
    const where = this.where(target);
    const described = await this.describe(target);
    if (described === undefined) return undefined;
    const { arn, status } = described;
    const { sdk, client } = await this.clients.elbv2(target.region);
    if (status !== 'ACTIVE') return { status, bundle: undefined };
    const location = await onTarget(where, () => client.send(new sdk.GetTrustStoreCaCertificatesBundleCommand({ TrustStoreArn: arn })));
    if (location.Location === undefined) return { status, bundle: undefined };
    return { status, bundle: await this.download(location.Location, where) };
  }

  private async download(url: string, where: TargetName): Promise<string> {
    let answer: Response;
    try {
      answer = await this.fetchBundle(url);
    } catch (error) {
      throw targetFailure(error, where);
    }
    if (!answer.ok) throw targetFailure(Object.assign(new Error(`the bundle Location answered HTTP ${answer.status}`), { name: 'BundleDownloadFailed', $metadata: { httpStatusCode: answer.status } }), where);
    return answer.text();
  }

  /** The configured ARN, or for a trust store to create, the ARN of the one with its name (undefined before it exists). */
  private async arnOf(target: Elbv2TrustStoreTarget): Promise<string | undefined> {
    if ('arn' in target.trustStore) return target.trustStore.arn;
    return (await this.describe(target))?.arn;
  }

  /**
   * The trust store's ARN and status, in one DescribeTrustStores: by the configured ARN, or for a
   * trust store to create, by its name (undefined before it exists).
   */
  private async describe(target: Elbv2TrustStoreTarget): Promise<{ arn: string; status: string } | undefined> {
    const { sdk, client } = await this.clients.elbv2(target.region);
    if ('arn' in target.trustStore) {
      const arn = target.trustStore.arn;
      const described = await onTarget(this.where(target), () => client.send(new sdk.DescribeTrustStoresCommand({ TrustStoreArns: [arn] })));
      return { arn, status: described.TrustStores?.[0]?.Status ?? 'UNKNOWN' };
    }
    try {
      const found = await client.send(new sdk.DescribeTrustStoresCommand({ Names: [target.trustStore.create] }));
      const store = found.TrustStores?.[0];
      return store?.TrustStoreArn === undefined ? undefined : { arn: store.TrustStoreArn, status: store.Status ?? 'UNKNOWN' };
    } catch (error) {
      if (error instanceof Error && error.name === 'TrustStoreNotFoundException') return undefined;
      throw targetFailure(error, this.where(target));
    }
  }

  private where(target: Elbv2TrustStoreTarget): TargetName {
    return { service: 'ELBv2 trust store', target: trustStoreName(target), region: target.region };
  }
}
