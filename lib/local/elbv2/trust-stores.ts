/**
 * The local ELBv2's trust stores: created and modified from a PEM bundle in the local S3 (bucket,
 * key, object version), validated as ELBv2 does (the object must exist, hold PEM CA certificates,
 * at most 25), and applied after a propagation delay: until then a new trust store is CREATING and
 * a modified one still serves its previous bundle.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import type { S3ObjectVersion } from '../s3/server.js';

export const ACCOUNT_ID = '000000000000';
/** ELBv2's quota: CA certificates per trust store. */
export const MAX_CA_CERTIFICATES = 25;

export interface BundleSource {
  bucket: string;
  key: string;
  versionId: string | undefined;
}

interface Applied extends BundleSource {
  content: string;
  certificates: number;
}

export interface TrustStore {
  name: string;
  arn: string;
  /** What it serves now; undefined while it is still being created. */
  active: Applied | undefined;
  pending: (Applied & { activeAt: number }) | undefined;
}

export interface TrustStoreView {
  Name: string;
  TrustStoreArn: string;
  Status: 'ACTIVE' | 'CREATING';
  NumberOfCaCertificates: number;
  TotalRevokedEntries: number;
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Counts the CA certificates of a bundle, refusing what ELBv2 refuses. */
function countCertificates(content: string): number {
  const blocks = content.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new AwsError('InvalidCaCertificatesBundle', 'The CA certificates bundle holds no PEM certificate.');
  for (const block of blocks) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch {
      throw new AwsError('InvalidCaCertificatesBundle', 'The CA certificates bundle holds a certificate that cannot be parsed.');
    }
    if (!certificate.ca) throw new AwsError('InvalidCaCertificatesBundle', `Certificate ${certificate.subject} in the bundle is not a CA certificate.`);
  }
  if (blocks.length > MAX_CA_CERTIFICATES) {
    throw new AwsError('InvalidCaCertificatesBundle', `The CA certificates bundle holds ${blocks.length} certificates; a trust store holds at most ${MAX_CA_CERTIFICATES}.`);
  }
  return blocks.length;
}

export class TrustStores {
  private readonly byArn = new Map<string, TrustStore>();

  constructor(
    private readonly options: {
      region: string;
      now: () => number;
      propagationMs: () => number;
      readObject: (bucket: string, key: string, versionId?: string) => S3ObjectVersion;
    },
  ) {}

  create(name: string, source: BundleSource): TrustStoreView {
    if (!NAME.test(name)) throw new AwsError('ValidationError', `Trust store name '${name}' is not valid.`);
    if ([...this.byArn.values()].some((store) => store.name === name)) throw new AwsError('DuplicateTrustStoreName', `A trust store with the name '${name}' already exists.`);
    const arn = `arn:aws:elasticloadbalancing:${this.options.region}:${ACCOUNT_ID}:truststore/${name}/${randomBytes(8).toString('hex')}`;
    const store: TrustStore = { name, arn, active: undefined, pending: { ...this.load(source), activeAt: this.options.now() + this.options.propagationMs() } };
    this.byArn.set(arn, store);
    return this.view(store);
  }

  modify(arn: string, source: BundleSource): TrustStoreView {
    const store = this.find(arn);
    const applied = this.load(source);
    const same = (other: Applied | undefined) => other !== undefined && other.bucket === applied.bucket && other.key === applied.key && other.versionId === applied.versionId;
    // The same version again changes nothing: an identical change in flight keeps its schedule.
    if (same(store.pending) || (store.pending === undefined && same(store.active))) return this.view(store);
    store.pending = { ...applied, activeAt: this.options.now() + this.options.propagationMs() };
    return this.view(store);
  }

  describe(arns: readonly string[], names: readonly string[]): TrustStoreView[] {
    if (arns.length === 0 && names.length === 0) return [...this.byArn.values()].map((store) => this.view(store));
    const found = arns.map((arn) => this.find(arn));
    for (const name of names) {
      const store = [...this.byArn.values()].find((candidate) => candidate.name === name);
      if (store === undefined) throw new AwsError('TrustStoreNotFound', `One or more trust stores not found`);
      found.push(store);
    }
    return found.map((store) => this.view(store));
  }

  /** The bundle the trust store serves now; undefined while it is being created. */
  served(arn: string): Applied | undefined {
    const store = this.find(arn);
    this.promote(store);
    return store.active;
  }

  private find(arn: string): TrustStore {
    const store = this.byArn.get(arn);
    if (store === undefined) throw new AwsError('TrustStoreNotFound', `One or more trust stores not found`);
    return store;
  }

  private load(source: BundleSource): Applied {
    let object: S3ObjectVersion;
    try {
      object = this.options.readObject(source.bucket, source.key, source.versionId);
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      throw new AwsError('CaCertificatesBundleNotFound', `The specified CA certificates bundle does not exist: ${error.message}`);
    }
    const content = object.body.toString('utf8');
    return { ...source, versionId: object.versionId, content, certificates: countCertificates(content) };
  }

  private promote(store: TrustStore): void {
    if (store.pending !== undefined && this.options.now() >= store.pending.activeAt) {
      const { activeAt, ...applied } = store.pending;
      void activeAt;
      store.active = applied;
      store.pending = undefined;
    }
  }

  private view(store: TrustStore): TrustStoreView {
    this.promote(store);
    return {
      Name: store.name,
      TrustStoreArn: store.arn,
      Status: store.active === undefined ? 'CREATING' : 'ACTIVE',
      NumberOfCaCertificates: store.active?.certificates ?? 0,
      TotalRevokedEntries: 0,
    };
  }
}
