import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { InvalidPemError, UnsupportedKeyError } from './errors.js';
import { parsePemBlocks, toPem } from './pem.js';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  uri: string[];
}

/** The fields certrotate reads, extracted once from the ASN.1 parse. */
interface CertificateFields {
  subject: string;
  issuer: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  isCa: boolean;
  pathLength: number | undefined;
  keyUsage: number | undefined;
  extendedKeyUsage: string[] | undefined;
  subjectAltNames: SubjectAltNames;
  spkiDer: Uint8Array;
}

function hex(bytes: ArrayBuffer | ArrayBufferView): string {
  const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  return Buffer.from(view).toString('hex');
}

/**
 * Reads the fields straight from @peculiar/asn1-x509's parse (the ASN.1 layer @peculiar/x509 is
 * built on): about three times faster than building an @peculiar/x509 X509Certificate, which
 * matters to a scan or a simulation that reads thousands of leaves.
 */
function fieldsOf(der: Uint8Array): CertificateFields {
  let certificate: asn1X509.Certificate;
  try {
    certificate = AsnConvert.parse(der, asn1X509.Certificate);
  } catch (error) {
    throw new InvalidPemError('the data is not a DER X.509 certificate (ASN.1 parse failed)', { cause: error });
  }
  try {
    return readFields(certificate);
  } catch (error) {
    // A field or extension that does not decode (a flipped byte, a truncated value) makes the
    // whole certificate unreadable: a typed refusal, never the ASN.1 library's own error.
    throw new InvalidPemError(`the certificate's fields cannot be read (${error instanceof Error ? error.message.slice(0, 120) : 'undecodable'})`, { cause: error });
  }
}

function readFields(certificate: asn1X509.Certificate): CertificateFields {
  const tbs = certificate.tbsCertificate;
  const fields: CertificateFields = {
    subject: new x509.Name(tbs.subject).toString(),
    issuer: new x509.Name(tbs.issuer).toString(),
    serialHex: hex(tbs.serialNumber).replace(/^(00)+(?=.)/, ''),
    notBefore: tbs.validity.notBefore.getTime().getTime(),
    notAfter: tbs.validity.notAfter.getTime().getTime(),
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    isCa: false,
    pathLength: undefined,
    keyUsage: undefined,
    extendedKeyUsage: undefined,
    subjectAltNames: { dns: [], ip: [], uri: [] },
    spkiDer: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
  };
  for (const extension of tbs.extensions ?? []) {
    const value = extension.extnValue.buffer;
    switch (extension.extnID) {
      case asn1X509.id_ce_subjectKeyIdentifier:
        fields.subjectKeyId = hex(AsnConvert.parse(value, asn1X509.SubjectKeyIdentifier).buffer);
        break;
      case asn1X509.id_ce_authorityKeyIdentifier: {
        const keyId = AsnConvert.parse(value, asn1X509.AuthorityKeyIdentifier).keyIdentifier;
        fields.authorityKeyId = keyId === undefined ? undefined : hex(keyId.buffer);
        break;
      }
      case asn1X509.id_ce_basicConstraints: {
        const constraints = AsnConvert.parse(value, asn1X509.BasicConstraints);
        fields.isCa = constraints.cA;
        fields.pathLength = constraints.pathLenConstraint;
        break;
      }
      case asn1X509.id_ce_keyUsage:
        fields.keyUsage = AsnConvert.parse(value, asn1X509.KeyUsage).toNumber();
        break;
      case asn1X509.id_ce_extKeyUsage:
        fields.extendedKeyUsage = AsnConvert.parse(value, asn1X509.ExtendedKeyUsage).map(String);
        break;
      case asn1X509.id_ce_subjectAltName:
        for (const name of AsnConvert.parse(value, asn1X509.SubjectAlternativeName)) {
          if (name.dNSName !== undefined) fields.subjectAltNames.dns.push(name.dNSName);
          else if (name.iPAddress !== undefined) fields.subjectAltNames.ip.push(new x509.GeneralName(name).value);
          else if (name.uniformResourceIdentifier !== undefined) fields.subjectAltNames.uri.push(name.uniformResourceIdentifier);
        }
        break;
    }
  }
  return fields;
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

  get subject(): string {
    return this.#parsed.subject;
  }
  get issuer(): string {
    return this.#parsed.issuer;
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
