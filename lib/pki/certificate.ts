import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { InvalidPemError } from './errors.js';
import { parsePemBlocks, toPem } from './pem.js';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  uri: string[];
}

/**
 * A parsed certificate with the fields certrotate reads, in plain types. Times are epoch ms;
 * key ids and serials are lowercase hex.
 */
export class Certificate {
  readonly der: Uint8Array;
  readonly subject: string;
  readonly issuer: string;
  readonly serialHex: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  readonly isCa: boolean;
  readonly pathLength: number | undefined;
  /** keyUsage bits as @peculiar/x509's KeyUsageFlags; undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** extendedKeyUsage OIDs; undefined when the extension is absent (any purpose). */
  readonly extendedKeyUsage: string[] | undefined;
  readonly subjectAltNames: SubjectAltNames;
  readonly spkiDer: Uint8Array;
  #publicKey: KeyObject | undefined;
  #node: NodeX509Certificate | undefined;

  private constructor(der: Uint8Array, parsed: x509.X509Certificate) {
    this.der = der;
    this.subject = parsed.subject;
    this.issuer = parsed.issuer;
    this.serialHex = parsed.serialNumber.toLowerCase();
    this.notBefore = parsed.notBefore.getTime();
    this.notAfter = parsed.notAfter.getTime();
    this.subjectKeyId = parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase();
    this.authorityKeyId = parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
    const constraints = parsed.getExtension(x509.BasicConstraintsExtension);
    this.isCa = constraints?.ca ?? false;
    this.pathLength = constraints?.pathLength;
    this.keyUsage = parsed.getExtension(x509.KeyUsagesExtension)?.usages;
    this.extendedKeyUsage = parsed.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String);
    this.subjectAltNames = { dns: [], ip: [], uri: [] };
    for (const name of parsed.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []) {
      if (name.type === 'dns') this.subjectAltNames.dns.push(name.value);
      else if (name.type === 'ip') this.subjectAltNames.ip.push(name.value);
      else if (name.type === 'url') this.subjectAltNames.uri.push(name.value);
    }
    this.spkiDer = new Uint8Array(parsed.publicKey.rawData);
  }

  /** Parses one DER certificate; throws InvalidPemError for anything that is not one. */
  static fromDer(der: Uint8Array): Certificate {
    let parsed: x509.X509Certificate;
    try {
      parsed = new x509.X509Certificate(der);
    } catch (error) {
      throw new InvalidPemError('the data is not a DER X.509 certificate (ASN.1 parse failed)', {
        cause: error,
      });
    }
    return new Certificate(der, parsed);
  }

  get pem(): string {
    return toPem(this.der, 'CERTIFICATE');
  }

  get publicKey(): KeyObject {
    this.#publicKey ??= createPublicKey({ key: Buffer.from(this.spkiDer), format: 'der', type: 'spki' });
    return this.#publicKey;
  }

  get fingerprintSha256(): string {
    return createHash('sha256').update(this.der).digest('hex');
  }

  /** Whether `issuer`'s key verifies this certificate's signature (OpenSSL via node:crypto). */
  isSignedBy(issuer: Certificate): boolean {
    this.#node ??= new NodeX509Certificate(this.der);
    try {
      return this.#node.verify(issuer.publicKey);
    } catch {
      return false;
    }
  }

  /** A short description for messages: subject and key id, never key material. */
  describe(): string {
    return `"${this.subject}" (key id ${this.subjectKeyId ?? 'none'}, serial ${this.serialHex})`;
  }
}

/**
 * Certificates from PEM (one or many blocks, CRLF, text between blocks) or DER bytes. Refuses
 * input holding no certificate, or a key where a certificate was expected.
 */
export function parseCertificates(input: string | Uint8Array): Certificate[] {
  if (typeof input !== 'string') {
    if (input.length === 0) throw new InvalidPemError('expected a DER certificate but got no bytes');
    return [Certificate.fromDer(input)];
  }
  return parsePemBlocks(input).map((block, index) => {
    if (block.label !== 'CERTIFICATE') {
      throw new InvalidPemError(
        `PEM block ${index + 1} is a ${block.label} where a CERTIFICATE was expected: check which file or secret key you passed`,
      );
    }
    return Certificate.fromDer(block.der);
  });
}

/** Exactly one certificate: the first of a chain (a leaf's `tls.crt` holds the leaf first). */
export function parseCertificate(input: string | Uint8Array): Certificate {
  const [first] = parseCertificates(input);
  if (first === undefined) throw new InvalidPemError('expected a certificate but found none');
  return first;
}
