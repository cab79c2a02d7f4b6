/**
 * AWS trust targets in the configuration, per authority: ELBv2 trust stores (ALB/NLB mutual TLS)
 * and API Gateway custom domains (mutual TLS) that verify clients against the authority's bundle,
 * published as a PEM object in a versioned S3 bucket; and ACM certificates that serve one of its
 * server leaves. Parsed strictly (lib/config/validate.ts), every problem named with its path.
 *
 * ```json
 * "consumers": {
 *   "elbv2TrustStores": [{ "region": "eu-west-1", "bucket": "pki-bundles", "key": "cluster/alb.pem",
 *                          "trustStoreArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:truststore/clients/0123456789abcdef" }],
 *   "apiGatewayDomains": [{ "region": "eu-west-1", "bucket": "pki-bundles", "key": "cluster/api.pem", "domainName": "api.example.com" }],
 *   "acmCertificates": [{ "region": "eu-west-1", "leaf": "web", "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/..." }]
 * }
 * ```
 * A trust store may instead be created on first publish: `"createTrustStore": "<name>"` (found
 * again by that name afterwards); so may an ACM certificate: `"createCertificate": "<name>"`, imported
 * the first time without an ARN and tagged with the deployment, the authority and that name, by
 * which every later run finds it again (lib/aws/acm-certificate.ts). ACM refuses a change of key algorithm on re-import, so an ACM
 * leaf must use its authority's algorithm; changing either later is refused by ACM at publish.
 */
import type { KeyAlgorithm } from '../pki/index.js';
import { REGION } from './eks-targets.js';
import { array, idRule, object, preview, string, type Problems } from './validate.js';

export interface BundleObject {
  bucket: string;
  key: string;
}

export interface Elbv2TrustStoreTarget extends BundleObject {
  authority: string;
  region: string;
  trustStore: { arn: string } | { create: string };
}

export interface ApiGatewayDomainTarget extends BundleObject {
  authority: string;
  region: string;
  domainName: string;
}

export interface AcmCertificateTarget {
  authority: string;
  region: string;
  leaf: string;
  /** The ARN an operator imported before, or the name of one certrotate creates (and tags) on first publish. */
  certificate: { arn: string } | { create: string };
}

export interface AwsTrustTargets {
  elbv2TrustStores: Elbv2TrustStoreTarget[];
  apiGatewayDomains: ApiGatewayDomainTarget[];
  acmCertificates: AcmCertificateTarget[];
}

export const AWS_TRUST_KEYS = ['elbv2TrustStores', 'apiGatewayDomains', 'acmCertificates'] as const;

/** ELBv2's documented trust store quotas (Application Load Balancer quotas page). */
export const TRUST_STORE_LIMITS = { caCertificatesPerTrustStore: 25, caCertificateSizeBytes: 16 * 1024 } as const;

