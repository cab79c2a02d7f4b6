/**
 * The local ACM's imported certificates: ImportCertificate (new, or re-import on an ARN, which
 * keeps the ARN and refuses a change of key algorithm, as ACM does), DescribeCertificate and
 * GetCertificate. Certificates and keys are checked with node:crypto: the key must match the
 * certificate.
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
  importedAt: number;
  x509: X509Certificate;
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
    if (existing !== undefined && existing.keyAlgorithm !== keyAlgorithm) {
      throw new AwsError('ValidationException', `The certificate to import uses key algorithm ${keyAlgorithm}, but certificate ${arn} uses ${existing.keyAlgorithm}: the key algorithm cannot change on re-import.`);
    }
    this.byArn.set(arn, { arn, certificate: x509.toString(), privateKey: keyPem, chain, keyAlgorithm, importedAt: this.now(), x509 });
    return { CertificateArn: arn };
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
