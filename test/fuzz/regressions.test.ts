/** Defects the fuzz suite found, each pinned by the input that showed it. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { keyMaterialProblem } from '../../lib/config/validate.js';
import { ValidationError } from '../../lib/errors.js';
import { InvalidPemError, Issuer, PkiError, generateCa, parseCertificate } from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

describe('fuzz regressions', () => {
  it('a certificate whose extension bytes are damaged is an InvalidPemError, not the ASN.1 library\'s plain Error', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 90 * DAY });
    const leaf = await Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=api', usage: 'server', lifetimeMs: DAY, dnsNames: ['api.local'] }, T0);
    const der = Buffer.from(leaf.certificate.der);
    // The AKI extension: OID 2.5.29.35 (06 03 55 1d 23), then its OCTET STRING; damage the inner SEQUENCE tag.
    const aki = der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]));
    expect(aki).toBeGreaterThan(0);
    der[aki + 7] = 0x02;
    const error = (() => {
      try {
        parseCertificate(der);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InvalidPemError);
    expect(error).toBeInstanceOf(PkiError);
  });

  it('a config consumer holding a private key is refused without echoing it', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ3x9\n-----END PRIVATE KEY-----';
    const document = {
      authorities: [{ name: 'cluster' }],
      leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 30, consumers: [key, 'x'.repeat(25_000)] }],
    };
    expect(() => parseConfig(document)).toThrow(ValidationError);
    try {
      parseConfig(document);
    } catch (error) {
      const message = error instanceof Error ? error.message : '';
      expect(message).not.toContain('MIGHAgEAMBMG');
      expect(message.length).toBeLessThan(2_000);
    }
  });

  it('looking for key material in 100,000 spaces after BEGIN, or 100,000 dashes, takes linear time', () => {
    for (const text of [`BEGIN${' '.repeat(100_000)}x`, `${'-'.repeat(100_000)}x`, `BEGIN ${'A '.repeat(50_000)}`]) {
      const started = performance.now();
      expect(keyMaterialProblem(text)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(2_000);
    }
  });

  it('a reason an operator writes in plain words is not mistaken for key material', () => {
    for (const text of ['we begin key rotation after the audit', 'Begin the certificate swap (ticket OPS-1234)', 'see https://wiki.example/pki/rotation-2026']) {
      expect(keyMaterialProblem(text), text).toBeUndefined();
    }
    expect(keyMaterialProblem('BEGIN PRIVATE KEY MIGHAgEAMBMG')).toBe('holds a PEM block');
  });

  it('a 100,000-character subject is refused at once, before the distinguished-name parser sees it', () => {
    const started = performance.now();
    expect(() =>
      parseConfig({ authorities: [{ name: 'cluster' }], leaves: [{ authority: 'cluster', id: 'api', subject: 'x'.repeat(100_000), usage: 'server', lifetimeDays: 30 }] }),
    ).toThrow(/config\.leaves\[0\]\.subject: .* is 100000 characters long/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
