/**
 * The ELBv2 trust store consumer kind (ALB/NLB mutual TLS): each of an authority's
 * `consumers.elbv2TrustStores` holds its bundle, written to a versioned S3 object and pinned with
 * ModifyTrustStore (or CreateTrustStore), through lib/aws/elbv2-trust-store.ts. It holds a bundle
 * only once the trust store is ACTIVE and serves exactly its certificates: the bundle ELBv2 hands
 * back (a presigned S3 URL, GetTrustStoreCaCertificatesBundle) may be re-encoded (line endings,
 * wrapping, order), so it is compared as DER (StoreReads.storedFormOf), never as bytes; an extra or
 * missing CA still holds nothing. A change still propagating counts as the bundle it replaced.
 */
import type { Elbv2TrustStores } from '../../aws/elbv2-trust-store.js';
import { trustStoreName } from '../../aws/elbv2-trust-store.js';
import { trustStoreKey, type Elbv2TrustStoreTarget } from '../../config/aws-trust-targets.js';
import type { AuthorityConfig } from '../../config/index.js';
import type { Consumer, ConsumerRun } from '../../ports.js';
import { bundleOnlyConsumer } from '../bundle-only.js';

export const ELBV2_TRUST_STORE_PREFIX = 'elbv2-trust-store:';

export function elbv2TrustStoreConsumer(target: Elbv2TrustStoreTarget, stores: Elbv2TrustStores, run: ConsumerRun): Consumer {
  const name = `ELBv2 trust store ${trustStoreName(target)} (${target.region}, s3://${target.bucket}/${target.key})`;
  return bundleOnlyConsumer(
    `${ELBV2_TRUST_STORE_PREFIX}${trustStoreKey(target)}`,
    name,
    { region: target.region, trustStore: trustStoreName(target) },
    async () => {
      const read = await stores.readBack(target);
      return read?.bundle === undefined ? undefined : { 'ca.crt': run.reads.storedFormOf(read.bundle) ?? read.bundle };
    },
    (pem) => stores.publish(target, pem),
  );
}

/** The registration of the kind: an authority's trust stores, when there is an adapter to reach them. */
export function elbv2TrustStoreConsumers(stores: Elbv2TrustStores | undefined): (authority: AuthorityConfig, run: ConsumerRun) => Consumer[] {
  return (authority, run) => (stores === undefined ? [] : (authority.consumers?.elbv2TrustStores ?? []).map((target) => elbv2TrustStoreConsumer(target, stores, run)));
}
