/**
 * The local API Gateway's custom domain names with mutual TLS: a truststore is a PEM bundle in the
 * local S3 (`s3://bucket/key`, pinned by `truststoreVersion`), checked when it is set (unparsable:
 * BadRequestException; expired or non-CA certificates: `truststoreWarnings`, as API Gateway
 * reports them) and applied after a propagation delay, during which the domain is UPDATING.
 */
import { X509Certificate } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import type { S3ObjectVersion } from '../s3/server.js';

export interface Truststore {
  truststoreUri: string;
  truststoreVersion: string | undefined;
  content: string;
  warnings: string[];
}

interface Domain {
  domainName: string;
  regionalCertificateArn: string | undefined;
  /** What the domain verifies clients against now. */
  active: Truststore | undefined;
  pending: (Truststore & { activeAt: number }) | undefined;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const URI = /^s3:\/\/([^/]+)\/(.+)$/;

/** The truststore's warnings: certificates API Gateway accepts but will not use as they are. */
function checkTruststore(content: string, now: number): string[] {
  const blocks = content.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new AwsError('BadRequestException', 'Invalid truststore: no PEM certificate found.');
  const warnings: string[] = [];
  for (const block of blocks) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(block);
    } catch {
      throw new AwsError('BadRequestException', 'Invalid truststore: a certificate could not be parsed.');
    }
    const subject = certificate.subject.replace(/\n/g, ', ');
    if (now > Date.parse(certificate.validTo)) warnings.push(`Certificate ${subject} has expired.`);
    if (now < Date.parse(certificate.validFrom)) warnings.push(`Certificate ${subject} is not yet valid.`);
    if (!certificate.ca) warnings.push(`Certificate ${subject} is not a CA certificate.`);
  }
  return warnings;
}

export class Domains {
  private readonly domains = new Map<string, Domain>();

  constructor(
    private readonly options: {
      now: () => number;
      propagationMs: () => number;
      readObject: (bucket: string, key: string, versionId?: string) => S3ObjectVersion;
    },
  ) {}

  create(domainName: string, regionalCertificateArn: string | undefined, mtls: { truststoreUri?: unknown; truststoreVersion?: unknown } | undefined): Record<string, unknown> {
    if (this.domains.has(domainName)) throw new AwsError('ConflictException', 'The domain name you provided already exists.', 409);
    const domain: Domain = { domainName, regionalCertificateArn, active: undefined, pending: undefined };
    if (mtls !== undefined) {
      if (typeof mtls.truststoreUri !== 'string') throw new AwsError('BadRequestException', 'truststoreUri is required for mutual TLS.');
      domain.pending = this.load(mtls.truststoreUri, typeof mtls.truststoreVersion === 'string' ? mtls.truststoreVersion : undefined);
    }
    this.domains.set(domainName, domain);
    return this.view(domain);
  }

  get(domainName: string): Record<string, unknown> {
    return this.view(this.find(domainName));
  }

  /** UpdateDomainName's patch operations; only the mutual TLS truststore is patchable here. */
  update(domainName: string, operations: readonly unknown[]): Record<string, unknown> {
    const domain = this.find(domainName);
    const current = domain.pending ?? domain.active;
    let uri = current?.truststoreUri;
    let version = current?.truststoreVersion;
    for (const operation of operations) {
      const { op, path, value } = (typeof operation === 'object' && operation !== null ? operation : {}) as Record<string, unknown>;
      if (op !== 'replace' || typeof value !== 'string') throw new AwsError('BadRequestException', `Invalid patch operation: ${String(op)} ${String(path)}`);
      if (path === '/mutualTlsAuthentication/truststoreUri') uri = value;
      else if (path === '/mutualTlsAuthentication/truststoreVersion') version = value;
      else throw new AwsError('BadRequestException', `Invalid patch path ${String(path)}`);
    }
    if (uri === undefined) throw new AwsError('BadRequestException', 'The domain has no mutual TLS truststore to update.');
    const next = this.load(uri, version);
    const same = (other: Truststore | undefined) => other !== undefined && other.truststoreUri === next.truststoreUri && other.truststoreVersion === next.truststoreVersion;
    // The same version again changes nothing: an identical update in flight keeps its schedule.
    if (same(domain.pending) || (domain.pending === undefined && same(domain.active))) return this.view(domain);
    domain.pending = next;
    return this.view(domain);
  }

  /** The truststore the domain verifies clients against now. */
  served(domainName: string): Truststore | undefined {
    const domain = this.find(domainName);
    this.promote(domain);
    return domain.active;
  }

  private find(domainName: string): Domain {
    const domain = this.domains.get(domainName);
    if (domain === undefined) throw new AwsError('NotFoundException', 'Invalid domain name identifier specified', 404);
    return domain;
  }

  private load(uri: string, version: string | undefined): Truststore & { activeAt: number } {
    const match = URI.exec(uri);
    if (match?.[1] === undefined || match[2] === undefined) throw new AwsError('BadRequestException', `Invalid truststore URI ${uri}: expected s3://bucket/key.`);
    let object: S3ObjectVersion;
    try {
      object = this.options.readObject(match[1], match[2], version);
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      throw new AwsError('BadRequestException', `Truststore ${uri}${version === undefined ? '' : ` version ${version}`} could not be read: ${error.message}`);
    }
    const content = object.body.toString('utf8');
    const now = this.options.now();
    return { truststoreUri: uri, truststoreVersion: object.versionId === 'null' ? undefined : object.versionId, content, warnings: checkTruststore(content, now), activeAt: now + this.options.propagationMs() };
  }

  private promote(domain: Domain): void {
    if (domain.pending !== undefined && this.options.now() >= domain.pending.activeAt) {
      const { activeAt, ...truststore } = domain.pending;
      void activeAt;
      domain.active = truststore;
      domain.pending = undefined;
    }
  }

  private view(domain: Domain): Record<string, unknown> {
    this.promote(domain);
    const shown = domain.pending ?? domain.active;
    return {
      domainName: domain.domainName,
      ...(domain.regionalCertificateArn === undefined ? {} : { regionalCertificateArn: domain.regionalCertificateArn }),
      endpointConfiguration: { types: ['REGIONAL'] },
      securityPolicy: 'TLS_1_2',
      domainNameStatus: domain.pending === undefined ? 'AVAILABLE' : 'UPDATING',
      ...(shown === undefined
        ? {}
        : {
            mutualTlsAuthentication: {
              truststoreUri: shown.truststoreUri,
              ...(shown.truststoreVersion === undefined ? {} : { truststoreVersion: shown.truststoreVersion }),
              truststoreWarnings: shown.warnings,
            },
          }),
    };
  }
}
