import 'reflect-metadata';
import { webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { Certificate } from '../../lib/pki/index.js';

export const DAY = 24 * 60 * 60 * 1000;
export const HOUR = 60 * 60 * 1000;
/** A fixed instant, so no test depends on the wall clock. */
export const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

/** A deterministic byte source (xorshift) for tests that need reproducible randomness. */
export function seededRandom(seed: number): (length: number) => Uint8Array {
  let state = seed >>> 0 || 1;
  return (length) => {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      bytes[i] = state & 0xff;
    }
    return bytes;
  };
}

async function toWebCryptoPair(privateKey: KeyObject, publicKey: KeyObject): Promise<webcrypto.CryptoKeyPair> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), algorithm, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ format: 'der', type: 'spki' }), algorithm, true, ['verify']),
  };
}

/**
 * Builds a certificate outside lib/pki (straight through @peculiar/x509), for shapes certrotate
 * never issues itself: intermediate CAs, certificates signed by a non-CA. P-256 keys only.
 */
export async function foreignCertificate(options: {
  subject: string;
  issuer: Certificate | undefined;
  subjectKeys: { privateKey: KeyObject; publicKey: KeyObject };
  signingKey: KeyObject;
  notBefore: number;
  notAfter: number;
  ca: boolean;
  pathLength?: number;
  /** Hex; default 01. */
  serialNumber?: string;
}): Promise<Certificate> {
  const subjectPair = await toWebCryptoPair(options.subjectKeys.privateKey, options.subjectKeys.publicKey);
  const signing = await webcrypto.subtle.importKey(
    'pkcs8',
    options.signingKey.export({ format: 'der', type: 'pkcs8' }),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const ski = await x509.SubjectKeyIdentifierExtension.create(subjectPair.publicKey, false, webcrypto);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(options.ca, options.pathLength, true),
    new x509.KeyUsagesExtension(
      options.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    ski,
    new x509.AuthorityKeyIdentifierExtension(options.issuer?.subjectKeyId ?? ski.keyId),
  ];
  const generated = await x509.X509CertificateGenerator.create(
    {
      serialNumber: options.serialNumber ?? '01',
      subject: options.subject,
      issuer: options.issuer?.subject ?? options.subject,
      notBefore: new Date(options.notBefore),
      notAfter: new Date(options.notAfter),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      publicKey: subjectPair.publicKey,
      signingKey: signing,
      extensions,
    },
    webcrypto,
  );
  return Certificate.fromDer(new Uint8Array(generated.rawData));
}
