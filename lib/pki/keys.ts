import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { algorithmOfKey, type KeyAlgorithm } from './algorithms.js';
import type { Certificate } from './certificate.js';
import { InvalidPemError, KeyMismatchError, UnsupportedKeyError } from './errors.js';
import { parsePemBlocks } from './pem.js';

export interface PrivateKey {
  key: KeyObject;
  algorithm: KeyAlgorithm;
}

const KEY_ENCODINGS: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

/**
 * A private key from PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM. An `EC PARAMETERS` block before the
 * key (as `openssl ecparam -genkey` writes) is skipped. Refuses certificates, encrypted keys,
 * RSA below 2048 bits and curves other than P-256 and P-384.
 */
export function parsePrivateKey(pem: string): PrivateKey {
  const blocks = parsePemBlocks(pem).filter((block) => block.label !== 'EC PARAMETERS');
  const [block] = blocks;
  if (block === undefined) throw new InvalidPemError('expected a private key but found only EC PARAMETERS');
  if (blocks.length > 1) {
    throw new InvalidPemError(`expected one private key but found ${blocks.length} PEM blocks`);
  }
  if (block.label === 'ENCRYPTED PRIVATE KEY') {
    throw new UnsupportedKeyError('the private key is encrypted: store it unencrypted (PKCS#8) in the secret');
  }
  const encoding = KEY_ENCODINGS[block.label];
  if (encoding === undefined) {
    throw new InvalidPemError(
      `found a ${block.label} where a private key was expected: check which file or secret key you passed`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(block.der), format: 'der', type: encoding });
  } catch (error) {
    throw new InvalidPemError(`the ${block.label} block does not hold a readable ${encoding} private key`, {
      cause: error,
    });
  }
  const algorithm = algorithmOfKey(key);
  if (algorithm === undefined) {
    const details = key.asymmetricKeyDetails;
    const size = details?.modulusLength !== undefined ? `${details.modulusLength}-bit ` : '';
    const curve = details?.namedCurve !== undefined ? ` on curve ${details.namedCurve}` : '';
    throw new UnsupportedKeyError(
      `unsupported private key: ${size}${key.asymmetricKeyType ?? 'unknown'}${curve}; use ECDSA P-256 or P-384, or RSA 2048, 3072 or 4096`,
    );
  }
  return { key, algorithm };
}

/** A private key as PKCS#8 PEM, the only form certrotate writes. */
export function privateKeyToPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function keyMatchesCertificate(key: KeyObject, certificate: Certificate): boolean {
  return createPublicKey(key).equals(certificate.publicKey);
}

export function assertKeyMatchesCertificate(key: KeyObject, certificate: Certificate): void {
  if (!keyMatchesCertificate(key, certificate)) {
    throw new KeyMismatchError(
      `the private key does not belong to certificate ${certificate.describe()}: the secret's key and certificate come from different issuances; reissue the certificate`,
    );
  }
}
