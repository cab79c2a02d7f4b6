/**
 * The certificate reader for every shape certificate-der.ts leaves aside, built on the ASN.1 layer
 * @peculiar/x509 is built on, and the text of names.
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { fieldsBeforeExtensions, type CertificateFields } from './certificate-der.js';
import { InvalidPemError } from './errors.js';

function hex(bytes: ArrayBuffer | ArrayBufferView): string {
  const view = ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  return Buffer.from(view).toString('hex');
}

/** The fields through @peculiar/asn1-x509's parse: every shape it reads, and the refusal of the rest. */
export function readCertificateBySchema(der: Uint8Array): CertificateFields {
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

/** A DER Name as @peculiar/x509 writes it (RFC 4514 style). */
export function nameText(der: Uint8Array, which: 'subject' | 'issuer'): string {
  try {
    return new x509.Name(der).toString();
  } catch (error) {
    throw new InvalidPemError(`the certificate's ${which} name cannot be read`, { cause: error });
  }
}

function readFields(certificate: asn1X509.Certificate): CertificateFields {
  const tbs = certificate.tbsCertificate;
  // Rendered once here only to refuse, at parse time as before, a name the schema cannot write.
  new x509.Name(tbs.subject).toString();
  new x509.Name(tbs.issuer).toString();
  const fields = fieldsBeforeExtensions({
    subjectDer: new Uint8Array(AsnConvert.serialize(tbs.subject)),
    issuerDer: new Uint8Array(AsnConvert.serialize(tbs.issuer)),
    serial: new Uint8Array(tbs.serialNumber),
    notBefore: tbs.validity.notBefore.getTime().getTime(),
    notAfter: tbs.validity.notAfter.getTime().getTime(),
    spkiDer: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
  });
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
        // The schema gives INTEGERs of four bytes or more as decimal text.
        fields.pathLength = constraints.pathLenConstraint === undefined ? undefined : Number(constraints.pathLenConstraint);
        break;
      }
      case asn1X509.id_ce_keyUsage:
        fields.keyUsage = AsnConvert.parse(value, asn1X509.KeyUsage).toNumber();
        break;
      case asn1X509.id_ce_extKeyUsage:
        fields.extendedKeyUsage = Array.from(AsnConvert.parse(value, asn1X509.ExtendedKeyUsage), String);
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
