import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  InvalidPemError,
  Issuer,
  KeyMismatchError,
  UnsupportedKeyError,
  assertKeyMatchesCertificate,
  generateCa,
  keyMatchesCertificate,
  parseCertificate,
  parseCertificates,
  parsePrivateKey,
  privateKeyToPem,
} from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 90 * DAY });
const other = await generateCa({ authority: 'cluster', generation: 2, now: T0, lifetimeMs: 90 * DAY });
const leaf = await Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=api', usage: 'server', lifetimeMs: DAY }, T0);

describe('parseCertificates', () => {
  it('reads many PEM blocks with CRLF line ends and text between them, in order', () => {
    const text = `subject=CN=api\r\n${leaf.certificatePem.replace(/\n/g, '\r\n')}issuer=CA\r\n\r\n${ca.certificatePem}`;
    const certs = parseCertificates(text);
    expect(certs.map((cert) => cert.subject)).toEqual(['CN=api', 'CN=certrotate cluster CA 1']);
  });

  it('reads DER bytes', () => {
    expect(parseCertificate(ca.certificate.der).fingerprintSha256).toBe(ca.certificate.fingerprintSha256);
  });

  it.each([
    ['an empty string', '', /empty value/],
    ['text with no PEM', 'hello', /no "-----BEGIN/],
    ['a truncated PEM', ca.certificatePem.slice(0, 200), /no matching END line: the PEM is truncated/],
    ['bad base64 inside a PEM', ca.certificatePem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), /not valid base64/],
    ['a private key where a certificate is expected', ca.privateKeyPem, /PRIVATE KEY where a CERTIFICATE was expected/],
    ['valid base64 that is not a certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /not a DER X.509 certificate/],
  ])('refuses %s with InvalidPemError', (_name, input, message) => {
    expect(() => parseCertificates(input)).toThrow(InvalidPemError);
    expect(() => parseCertificates(input)).toThrow(message);
  });

  it('refuses empty DER bytes and garbage DER', () => {
    expect(() => parseCertificates(new Uint8Array())).toThrow(InvalidPemError);
    expect(() => parseCertificates(new Uint8Array([1, 2, 3]))).toThrow(InvalidPemError);
  });
});

describe('parsePrivateKey', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });

  it.each([
    ['PKCS#8 (EC)', ca.privateKeyPem, 'p256'],
    ['PKCS#1 (RSA)', rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(), 'rsa2048'],
    ['SEC1 (EC)', ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString(), 'p384'],
    ['SEC1 after EC PARAMETERS', `-----BEGIN EC PARAMETERS-----\nBgUrgQQAIg==\n-----END EC PARAMETERS-----\n${ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString()}`, 'p384'],
  ])('reads %s and writes it back as PKCS#8', (_name, pem, algorithm) => {
    const key = parsePrivateKey(pem);
    expect(key.algorithm).toBe(algorithm);
    const pkcs8 = privateKeyToPem(key.key);
    expect(pkcs8).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(parsePrivateKey(pkcs8).key.equals(key.key)).toBe(true);
  });

  it('refuses a certificate where a key is expected', () => {
    expect(() => parsePrivateKey(ca.certificatePem)).toThrow(InvalidPemError);
    expect(() => parsePrivateKey(ca.certificatePem)).toThrow(/CERTIFICATE where a private key was expected/);
  });

  it('refuses an RSA key below 2048 bits', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => parsePrivateKey(weak)).toThrow(UnsupportedKeyError);
    expect(() => parsePrivateKey(weak)).toThrow(/1024-bit rsa/);
  });

  it('refuses an encrypted key, and a key block whose bytes are not a key', () => {
    const encrypted = ec.privateKey
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
      .toString();
    expect(() => parsePrivateKey(encrypted)).toThrow(UnsupportedKeyError);
    expect(() => parsePrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toThrow(InvalidPemError);
    expect(() => parsePrivateKey('')).toThrow(InvalidPemError);
  });

  it('never puts key material in an error message', () => {
    const body = ca.privateKeyPem.split('\n')[1] ?? '';
    const broken = ca.privateKeyPem.replace('-----END PRIVATE KEY-----', '');
    for (const input of [broken, `${ca.privateKeyPem}${ca.privateKeyPem}`, ca.privateKeyPem.replace('PRIVATE KEY', 'RSA PRIVATE KEY')]) {
      let message = '';
      try {
        parsePrivateKey(input);
      } catch (error) {
        message = error instanceof Error ? `${error.message} ${String(error.cause)}` : '';
      }
      expect(message).not.toBe('');
      expect(message).not.toContain(body.slice(0, 16));
    }
  });
});

describe('key and certificate matching', () => {
  it('accepts the key issued with a certificate and refuses another', () => {
    expect(keyMatchesCertificate(leaf.privateKey, leaf.certificate)).toBe(true);
    expect(keyMatchesCertificate(other.privateKey, leaf.certificate)).toBe(false);
    expect(() => assertKeyMatchesCertificate(other.privateKey, leaf.certificate)).toThrow(KeyMismatchError);
  });

  it('refuses to build an issuer from a CA with the wrong key', () => {
    expect(() => Issuer.fromPem(ca.certificatePem, other.privateKeyPem)).toThrow(KeyMismatchError);
    expect(() => Issuer.fromPem(leaf.certificatePem, leaf.privateKeyPem)).toThrow(/is not a CA/);
  });
});
