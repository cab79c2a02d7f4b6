/**
 * The AWS trust targets of the embedded default: a local S3, ELBv2, API Gateway and ACM on
 * loopback (one identity, one region), the production adapters over SDK clients pointed at them,
 * and `provision(config)` to create what an operator would already have before pointing
 * certrotate at it: versioned buckets, API Gateway domains, ACM certificates at their configured
 * ARNs (a placeholder certificate of the authority's algorithm; none for `createCertificate`,
 * which certrotate imports itself). Trust stores named
 * `createTrustStore` are created by certrotate itself; a configured `trustStoreArn` is refused
 * here (local ARNs are made up at creation).
 */
import { awsTrustAdapters, type AwsTrustAdapters } from '../aws/aws-trust-adapters.js';
import type { CertrotateConfig } from '../config/index.js';
import { Issuer, generateCa } from '../pki/index.js';
import { startLocalAcm, type LocalAcm } from './acm/server.js';
import { startLocalApiGateway, type LocalApiGateway } from './api-gateway/server.js';
import { startLocalElbv2, type LocalElbv2 } from './elbv2/server.js';
import { AwsError, LOCAL_CREDENTIALS } from './kit/aws-error.js';
import { startLocalS3, type LocalS3 } from './s3/server.js';

export interface LocalAwsTrustOptions {
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** The clock that dates certificates and drives propagation (a simulation's); the wall clock by default. */
  now?: () => number;
  /** How long a trust store or truststore change takes to be served. */
  propagationMs?: number;
  /** How ELBv2's bundle Location and ACM's GetCertificate encode PEM (tests: AWS may hand back other line endings, wrapping or order). */
  encodePem?: (pem: string) => string;
}

export interface LocalAwsTrust {
  region: string;
  s3: LocalS3;
  elbv2: LocalElbv2;
  apiGateway: LocalApiGateway;
  acm: LocalAcm;
  adapters: AwsTrustAdapters;
  /** How long trust store and truststore changes take to be served from now on. */
  setPropagationMs(ms: number): void;
  /** Makes a trust store (by name) or domain unreachable (503 to every call naming it) until `up`. */
  down(name: string): void;
  up(name: string): void;
  /** Creates the buckets, domains and ACM certificates the configuration points at. */
  provision(config: CertrotateConfig): Promise<void>;
  stop(): Promise<void>;
}

const UNAVAILABLE = (name: string) => new AwsError('ServiceUnavailable', `${name} is unavailable`, 503);

export async function startLocalAwsTrust(options: LocalAwsTrustOptions = {}): Promise<LocalAwsTrust> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials ?? { ...LOCAL_CREDENTIALS };
  const base = { region, credentials, ...(options.now === undefined ? {} : { now: options.now }) };
  const propagation = options.propagationMs === undefined ? {} : { propagationMs: options.propagationMs };
  const encoding = options.encodePem === undefined ? {} : { encodePem: options.encodePem };
  const downNames = new Set<string>();
  const s3 = await startLocalS3(base);
  const elbv2 = await startLocalElbv2({
    ...base,
    ...propagation,
    ...encoding,
    s3,
    faults: (_action, params) => {
      const named = [params.get('Name'), params.get('Names.member.1'), params.get('TrustStoreArn')?.split('/')[1]];
      const hit = named.find((name) => name !== null && name !== undefined && downNames.has(name));
      return hit === undefined || hit === null ? undefined : UNAVAILABLE(hit);
    },
  });
  const apiGateway = await startLocalApiGateway({ ...base, ...propagation, s3, faults: (_op, domain) => (domain !== undefined && downNames.has(domain) ? UNAVAILABLE(domain) : undefined) });
  const acm = await startLocalAcm({ ...base, ...encoding });
  const adapters = awsTrustAdapters({
    credentials,
    endpoints: { s3: s3.endpoint, elbv2: elbv2.endpoint, apiGateway: apiGateway.endpoint, acm: acm.endpoint },
    // A target that is down is waited for by its gates, not retried inside a simulated tick.
    maxAttempts: 1,
  });

  async function provision(config: CertrotateConfig): Promise<void> {
    const { sdk, client } = await adapters.clients.s3(region);
    const api = await adapters.clients.apiGateway(region);
    const targets = config.authorities.map((authority) => ({ authority, consumers: authority.consumers }));
    const buckets = new Set(targets.flatMap(({ consumers }) => [...(consumers?.elbv2TrustStores ?? []), ...(consumers?.apiGatewayDomains ?? [])].map((t) => t.bucket)));
    for (const bucket of buckets) {
      await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
      await client.send(new sdk.PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }
    for (const { authority, consumers } of targets) {
      for (const target of consumers?.elbv2TrustStores ?? []) {
        if ('arn' in target.trustStore) throw new Error(`the local ELBv2 makes its own trust store ARNs: configure createTrustStore instead of ${target.trustStore.arn}`);
      }
      for (const target of consumers?.apiGatewayDomains ?? []) {
        await api.client.send(new api.sdk.CreateDomainNameCommand({ domainName: target.domainName, endpointConfiguration: { types: ['REGIONAL'] } }));
      }
      const now = options.now?.() ?? Date.now();
      for (const target of consumers?.acmCertificates ?? []) {
        // A certificate certrotate creates (createCertificate) does not exist before its first publish.
        if (!('arn' in target.certificate)) continue;
        // What the operator imported before handing the ARN to certrotate: same key algorithm, another CA.
        const ca = await generateCa({ authority: 'placeholder', generation: 1, now, lifetimeMs: 86_400_000, algorithm: authority.algorithm });
        const leaf = await Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=placeholder', usage: 'server', lifetimeMs: 86_400_000, algorithm: authority.algorithm }, now);
        acm.importAs(target.certificate.arn, leaf.certificatePem, leaf.privateKeyPem);
      }
    }
  }

  return {
    region,
    s3,
    elbv2,
    apiGateway,
    acm,
    adapters,
    setPropagationMs(ms) {
      elbv2.setPropagationMs(ms);
      apiGateway.setPropagationMs(ms);
    },
    down: (name) => downNames.add(name),
    up: (name) => downNames.delete(name),
    provision,
    async stop() {
      adapters.clients.destroy();
      await Promise.all([s3.stop(), elbv2.stop(), apiGateway.stop(), acm.stop()]);
    },
  };
}
