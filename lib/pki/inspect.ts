import { algorithmOfKey, type KeyAlgorithm } from './algorithms.js';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, parseCertificate, type Certificate, type SubjectAltNames } from './certificate.js';

export interface CertificateSummary {
  subject: string;
  subjectAltNames: SubjectAltNames;
  /** 'serverAuth', 'clientAuth', or the OID of any other purpose; empty when unrestricted. */
  extendedKeyUsage: string[];
  issuerKeyId: string | undefined;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  keyAlgorithm: KeyAlgorithm | 'unsupported';
  fingerprintSha256: string;
}

const EKU_NAMES: Record<string, string> = { [EKU_SERVER_AUTH]: 'serverAuth', [EKU_CLIENT_AUTH]: 'clientAuth' };

/** What a scan needs from a certificate, as plain data. */
export function inspectCertificate(input: string | Uint8Array | Certificate): CertificateSummary {
  const certificate = typeof input === 'string' || input instanceof Uint8Array ? parseCertificate(input) : input;
  return {
    subject: certificate.subject,
    subjectAltNames: certificate.subjectAltNames,
    extendedKeyUsage: (certificate.extendedKeyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    issuerKeyId: certificate.authorityKeyId,
    serialHex: certificate.serialHex,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    keyAlgorithm: algorithmOfKey(certificate.publicKey) ?? 'unsupported',
    fingerprintSha256: certificate.fingerprintSha256,
  };
}
