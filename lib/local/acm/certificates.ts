/**
 * The local ACM's imported certificates: ImportCertificate (new, with tags, or re-import on an ARN,
 * which keeps the ARN and refuses a change of key algorithm and tags, as ACM does),
 * DescribeCertificate, GetCertificate, ListCertificates (RSA_1024 and RSA_2048 only unless
 * `Includes.keyTypes` says otherwise, as ACM lists), ListTagsForCertificate and DeleteCertificate.
 * Certificates and keys are checked with node:crypto: the key must match the certificate.
 */
import { X509Certificate, createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import type { Json } from '../kit/json-protocol.js';

export const ACCOUNT_ID = '000000000000';

interface Imported {
  arn: string;
  certificate: string;
  privateKey: string;
  chain: string | undefined;
  keyAlgorithm: string;
  createdAt: number;
  importedAt: number;
  tags: Array<{ Key: string; Value?: string }>;
  x509: X509Certificate;
}

/** What ListCertificates lists when `Includes.keyTypes` is absent (ACM's documented default). */
const DEFAULT_KEY_TYPES = ['RSA_1024', 'RSA_2048'];
const PAGE = 100;

function tagsOf(input: Json): Array<{ Key: string; Value?: string }> {
  const tags = input.Tags;
  if (tags === undefined) return [];
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'object' || tag === null || typeof (tag as Json).Key !== 'string')) {
    throw new AwsError('ValidationException', "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must be a list of tags");
  }
  return (tags as Json[]).map((tag) => ({ Key: String(tag.Key), ...(typeof tag.Value === 'string' ? { Value: tag.Value } : {}) }));
}

/** ACM's KeyAlgorithm names. */
function keyAlgorithmOf(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `RSA_${details?.modulusLength ?? 0}`;
  if (key.asymmetricKeyType === 'ec') {
    const curve = details?.namedCurve;
    if (curve === 'prime256v1') return 'EC_prime256v1';
    if (curve === 'secp384r1') return 'EC_secp384r1';
    if (curve === 'secp521r1') return 'EC_secp521r1';
  }
  throw new AwsError('ValidationException', `The key algorithm ${key.asymmetricKeyType ?? 'unknown'} is not supported.`);
}

/** `0a:1b:...`: how ACM prints a serial. */
export function acmSerial(hex: string): string {
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  return (even.toLowerCase().match(/../g) ?? []).join(':');
}

function blob(input: Json, name: string, required: boolean): string | undefined {
  const value = input[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value === '') throw new AwsError('ValidationException', `1 validation error detected: Value at '${name.charAt(0).toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`);
  return Buffer.from(value, 'base64').toString('utf8');
}

export class Certificates {
  private readonly byArn = new Map<string, Imported>();

  constructor(private readonly region: string, private readonly now: () => number) {}

  /** Setup only: an imported certificate at a chosen ARN, as if an operator had imported it before. */
  importAs(arn: string, certificate: string, privateKey: string): void {
    this.import({ Certificate: Buffer.from(certificate).toString('base64'), PrivateKey: Buffer.from(privateKey).toString('base64') }, arn);
  }

  import(input: Json, newArn?: string): Json {
    const certificate = blob(input, 'Certificate', true) ?? '';
    const keyPem = blob(input, 'PrivateKey', true) ?? '';
    const chain = blob(input, 'CertificateChain', false);
    let x509: X509Certificate;
    let key: KeyObject;
    try {
      x509 = new X509Certificate(certificate);
      key = createPrivateKey(keyPem);
    } catch {
      throw new AwsError('ValidationException', 'Could not validate the certificate with the certificate chain, or the private key.');
    }
    if (!x509.checkPrivateKey(key)) throw new AwsError('ValidationException', 'The private key does not match the public key in the certificate.');
    const keyAlgorithm = keyAlgorithmOf(key);
    const arn = typeof input.CertificateArn === 'string' ? input.CertificateArn : (newArn ?? `arn:aws:acm:${this.region}:${ACCOUNT_ID}:certificate/${randomUUID()}`);
    const existing = this.byArn.get(arn);
    if (typeof input.CertificateArn === 'string' && existing === undefined) throw new AwsError('ResourceNotFoundException', `Could not find certificate ${arn}.`);
    const tags = tagsOf(input);
    if (existing !== undefined && tags.length > 0) throw new AwsError('ValidationException', 'You cannot apply tags when reimporting a certificate.');
    if (existing !== undefined && existing.keyAlgorithm !== keyAlgorithm) {
      throw new AwsError('ValidationException', `The certificate to import uses key algorithm ${keyAlgorithm}, but certificate ${arn} uses ${existing.keyAlgorithm}: the key algorithm cannot change on re-import.`);
    }
    const createdAt = existing?.createdAt ?? this.now();
    this.byArn.set(arn, { arn, certificate: x509.toString(), privateKey: keyPem, chain, keyAlgorithm, createdAt, importedAt: this.now(), tags: existing?.tags ?? tags, x509 });
    return { CertificateArn: arn };
  }