const BUCKET = { pattern: /^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, hint: 'is not an S3 bucket name' };
const KEY = { pattern: /^[A-Za-z0-9!_.*'()/-]{1,1024}$/, hint: 'is not an S3 key of letters, digits and !_.*\'()/-' };
const TRUST_STORE_ARN = {
  pattern: /^arn:aws(-cn|-us-gov)?:elasticloadbalancing:[a-z0-9-]+:\d{12}:truststore\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/,
  hint: 'is not an ELBv2 trust store ARN',
};
const TRUST_STORE_NAME = { pattern: /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/, hint: 'is not a trust store name (1-32 letters, digits or -)' };
const DOMAIN = { pattern: /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, hint: 'is not a lowercase domain name' };
const CERTIFICATE_ARN = {
  pattern: /^arn:aws(-cn|-us-gov)?:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/,
  hint: 'is not an ACM certificate ARN',
};
const CERTIFICATE_NAME = { pattern: /^[A-Za-z0-9_.-]{1,128}$/, hint: 'is not a certificate name (1-128 letters, digits, _ . or -)' };
const LEAF_ID = idRule(/^[A-Za-z0-9_.-]{1,128}$/, 'is not a leaf id (1-128 letters, digits, _ . or -)');

/** What the parser needs to know of the authority and its leaves. */
export interface AwsTrustContext {
  authority: string;
  algorithm: KeyAlgorithm;
  leaves: ReadonlyMap<string, { usage: string; algorithm: KeyAlgorithm }>;
}

function regionOfArn(arn: string): string | undefined {
  return arn.split(':')[3];
}

function parseBundleObject(fields: Record<string, unknown>, path: string, problems: Problems): Partial<BundleObject & { region: string }> {
  return {
    region: string(fields.region, `${path}.region`, problems, REGION),
    bucket: string(fields.bucket, `${path}.bucket`, problems, BUCKET),
    key: string(fields.key, `${path}.key`, problems, KEY),
  };
}

function parseTrustStore(value: unknown, path: string, problems: Problems, authority: string): Elbv2TrustStoreTarget | undefined {
  const fields = object(value, path, problems, { required: ['region', 'bucket', 'key'], optional: ['trustStoreArn', 'createTrustStore'] });
  if (fields === undefined) return undefined;
  const { region, bucket, key } = parseBundleObject(fields, path, problems);
  if ((fields.trustStoreArn === undefined) === (fields.createTrustStore === undefined)) {
    return problems.add(path, 'name exactly one of trustStoreArn or createTrustStore');
  }
  const arn = fields.trustStoreArn === undefined ? undefined : string(fields.trustStoreArn, `${path}.trustStoreArn`, problems, TRUST_STORE_ARN);
  const create = fields.createTrustStore === undefined ? undefined : string(fields.createTrustStore, `${path}.createTrustStore`, problems, TRUST_STORE_NAME);
  if (arn !== undefined && region !== undefined && regionOfArn(arn) !== region) problems.add(`${path}.trustStoreArn`, `is in ${regionOfArn(arn) ?? '?'}, not in region ${region}`);
  if (region === undefined || bucket === undefined || key === undefined || (arn === undefined && create === undefined)) return undefined;
  return { authority, region, bucket, key, trustStore: arn === undefined ? { create: create ?? '' } : { arn } };
}

function parseDomain(value: unknown, path: string, problems: Problems, authority: string): ApiGatewayDomainTarget | undefined {
  const fields = object(value, path, problems, { required: ['region', 'bucket', 'key', 'domainName'] });
  if (fields === undefined) return undefined;
  const { region, bucket, key } = parseBundleObject(fields, path, problems);
  const domainName = string(fields.domainName, `${path}.domainName`, problems, DOMAIN);
  if (region === undefined || bucket === undefined || key === undefined || domainName === undefined) return undefined;
  return { authority, region, bucket, key, domainName };
}

function parseCertificateRef(fields: Record<string, unknown>, path: string, problems: Problems, region: string | undefined): AcmCertificateTarget['certificate'] | undefined {
  if ((fields.certificateArn === undefined) === (fields.createCertificate === undefined)) {
    return problems.add(path, 'name exactly one of certificateArn (a certificate imported before) or createCertificate (a name: certrotate imports a new one on first publish and finds it again by its tags)');
  }
  if (fields.createCertificate !== undefined) {
    const create = string(fields.createCertificate, `${path}.createCertificate`, problems, CERTIFICATE_NAME);
    return create === undefined ? undefined : { create };
  }
  const arn = string(fields.certificateArn, `${path}.certificateArn`, problems, CERTIFICATE_ARN);
  if (arn !== undefined && region !== undefined && regionOfArn(arn) !== region) problems.add(`${path}.certificateArn`, `is in ${regionOfArn(arn) ?? '?'}, not in region ${region}`);
  return arn === undefined ? undefined : { arn };
}

function parseCertificate(value: unknown, path: string, problems: Problems, context: AwsTrustContext): AcmCertificateTarget | undefined {
  const fields = object(value, path, problems, { required: ['region', 'leaf'], optional: ['certificateArn', 'createCertificate'] });
  if (fields === undefined) return undefined;
  const region = string(fields.region, `${path}.region`, problems, REGION);
  const leaf = string(fields.leaf, `${path}.leaf`, problems, LEAF_ID);
  const certificate = parseCertificateRef(fields, path, problems, region);
  const spec = leaf === undefined ? undefined : context.leaves.get(leaf);
  if (leaf !== undefined && spec === undefined) return problems.add(`${path}.leaf`, `${preview(leaf)} is not a leaf of authority "${context.authority}"`);
  if (spec !== undefined && spec.usage === 'client') problems.add(`${path}.leaf`, `"${leaf ?? ''}" is a client leaf; ACM serves server leaves`);
  if (spec !== undefined && spec.algorithm !== context.algorithm) {
    problems.add(
      `${path}.leaf`,
      `"${leaf ?? ''}" uses ${spec.algorithm} but authority "${context.authority}" uses ${context.algorithm}: ACM refuses a change of key algorithm on re-import, so an ACM leaf must keep its authority's algorithm`,
    );
  }
  if (region === undefined || leaf === undefined || certificate === undefined) return undefined;
  return { authority: context.authority, region, leaf, certificate };
}

function list<T>(value: unknown, path: string, problems: Problems, parse: (item: unknown, path: string) => T | undefined, key: (target: T) => string): T[] {
  const targets: T[] = [];
  const seen = new Map<string, number>();
  for (const [index, item] of (array(value, path, problems) ?? []).entries()) {
    const target = parse(item, `${path}[${index}]`);
    if (target === undefined) continue;
    const first = seen.get(key(target));
    if (first !== undefined) {
      problems.add(`${path}[${index}]`, `is the same target as ${path}[${first}]`);
      continue;
    }
    seen.set(key(target), index);
    targets.push(target);
  }
  return targets;
}

/** Parses one authority's AWS trust targets (`consumers` fields) into `problems`; returns those that parsed. */
export function parseAwsTrustTargets(fields: Record<string, unknown>, path: string, problems: Problems, context: AwsTrustContext): AwsTrustTargets {
  const { authority } = context;
  return {
    elbv2TrustStores: list(fields.elbv2TrustStores ?? [], `${path}.elbv2TrustStores`, problems, (item, p) => parseTrustStore(item, p, problems, authority), trustStoreKey),
    apiGatewayDomains: list(fields.apiGatewayDomains ?? [], `${path}.apiGatewayDomains`, problems, (item, p) => parseDomain(item, p, problems, authority), (t) => `${t.region}/${t.domainName}`),
    acmCertificates: list(fields.acmCertificates ?? [], `${path}.acmCertificates`, problems, (item, p) => parseCertificate(item, p, problems, context), certificateKey),
  };
}

export function trustStoreKey(target: Elbv2TrustStoreTarget): string {
  return 'arn' in target.trustStore ? target.trustStore.arn : `${target.region}/${target.trustStore.create}`;
}

/** An ACM target's identity: its ARN, or `<region>/<name>` for one certrotate creates. */
export function certificateKey(target: AcmCertificateTarget): string {
  return 'arn' in target.certificate ? target.certificate.arn : `${target.region}/${target.certificate.create}`;
}

/**
 * What every target of the whole configuration writes (S3 objects, trust stores, domains, ACM
 * certificates): two authorities (or two targets) writing one of them would overwrite each other.
 */
export function awsTrustWrites(targets: AwsTrustTargets): string[] {
  return [
    ...targets.elbv2TrustStores.flatMap((t) => [`s3://${t.bucket}/${t.key}`, `trust store ${trustStoreKey(t)}`]),
    ...targets.apiGatewayDomains.flatMap((t) => [`s3://${t.bucket}/${t.key}`, `API Gateway domain ${t.region}/${t.domainName}`]),
    ...targets.acmCertificates.map((t) => `ACM certificate ${certificateKey(t)}`),
  ];
}

/**
 * Why a bundle cannot go into an ELBv2 trust store, by its documented quotas, or undefined: more
 * than 25 CA certificates, or a certificate over 16 KB.
 */
export function trustStoreBundleProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length > TRUST_STORE_LIMITS.caCertificatesPerTrustStore) {
    return `the bundle holds ${blocks.length} CA certificates; the ELBv2 quota "CA certificates per trust store" is ${TRUST_STORE_LIMITS.caCertificatesPerTrustStore}`;
  }
  const large = blocks.findIndex((block) => Buffer.byteLength(block) > TRUST_STORE_LIMITS.caCertificateSizeBytes);
  if (large >= 0) {
    return `certificate ${large + 1} of the bundle is ${Buffer.byteLength(blocks[large] ?? '')} bytes; the ELBv2 quota "CA certificate size" is 16 KB`;
  }
  return undefined;
}

/**
 * The tags of an ACM certificate certrotate creates (`createCertificate`): its durable record. Every
 * later run finds it by them (ListCertificates, ListTagsForCertificate), so a run that crashed right
 * after ImportCertificate returned, or two runs racing, end with the one certificate; IAM lets the
 * functions create only certificates tagged so (aws:RequestTag) and touch only those (aws:ResourceTag).
 */
export const ACM_CERTIFICATE_TAGS = {
  /** `certrotate:kind` = `acm-certificate`. */
  kind: 'certrotate:kind',
  /** The deployment's prefix (secretPrefix): two deployments in one account never take each other's. */
  prefix: 'certrotate:prefix',
  authority: 'certrotate:authority',
  /** The `createCertificate` name. */
  target: 'certrotate:target',
  /** When it was created (ISO 8601), fixed at creation: ACM's own ImportedAt moves with every re-import. */
  created: 'certrotate:created',
} as const;

export const ACM_CERTIFICATE_KIND = 'acm-certificate';
