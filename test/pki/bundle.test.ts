import { describe, expect, it } from 'vitest';
import {
  CertificateExpiredError,
  buildBundle,
  describeBundle,
  generateCa,
  inspectCertificate,
  Issuer,
  splitBundle,
} from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

const ca1 = await generateCa({ authority: 'front-proxy', generation: 1, now: T0, lifetimeMs: 30 * DAY });
const ca2 = await generateCa({ authority: 'front-proxy', generation: 2, now: T0 + 10 * DAY, lifetimeMs: 30 * DAY });
const ca3 = await generateCa({ authority: 'front-proxy', generation: 3, now: T0 + 20 * DAY, lifetimeMs: 30 * DAY });
const member = (ca: typeof ca1) => ({ generation: ca.generation, certificate: ca.certificate });

describe('buildBundle', () => {
  it('orders generations ascending whatever the signer, so every copy of a bundle is the same bytes', () => {
    const pem = buildBundle([member(ca1), member(ca3), member(ca2)], 2, T0 + 21 * DAY);
    expect(describeBundle(pem).map((entry) => entry.generation)).toEqual([1, 2, 3]);
    expect(buildBundle([member(ca2), member(ca1), member(ca3)], 3, T0 + 21 * DAY)).toBe(pem);
  });

  it('deduplicates by SKI', () => {
    const pem = buildBundle([member(ca1), member(ca1), member(ca2)], 1, T0 + 11 * DAY);
    expect(splitBundle(pem)).toHaveLength(2);
  });

  it('prunes CAs expired at the instant, keeping one still valid at its last millisecond', () => {
    const end1 = ca1.certificate.notAfter;
    expect(describeBundle(buildBundle([member(ca1), member(ca2)], 2, end1)).map((e) => e.generation)).toEqual([1, 2]);
    expect(describeBundle(buildBundle([member(ca1), member(ca2)], 2, end1 + 1)).map((e) => e.generation)).toEqual([2]);
  });

  it('leaves out an expired signer like any expired CA, and refuses a bundle with no valid CA left', () => {
    const pem = buildBundle([member(ca1), member(ca2)], 1, ca1.certificate.notAfter + 1);
    expect(describeBundle(pem).map((entry) => entry.generation)).toEqual([2]);
    expect(() => buildBundle([member(ca1)], 1, ca1.certificate.notAfter + 1)).toThrow(CertificateExpiredError);
  });
});

describe('describeBundle', () => {
  it('names subject, generation, SKI and notAfter of each CA', () => {
    expect(describeBundle(ca2.certificatePem + ca1.certificatePem)).toEqual([
      { subject: 'CN=certrotate front-proxy CA 2', generation: 2, subjectKeyId: ca2.certificate.subjectKeyId, notAfter: T0 + 40 * DAY },
      { subject: 'CN=certrotate front-proxy CA 1', generation: 1, subjectKeyId: ca1.certificate.subjectKeyId, notAfter: T0 + 30 * DAY },
    ]);
  });
});

describe('inspectCertificate', () => {
  it('reports what a scan needs', async () => {
    const leaf = await Issuer.fromCaGeneration(ca1).issueLeaf(
      { subject: 'CN=aggregator', dnsNames: ['front-proxy-client'], usage: 'client', lifetimeMs: 7 * DAY, algorithm: 'p384' },
      T0 + DAY,
    );
    const summary = inspectCertificate(leaf.certificatePem);
    expect(summary).toEqual({
      subject: 'CN=aggregator',
      subjectAltNames: { dns: ['front-proxy-client'], ip: [], uri: [] },
      extendedKeyUsage: ['clientAuth'],
      issuerKeyId: ca1.certificate.subjectKeyId,
      serialHex: leaf.certificate.serialHex,
      notBefore: T0 + DAY - 5 * 60 * 1000,
      notAfter: T0 + 8 * DAY,
      keyAlgorithm: 'p384',
      fingerprintSha256: leaf.certificate.fingerprintSha256,
    });
    expect(summary.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
