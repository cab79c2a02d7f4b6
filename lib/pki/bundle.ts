import type { Certificate} from './certificate.js';
import { parseCertificates } from './certificate.js';
import { CertificateExpiredError } from './errors.js';

/** A CA generation as a bundle sees it. */
export interface BundleMember {
  generation: number;
  certificate: Certificate;
}

export interface BundleEntry {
  subject: string;
  /** certrotate's generation number, read from the subject; undefined for a CA certrotate did not make. */
  generation: number | undefined;
  subjectKeyId: string | undefined;
  notAfter: number;
}

const GENERATION_IN_SUBJECT = /^CN=certrotate [a-z0-9-]+ CA (\d+)$/;

/** The generation number certrotate wrote into a CA's subject, if it made this CA. */
export function generationOf(certificate: Certificate): number | undefined {
  const match = GENERATION_IN_SUBJECT.exec(certificate.subject);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * A PEM trust bundle in certrotate's one stored order: generations ascending, oldest first (the
 * order `bundleOf` gives and status prints), deduplicated by SKI, with CAs expired at `at` pruned.
 * Every copy (the bundle secret, each leaf's `ca.crt`, every consumer) holds the same bytes; the
 * order does not matter to a verifier, since each generation has its own subject. An expired
 * signer with no other valid CA is an error: nothing it issues would verify.
 */
export function buildBundle(members: readonly BundleMember[], signerGeneration: number, at: number): string {
  const signer = members.find((member) => member.generation === signerGeneration);
  // An expired CA verifies nothing and is left out like any other; a bundle of expired CAs only is
  // refused: there is nothing left to trust.
  if (signer !== undefined && members.every((member) => at > member.certificate.notAfter)) {
    throw new CertificateExpiredError(
      `signer CA generation ${signerGeneration} ${signer.certificate.describe()} expired at ${new Date(signer.certificate.notAfter).toISOString()}, and no other CA of the bundle is valid: force a rotation (emergency) to a new CA`,
    );
  }
  const ordered = [...members].sort((a, b) => a.generation - b.generation);
  const seen = new Set<string>();
  const pems: string[] = [];
  for (const { certificate } of ordered) {
    const key = certificate.subjectKeyId ?? certificate.fingerprintSha256;
    if (seen.has(key) || at > certificate.notAfter) continue;
    seen.add(key);
    pems.push(certificate.pem);
  }
  return pems.join('');
}

/** A bundle back into its certificates, in order. */
export function splitBundle(pem: string): Certificate[] {
  return parseCertificates(pem);
}

/** What an operator wants to see of a bundle: subject, generation, SKI, notAfter per CA. */
export function describeBundle(pem: string): BundleEntry[] {
  return splitBundle(pem).map((certificate) => ({
    subject: certificate.subject,
    generation: generationOf(certificate),
    subjectKeyId: certificate.subjectKeyId,
    notAfter: certificate.notAfter,
  }));
}