  list(input: Json): Json {
    const includes = input.Includes as Json | undefined;
    const keyTypes = Array.isArray(includes?.keyTypes) ? (includes.keyTypes as unknown[]).map(String) : DEFAULT_KEY_TYPES;
    const all = [...this.byArn.values()].filter((imported) => keyTypes.includes(imported.keyAlgorithm));
    const start = typeof input.NextToken === 'string' ? Number(input.NextToken) : 0;
    const size = typeof input.MaxItems === 'number' ? Math.min(input.MaxItems, PAGE) : PAGE;
    const page = all.slice(start, start + size).map((imported) => ({
      CertificateArn: imported.arn,
      DomainName: /(?:^|\n)CN=([^\n]*)/.exec(imported.x509.subject)?.[1] ?? '',
      Type: 'IMPORTED',
      KeyAlgorithm: imported.keyAlgorithm,
      Status: this.now() > Date.parse(imported.x509.validTo) ? 'EXPIRED' : 'ISSUED',
      InUse: false,
      CreatedAt: imported.createdAt / 1000,
      ImportedAt: imported.importedAt / 1000,
      NotAfter: Date.parse(imported.x509.validTo) / 1000,
    }));
    return { CertificateSummaryList: page, ...(start + size < all.length ? { NextToken: String(start + size) } : {}) };
  }

  listTags(input: Json): Json {
    return { Tags: this.find(input).tags };
  }

  delete(input: Json): Json {
    this.byArn.delete(this.find(input).arn);
    return {};
  }

  describe(input: Json): Json {
    const imported = this.find(input);
    const { x509 } = imported;
    const sans = (x509.subjectAltName ?? '').split(', ').filter((name) => name.startsWith('DNS:')).map((name) => name.slice(4));
    const commonName = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1];
    return {
      Certificate: {
        CertificateArn: imported.arn,
        ...(commonName === undefined ? {} : { DomainName: commonName }),
        SubjectAlternativeNames: sans,
        Serial: acmSerial(x509.serialNumber),
        Subject: x509.subject.replace(/\n/g, ','),
        Issuer: x509.issuer.replace(/\n/g, ','),
        CreatedAt: imported.createdAt / 1000,
        ImportedAt: imported.importedAt / 1000,
        NotBefore: Date.parse(x509.validFrom) / 1000,
        NotAfter: Date.parse(x509.validTo) / 1000,
        KeyAlgorithm: imported.keyAlgorithm,
        Status: this.now() > Date.parse(x509.validTo) ? 'EXPIRED' : 'ISSUED',
        Type: 'IMPORTED',
        InUseBy: [],
      },
    };
  }

  get(input: Json): Json {
    const imported = this.find(input);
    return { Certificate: imported.certificate, ...(imported.chain === undefined ? {} : { CertificateChain: imported.chain }) };
  }

  /** What a listener serving the certificate uses; never answered over the wire (ACM does not export imported keys). */
  privateKey(arn: string): string {
    return this.find({ CertificateArn: arn }).privateKey;
  }

  private find(input: Json): Imported {
    const arn = input.CertificateArn;
    if (typeof arn !== 'string') throw new AwsError('ValidationException', "1 validation error detected: Value null at 'certificateArn' failed to satisfy constraint: Member must not be null");
    const imported = this.byArn.get(arn);
    if (imported === undefined) throw new AwsError('ResourceNotFoundException', `Could not find certificate ${arn}.`);
    return imported;
  }
}
