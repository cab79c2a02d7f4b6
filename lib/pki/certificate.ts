import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readPlainCertificate, type CertificateFields, type SubjectAltNames } from './certificate-der.js';
import { nameText, readCertificateBySchema } from './certificate-schema.js';
import { InvalidPemError, UnsupportedKeyError } from './errors.js';
import { parsePemBlocks, toPem } from './pem.js';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export type { SubjectAltNames } from './certificate-der.js';

/**
 * The fields of a DER certificate: read directly when it has the plain shape (certificate-der.ts),
 * else from @peculiar/asn1-x509's parse, which also gives the refusal of anything malformed.
 */
function fieldsOf(der: Uint8Array): CertificateFields {
  return readPlainCertificate(der) ?? readCertificateBySchema(der);
}

/**
 * A certificate with the fields certrotate reads, in plain types. Times are epoch ms; key ids and
 * serials are lowercase hex. Certificates read from outside are parsed (and refused if malformed)
 * at once; certificates lib/pki just signed are parsed only when a field is first read, which
 * keeps issuance fast.
 */
export class Certificate {
  readonly der: Uint8Array;
  #fields: CertificateFields | undefined;
  #subject: string | undefined;
  #issuer: string | undefined;
  #publicKey: KeyObject | undefined;
  #node: NodeX509Certificate | undefined;

  private constructor(der: Uint8Array, fields: CertificateFields | undefined) {
    this.der = der;
    this.#fields = fields;
  }

  /** A certificate lib/pki has just built: trusted to be well-formed, parsed on first use. */
  static fromIssued(der: Uint8Array): Certificate {
    return new Certificate(der, undefined);
  }

  get #parsed(): CertificateFields {
    this.#fields ??= fieldsOf(this.der);
    return this.#fields;
  }

  /** RFC 4514-style text, as @peculiar/x509 writes it; rendered on first read. */
  get subject(): string {
    this.#subject ??= nameText(this.#parsed.subjectDer, 'subject');
    return this.#subject;
  }
  get issuer(): string {
    this.#issuer ??= nameText(this.#parsed.issuerDer, 'issuer');
    return this.#issuer;
  }
  get serialHex(): string {
    return this.#parsed.serialHex;
  }
  get notBefore(): number {
    return this.#parsed.notBefore;
  }
  get notAfter(): number {
    return this.#parsed.notAfter;
  }
  get subjectKeyId(): string | undefined {
    return this.#parsed.subjectKeyId;
  }
  get authorityKeyId(): string | undefined {
    return this.#parsed.authorityKeyId;
  }
  get isCa(): boolean {
    return this.#parsed.isCa;
  }
  get pathLength(): number | undefined {
    return this.#parsed.pathLength;
  }
  /** keyUsage bits as @peculiar/x509's KeyUsageFlags; undefined when the extension is absent. */
  get keyUsage(): number | undefined {
    return this.#parsed.keyUsage;
  }
  /** extendedKeyUsage OIDs; undefined when the extension is absent (any purpose). */
  get extendedKeyUsage(): string[] | undefined {
    return this.#parsed.extendedKeyUsage;
  }
  get subjectAltNames(): SubjectAltNames {
    return this.#parsed.subjectAltNames;
  }
  get spkiDer(): Uint8Array {
    return this.#parsed.spkiDer;
  }

  /** Parses one DER certificate; throws InvalidPemError for anything that is not one. */
  static fromDer(der: Uint8Array): Certificate {
    return new Certificate(der, fieldsOf(der));
  }

  get pem(): string {
    return toPem(this.der, 'CERTIFICATE');
  }

  /** The certificate's public key; UnsupportedKeyError when OpenSSL cannot read it. */
  get publicKey(): KeyObject {
    try {
      this.#publicKey ??= createPublicKey({ key: Buffer.from(this.spkiDer), format: 'der', type: 'spki' });
    } catch (error) {
      throw new UnsupportedKeyError(`certificate ${this.describe()} holds a public key that cannot be read`, { cause: error });
    }
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
