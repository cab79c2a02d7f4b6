import * as x509 from '@peculiar/x509';
import type { Certificate} from './certificate.js';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH, parseCertificates } from './certificate.js';
import {
  BadSignatureError,
  CertificateExpiredError,
  CertificateNotYetValidError,
  NotACaError,
  PathLengthError,
  UnknownIssuerError,
  WrongPurposeError,
} from './errors.js';

export type Purpose = 'serverAuth' | 'clientAuth';
const PURPOSE_OID: Record<Purpose, string> = { serverAuth: EKU_SERVER_AUTH, clientAuth: EKU_CLIENT_AUTH };

/** Longer chains than this are refused outright (certrotate issues depth 1). */
const MAX_CHAIN_DEPTH = 8;

export interface VerifiedChain {
  leaf: Certificate;
  /** The bundle certificate the chain ends at. */
  anchor: Certificate;
  /** Certificates from the leaf's chain between the leaf and the anchor. */
  intermediates: Certificate[];
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** RFC 5280 validity: inclusive at both ends, judged at the given instant, not the wall clock. */
export function assertValidAt(certificate: Certificate, at: number): void {
  if (at < certificate.notBefore) {
    throw new CertificateNotYetValidError(
      `certificate ${certificate.describe()} is not valid until ${iso(certificate.notBefore)} (checked at ${iso(at)}): check the issuing clock or wait`,
    );
  }
  if (at > certificate.notAfter) {
    throw new CertificateExpiredError(
      `certificate ${certificate.describe()} expired at ${iso(certificate.notAfter)} (checked at ${iso(at)}): renew it`,
    );
  }
}

function assertCanIssue(ca: Certificate, intermediatesBelow: number): void {
  if (!ca.isCa) {
    throw new NotACaError(`certificate ${ca.describe()} is used as an issuer but is not a CA (no basicConstraints CA:true)`);
  }
  if (ca.keyUsage !== undefined && (ca.keyUsage & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new NotACaError(`CA ${ca.describe()} lacks keyUsage keyCertSign, so it may not sign certificates`);
  }
  if (ca.pathLength !== undefined && intermediatesBelow > ca.pathLength) {
    throw new PathLengthError(
      `CA ${ca.describe()} allows ${ca.pathLength} intermediate CA(s) below it (pathLen) but the chain has ${intermediatesBelow}`,
    );
  }
}

function candidateIssuers(certificate: Certificate, pool: readonly Certificate[]): Certificate[] {
  const keyId = certificate.authorityKeyId;
  return pool.filter((candidate) =>
    keyId !== undefined ? candidate.subjectKeyId === keyId : candidate.subject === certificate.issuer,
  );
}

/** The first candidate whose key verifies the signature; BadSignatureError if one matched by id but none verified. */
function signerAmong(certificate: Certificate, candidates: readonly Certificate[]): Certificate | undefined {
  if (candidates.length === 0) return undefined;
  const signer = candidates.find((candidate) => certificate.isSignedBy(candidate));
  if (signer === undefined) {
    throw new BadSignatureError(
      `the signature of ${certificate.describe()} does not verify under the key of ${candidates[0]?.describe() ?? 'its issuer'}: the certificate was altered or issued by a different key with the same id`,
    );
  }
  return signer;
}

function toCertificates(input: string | readonly Certificate[]): readonly Certificate[] {
  return typeof input === 'string' ? parseCertificates(input) : input;
}

/**
 * Verifies a leaf chain (leaf first, then any intermediates) against a trust bundle at an instant:
 * validity windows inclusive at both ends, each issuer found by AKI/SKI (by name when a certificate
 * has no AKI), signatures checked, CA constraints and pathLen checked, and the leaf's
 * extendedKeyUsage checked against `purpose` when one is given. Throws the typed error of the
 * first problem.
 */
export function verifyChain(
  chain: string | readonly Certificate[],
  bundle: string | readonly Certificate[],
  at: number,
  options: { purpose?: Purpose } = {},
): VerifiedChain {
  const [leaf, ...rest] = toCertificates(chain);
  const anchors = toCertificates(bundle);
  if (leaf === undefined) throw new UnknownIssuerError('the chain holds no certificate');
  assertValidAt(leaf, at);
  if (options.purpose !== undefined && leaf.extendedKeyUsage !== undefined) {
    const oid = PURPOSE_OID[options.purpose];
    if (!leaf.extendedKeyUsage.includes(oid)) {
      throw new WrongPurposeError(
        `certificate ${leaf.describe()} does not allow ${options.purpose} (its extendedKeyUsage is ${leaf.extendedKeyUsage.join(', ')}): reissue it with that usage`,
      );
    }
  }
  const intermediates: Certificate[] = [];
  let current = leaf;
  while (intermediates.length <= MAX_CHAIN_DEPTH) {
    const anchor = signerAmong(current, candidateIssuers(current, anchors));
    if (anchor !== undefined) {
      assertValidAt(anchor, at);
      assertCanIssue(anchor, intermediates.length);
      return { leaf, anchor, intermediates };
    }
    const intermediate = signerAmong(current, candidateIssuers(current, rest));
    if (intermediate === undefined || intermediate === current) break;
    assertValidAt(intermediate, at);
    assertCanIssue(intermediate, intermediates.length);
    intermediates.push(intermediate);
    current = intermediate;
  }
  const known = anchors.map((anchor) => anchor.subjectKeyId ?? anchor.subject).join(', ') || 'none';
  throw new UnknownIssuerError(
    `no CA in the bundle issued ${current.describe()} (its issuer key id is ${current.authorityKeyId ?? 'absent'}; the bundle holds key ids ${known}): publish a bundle that includes its issuer, or reissue it from a trusted CA`,
  );
}
