/**
 * What the local KMS does with a key it never returns: make it, and sign a message or a digest the
 * way KMS does (ECDSA signatures DER-encoded, RSA PKCS#1 v1.5 over a DigestInfo). node:crypto signs
 * only messages it hashes itself, so a digest is signed by hand: for RSA, the DigestInfo with
 * PKCS#1 type-1 padding (privateEncrypt); for ECDSA, r from k·G (OpenSSL computes the point, through
 * ECDH) and s = k⁻¹(z + r·d) mod n in BigInt.
 */
import { constants, createECDH, createHash, createPublicKey, generateKeyPairSync, privateEncrypt, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';

export const KEY_SPECS = ['ECC_NIST_P256', 'ECC_NIST_P384', 'RSA_2048', 'RSA_3072', 'RSA_4096'] as const;
export type KeySpec = (typeof KEY_SPECS)[number];

export function isKeySpec(value: unknown): value is KeySpec {
  return typeof value === 'string' && (KEY_SPECS as readonly string[]).includes(value);
}

interface Curve {
  name: 'P-256' | 'P-384';
  n: bigint;
  bytes: number;
  /** OpenSSL's name, for createECDH. */
  ecdhName: string;
}

const P256: Curve = {
  name: 'P-256',
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  bytes: 32,
  ecdhName: 'prime256v1',
};
const P384: Curve = {
  name: 'P-384',
  n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  bytes: 48,
  ecdhName: 'secp384r1',
};

/** The signing algorithms KMS offers for each key spec (PSS is not offered here). */
export function signingAlgorithms(spec: KeySpec): string[] {
  if (spec === 'ECC_NIST_P256') return ['ECDSA_SHA_256'];
  if (spec === 'ECC_NIST_P384') return ['ECDSA_SHA_384'];
  return ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512'];
}

const HASH_OF: Record<string, { hash: 'sha256' | 'sha384' | 'sha512'; length: number; digestInfoPrefix: string }> = {
  ECDSA_SHA_256: { hash: 'sha256', length: 32, digestInfoPrefix: '' },
  ECDSA_SHA_384: { hash: 'sha384', length: 48, digestInfoPrefix: '' },
  RSASSA_PKCS1_V1_5_SHA_256: { hash: 'sha256', length: 32, digestInfoPrefix: '3031300d060960864801650304020105000420' },
  RSASSA_PKCS1_V1_5_SHA_384: { hash: 'sha384', length: 48, digestInfoPrefix: '3041300d060960864801650304020205000430' },
  RSASSA_PKCS1_V1_5_SHA_512: { hash: 'sha512', length: 64, digestInfoPrefix: '3051300d060960864801650304020305000440' },
};

export function generateKey(spec: KeySpec): KeyObject {
  switch (spec) {
    case 'ECC_NIST_P256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'ECC_NIST_P384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    default:
      return generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)) }).privateKey;
  }
}

export function publicKeyDer(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function toBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/** a⁻¹ mod m (m prime, 0 < a < m), by the extended Euclidean algorithm. */
function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

/** Private scalars read once per key. */
const SCALARS = new WeakMap<KeyObject, bigint>();

function scalarOf(key: KeyObject): bigint {
  let d = SCALARS.get(key);
  if (d === undefined) {
    d = toBigInt(Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url'));
    SCALARS.set(key, d);
  }
  return d;
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

function derLength(length: number): Buffer {
  return length < 0x80 ? Buffer.from([length]) : Buffer.from([0x81, length]);
}

/** The x coordinate of k·G, computed by OpenSSL (ECDH derives the public point of a private scalar). */
function pointX(curve: Curve, k: bigint): bigint {
  const ecdh = createECDH(curve.ecdhName);
  ecdh.setPrivateKey(toBytes(k, curve.bytes));
  return toBigInt(ecdh.getPublicKey().subarray(1, 1 + curve.bytes));
}

function ecdsaSignDigest(key: KeyObject, curve: Curve, digest: Buffer): Buffer {
  const d = scalarOf(key);
  const { n } = curve;
  // The digest is taken as an integer of the curve's size (both digests used here fit exactly).
  const z = toBigInt(digest.subarray(0, curve.bytes)) % n;
  for (;;) {
    const k = toBigInt(randomBytes(curve.bytes + 8)) % (n - 1n) + 1n;
    const r = pointX(curve, k) % n;
    if (r === 0n) continue;
    const s = (modInverse(k, n) * ((z + r * d) % n)) % n;
    if (s === 0n) continue;
    const body = Buffer.concat([derInteger(r), derInteger(s)]);
    return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
  }
}

/**
 * Signs `message` (RAW: hashed here) or a digest (DIGEST: of the algorithm's hash length) as KMS
 * does; a mismatch of algorithm, key or digest length is answered as KMS answers it.
 */
export function signWithKey(key: KeyObject, spec: KeySpec, algorithm: string, message: Buffer, messageType: 'RAW' | 'DIGEST'): Buffer {
  const profile = HASH_OF[algorithm];
  if (profile === undefined || !signingAlgorithms(spec).includes(algorithm)) {
    throw new AwsError('InvalidKeyUsageException', `Signing algorithm ${algorithm} is not supported for key spec ${spec}.`);
  }
  if (messageType === 'RAW') return sign(profile.hash, message, { key, dsaEncoding: 'der' });
  if (message.length !== profile.length) {
    throw new AwsError('ValidationException', `Digest is invalid length for algorithm ${algorithm}.`);
  }
  if (spec === 'ECC_NIST_P256') return ecdsaSignDigest(key, P256, message);
  if (spec === 'ECC_NIST_P384') return ecdsaSignDigest(key, P384, message);
  const digestInfo = Buffer.concat([Buffer.from(profile.digestInfoPrefix, 'hex'), message]);
  return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo);
}

/** For tests: the digest a RAW message would be signed over. */
export function digestOf(algorithm: string, message: Buffer): Buffer {
  const profile = HASH_OF[algorithm];
  if (profile === undefined) throw new RangeError(`unknown signing algorithm ${algorithm}`);
  return createHash(profile.hash).update(message).digest();
}
