import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

export const KEY_ALGORITHMS = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export function isKeyAlgorithm(value: unknown): value is KeyAlgorithm {
  return typeof value === 'string' && (KEY_ALGORITHMS as readonly string[]).includes(value);
}

/** How a key of each algorithm signs what it issues. */
interface SignatureProfile {
  hash: 'sha256' | 'sha384';
  oid: string;
  /** RSA's AlgorithmIdentifier carries an explicit NULL parameter; ECDSA's has none. */
  nullParameters: boolean;
}

const ECDSA_SHA256: SignatureProfile = { hash: 'sha256', oid: '1.2.840.10045.4.3.2', nullParameters: false };
const ECDSA_SHA384: SignatureProfile = { hash: 'sha384', oid: '1.2.840.10045.4.3.3', nullParameters: false };
const RSA_SHA256: SignatureProfile = { hash: 'sha256', oid: '1.2.840.113549.1.1.11', nullParameters: true };

export function signatureProfile(algorithm: KeyAlgorithm): SignatureProfile {
  switch (algorithm) {
    case 'p256':
      return ECDSA_SHA256;
    case 'p384':
      return ECDSA_SHA384;
    default:
      return RSA_SHA256;
  }
}

export function isRsa(algorithm: KeyAlgorithm): boolean {
  return algorithm.startsWith('rsa');
}

const generateKeyPairAsync = promisify(generateKeyPair);

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * A fresh key pair. EC keys take well under a millisecond, so they are made inline (a thread-pool
 * hop costs more than the work); RSA generation takes tens to hundreds of ms and runs off the
 * main thread.
 */
export async function generateKeyPairFor(algorithm: KeyAlgorithm): Promise<KeyPair> {
  switch (algorithm) {
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa2048':
      return generateKeyPairAsync('rsa', { modulusLength: 2048 });
    case 'rsa3072':
      return generateKeyPairAsync('rsa', { modulusLength: 3072 });
    case 'rsa4096':
      return generateKeyPairAsync('rsa', { modulusLength: 4096 });
  }
}

/** Names the algorithm of a key, or undefined for one certrotate does not issue with. */
export function algorithmOfKey(key: KeyObject): KeyAlgorithm | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'p256';
    if (details?.namedCurve === 'secp384r1') return 'p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'rsa') {
    switch (details?.modulusLength) {
      case 2048:
        return 'rsa2048';
      case 3072:
        return 'rsa3072';
      case 4096:
        return 'rsa4096';
      default:
        return undefined;
    }
  }
  return undefined;
}
