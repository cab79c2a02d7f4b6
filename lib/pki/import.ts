/**
 * The checks a CA made elsewhere (kubeadm's, an openssl-made one, a Linkerd trust anchor) must pass
 * before certrotate adopts it as an authority's current generation. Pure: the instant is an input.
 * Every refusal is a CaImportRefusedError naming the check; no message holds key material.
 */
import * as x509 from '@peculiar/x509';
import { ValidationError } from '../errors.js';
import { algorithmOfKey, type KeyAlgorithm } from './algorithms.js';
import { parseCertificates, type Certificate } from './certificate.js';
import { PkiError } from './errors.js';
import { keyMatchesCertificate, parsePrivateKey, privateKeyToPem } from './keys.js';

/** Which check refused an import; the CLI and tests read it, people read the message. */
export type CaImportCheck =
  | 'unknown-authority'
  | 'malformed'
  | 'not-a-root'
  | 'not-a-ca'
  | 'algorithm'
  | 'key-mismatch'
  | 'not-valid-now'
  | 'lifetime'
  | 'subject-clash'
  | 'already-has-ca';

export class CaImportRefusedError extends ValidationError {
  override name = 'CaImportRefusedError';
  constructor(
    readonly check: CaImportCheck,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`import-ca refused: ${message}`, options);
  }
}

export interface CaImportInput {
  certificatePem: string;
  privateKeyPem: string;
  chainPem?: string;
}

/** A CA that passed every check: its certificate, and its key as PKCS#8 PEM (the form certrotate stores). */
export interface ImportableCa {
  certificate: Certificate;
  algorithm: KeyAlgorithm;
  privateKeyPem: string;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function days(ms: number): string {
  return `${Math.round((ms / 86_400_000) * 10) / 10} days`;
}

/** Parses one input; a lib/pki refusal (its message never quotes the PEM) becomes a `malformed` refusal naming the input. */
function parsed<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof PkiError)) throw error;
    const check: CaImportCheck = error.name === 'UnsupportedKeyError' ? 'algorithm' : 'malformed';
    throw new CaImportRefusedError(check, `${what}: ${error.message}`, { cause: error });
  }
}

function checkChain(certificate: Certificate, chainPem: string | undefined): void {
  const selfSigned = certificate.subject === certificate.issuer && certificate.isSignedBy(certificate);
  const chain = chainPem === undefined || chainPem.trim() === '' ? [] : parsed('the chain', () => parseCertificates(chainPem));
  if (!selfSigned) {
    throw new CaImportRefusedError(
      'not-a-root',
      `CA ${certificate.describe()} is issued by "${certificate.issuer}", not self-signed: certrotate adopts a root CA, which its trust bundle ` +
        'anchors on; adopting an intermediate under an external root is not supported (import the root, or let certrotate rotate to its own CA)',
    );
  }
  const others = chain.filter((member) => member.fingerprintSha256 !== certificate.fingerprintSha256);
  if (others.length > 0) {
    throw new CaImportRefusedError(
      'not-a-root',
      `the chain holds ${others.length} certificate(s) other than the CA itself (first: ${others[0]?.describe() ?? ''}), but a self-signed root has no chain: pass only the CA`,
    );
  }
}

/**
 * Checks, in this order, that the certificate and key are well-formed PEM, that the certificate is
 * a self-signed CA (basicConstraints CA:true; keyUsage, when present, with keyCertSign), that its key
 * is one certrotate signs with (P-256, P-384, RSA 2048/3072/4096), that the private key is its key,
 * that it is valid at `now`, and that it lives longer than `minRemainingMs` (the authority's longest
 * leaf lifetime: a leaf issued from it must not be cut short).
 */
export function checkImportableCa(input: CaImportInput, now: number, minRemainingMs: number): ImportableCa {
  const certificates = parsed('the CA certificate', () => parseCertificates(input.certificatePem));
  const [certificate] = certificates;
  if (certificate === undefined) throw new CaImportRefusedError('malformed', 'the CA certificate holds no certificate');
  if (certificates.length > 1) {
    throw new CaImportRefusedError('malformed', `the CA certificate holds ${certificates.length} certificates: pass the CA alone, and any chain as the chain`);
  }
  const key = parsed('the CA private key', () => parsePrivateKey(input.privateKeyPem));
  if (!certificate.isCa) {
    throw new CaImportRefusedError('not-a-ca', `certificate ${certificate.describe()} is not a CA (no basicConstraints CA:true): it cannot sign leaves`);
  }
  if (certificate.keyUsage !== undefined && (certificate.keyUsage & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new CaImportRefusedError('not-a-ca', `CA ${certificate.describe()} has a keyUsage without keyCertSign: it may not sign certificates`);
  }
  checkChain(certificate, input.chainPem);
  const algorithm = algorithmOfKey(parsed('the CA certificate', () => certificate.publicKey));
  if (algorithm === undefined) {
    const details = certificate.publicKey.asymmetricKeyDetails;
    throw new CaImportRefusedError(
      'algorithm',
      `CA ${certificate.describe()} has a ${certificate.publicKey.asymmetricKeyType ?? 'unknown'} key (${details?.namedCurve ?? `${details?.modulusLength ?? '?'} bits`}) ` +
        'certrotate does not sign with: use ECDSA P-256 or P-384, or RSA 2048, 3072 or 4096',
    );
  }
  if (!keyMatchesCertificate(key.key, certificate)) {
    throw new CaImportRefusedError('key-mismatch', `the private key does not belong to CA ${certificate.describe()}: check that the key and certificate files are a pair`);
  }
  if (now < certificate.notBefore || now > certificate.notAfter) {
    throw new CaImportRefusedError(
      'not-valid-now',
      `CA ${certificate.describe()} is valid from ${iso(certificate.notBefore)} to ${iso(certificate.notAfter)}, not now (${iso(now)})`,
    );
  }
  const remaining = certificate.notAfter - now;
  if (remaining <= minRemainingMs) {
    throw new CaImportRefusedError(
      'lifetime',
      `CA ${certificate.describe()} expires at ${iso(certificate.notAfter)}, in ${days(remaining)}: no longer than the authority's longest leaf lifetime ` +
        `(${days(minRemainingMs)}), so leaves issued from it would be cut short; renew the CA first, or let certrotate generate one`,
    );
  }
  return { certificate, algorithm, privateKeyPem: privateKeyToPem(key.key) };
}
