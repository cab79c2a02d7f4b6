/**
 * Who signs what a CA issues. The certificate is built once (lib/pki/issue.ts) and its DER
 * TBSCertificate handed to a CaSigner: a local key (the `secret` key store) signs in process; a
 * remote key (KMS) is given the digest and its answer is checked against the CA's public key before
 * it is used, so a wrong key or a garbled answer never becomes a certificate.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { algorithmOfKey, signatureProfile, type KeyAlgorithm } from './algorithms.js';
import { PkiError, UnsupportedKeyError } from './errors.js';

/**
 * The CA's key cannot sign (a KMS key disabled, deleted, or answering with a signature that is not
 * the CA's): nothing about any one leaf, so the step that needed it fails rather than skipping leaves.
 */
export class CaSignerError extends PkiError {
  override name = 'CaSignerError';
}

export interface CaSigner {
  readonly algorithm: KeyAlgorithm;
  /** The public half, as the CA certificate carries it. */
  readonly publicKey: KeyObject;
  /** Where the key lives, for messages (never key material): `a local key`, a KMS key ARN. */
  readonly location: string;
  /**
   * Signs the DER of a TBSCertificate with the algorithm's hash (signatureProfile); returns the
   * signature as X.509 carries it: a DER ECDSA-Sig-Value, or the RSA PKCS#1 v1.5 signature.
   */
  sign(tbsDer: Uint8Array): Promise<Uint8Array>;
}

/** A CA key held in process (the `secret` key store): signing costs one node:crypto call. */
export function localSigner(privateKey: KeyObject, algorithm: KeyAlgorithm): CaSigner {
  const { hash } = signatureProfile(algorithm);
  return {
    algorithm,
    publicKey: createPublicKey(privateKey),
    location: 'a local key',
    sign: (tbsDer) => Promise.resolve(sign(hash, tbsDer, { key: privateKey, dsaEncoding: 'der' })),
  };
}

/** Signs a digest elsewhere; `digest` is the SHA-256 or SHA-384 the algorithm's profile names. */
export type DigestSigner = (digest: Uint8Array, algorithm: KeyAlgorithm) => Promise<Uint8Array>;

/** The public key of DER SubjectPublicKeyInfo, with the algorithm it is for. */
export function publicKeyFromSpki(spkiDer: Uint8Array): { publicKey: KeyObject; algorithm: KeyAlgorithm } {
  const publicKey = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  const algorithm = algorithmOfKey(publicKey);
  if (algorithm === undefined) {
    throw new UnsupportedKeyError(`the CA public key (${publicKey.asymmetricKeyType ?? 'unknown'}) is not one certrotate signs with`);
  }
  return { publicKey, algorithm };
}

/**
 * A CA key held elsewhere (KMS): the digest of the TBS goes out, the signature comes back and is
 * verified against `publicKey` (a fraction of a millisecond) before anything uses it.
 */
export function remoteSigner(publicKey: KeyObject, location: string, signDigest: DigestSigner): CaSigner {
  const algorithm = algorithmOfKey(publicKey);
  if (algorithm === undefined) throw new UnsupportedKeyError(`the key ${location} is not one certrotate signs with`);
  const { hash } = signatureProfile(algorithm);
  return {
    algorithm,
    publicKey,
    location,
    async sign(tbsDer) {
      const digest = createHash(hash).update(tbsDer).digest();
      const signature = await signDigest(new Uint8Array(digest), algorithm);
      if (!verify(hash, tbsDer, { key: publicKey, dsaEncoding: 'der' }, signature)) {
        throw new CaSignerError(`the signature made by ${location} does not verify with the CA's public key: that key is not this CA's`);
      }
      return signature;
    },
  };
}
