/**
 * The serial an ACM read-back reports comes from the certificate GetCertificate returns: parsed,
 * never guessed from its digits (a hex serial made only of digits is not a decimal number).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { serialHexOf } from '../../lib/aws/acm-certificate.js';
import { DAY, T0, foreignCertificate } from '../support/pki.js';

async function withSerial(serialNumber: string): Promise<string> {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certificate = await foreignCertificate({ subject: 'CN=web', issuer: undefined, subjectKeys: keys, signingKey: keys.privateKey, notBefore: T0, notAfter: T0 + DAY, ca: false, serialNumber });
  return certificate.pem;
}

describe('serialHexOf', () => {
  it('reads a serial of hex digits that are all decimal digits as hex', async () => {
    expect(serialHexOf(await withSerial('0123456789'))).toBe('0123456789');
  });

  it('drops the leading zero byte DER puts before a high bit, and reads only the first certificate of a chain', async () => {
    const first = await withSerial('00ff01');
    expect(serialHexOf(first + (await withSerial('02')))).toBe('ff01');
  });

  it('answers empty for no certificate or one that does not parse', () => {
    expect(serialHexOf(undefined)).toBe('');
    expect(serialHexOf('')).toBe('');
    expect(serialHexOf('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toBe('');
  });
});
