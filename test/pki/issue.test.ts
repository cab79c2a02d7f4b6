import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_BACKDATE_MS,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  Issuer,
  KEY_ALGORITHMS,
  generateCa,
  newSerial,
  parseCertificate,
  verifyChain,
} from '../../lib/pki/index.js';
import { ValidationError } from '../../lib/errors.js';
import { DAY, T0, seededRandom } from '../support/pki.js';

const CA_LIFETIME = 180 * DAY;

describe('generateCa', () => {
  it.each(KEY_ALGORITHMS)('makes a self-signed %s CA with critical CA:true pathLen 0 and keyCertSign + cRLSign', async (algorithm) => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, algorithm, now: T0, lifetimeMs: CA_LIFETIME });
    const cert = parseCertificate(ca.certificatePem);
    expect(cert.subject).toBe('CN=certrotate cluster CA 1');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.isCa).toBe(true);
    expect(cert.pathLength).toBe(0);
    expect(cert.keyUsage).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(cert.subjectKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(cert.authorityKeyId).toBe(cert.subjectKeyId);
    expect(cert.isSignedBy(cert)).toBe(true);
    expect(cert.notBefore).toBe(T0 - CLOCK_SKEW_BACKDATE_MS);
    expect(cert.notAfter).toBe(T0 + CA_LIFETIME);
    const node = new X509Certificate(ca.certificatePem);
    expect(node.ca).toBe(true);
    const peculiar = new x509.X509Certificate(ca.certificatePem);
    expect(peculiar.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    expect(peculiar.getExtension(x509.KeyUsagesExtension)?.critical).toBe(true);
    expect(ca.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('gives each generation its own subject and key', async () => {
    const first = await generateCa({ authority: 'etcd', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const second = await generateCa({ authority: 'etcd', generation: 2, now: T0, lifetimeMs: CA_LIFETIME });
    expect(second.certificate.subject).toBe('CN=certrotate etcd CA 2');
    expect(second.certificate.subject).not.toBe(first.certificate.subject);
    expect(second.certificate.subjectKeyId).not.toBe(first.certificate.subjectKeyId);
  });

  it.each([
    [{ authority: 'Cluster' }, /authority "Cluster"/],
    [{ authority: '' }, /authority ""/],
    [{ generation: 0 }, /generation must be a positive integer/],
    [{ generation: 1.5 }, /generation must be a positive integer/],
    [{ lifetimeMs: 0 }, /lifetime must be positive/],
  ])('refuses %o with a ValidationError', async (override, message) => {
    const request = { authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME, ...override };
    await expect(generateCa(request)).rejects.toThrow(ValidationError);
    await expect(generateCa(request)).rejects.toThrow(message);
  });
});

describe('Issuer.issueLeaf', () => {
  it('issues a leaf with its subject, SANs, EKU, SKI, AKI = issuer SKI and critical CA:false', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 3, now: T0, lifetimeMs: CA_LIFETIME });
    const leaf = await Issuer.fromCaGeneration(ca).issueLeaf(
      {
        subject: 'CN=kube-apiserver,O=system:masters',
        dnsNames: ['kubernetes.default.svc', '*.cluster.local'],
        ipAddresses: ['10.96.0.1', 'fd00::1'],
        uris: ['spiffe://cluster.local/ns/kube-system/sa/apiserver'],
        usage: 'both',
        lifetimeMs: 30 * DAY,
      },
      T0 + DAY,
    );
    const cert = leaf.certificate;
    expect(cert.subject).toBe('CN=kube-apiserver, O=system:masters');
    expect(cert.issuer).toBe('CN=certrotate cluster CA 3');
    expect(cert.subjectAltNames).toEqual({
      dns: ['kubernetes.default.svc', '*.cluster.local'],
      ip: ['10.96.0.1', 'fd00::1'],
      uri: ['spiffe://cluster.local/ns/kube-system/sa/apiserver'],
    });
    expect(cert.extendedKeyUsage).toEqual([EKU_SERVER_AUTH, EKU_CLIENT_AUTH]);
    expect(cert.isCa).toBe(false);
    expect(new x509.X509Certificate(cert.der).getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    expect(cert.authorityKeyId).toBe(ca.certificate.subjectKeyId);
    expect(cert.subjectKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(cert.subjectKeyId).not.toBe(ca.certificate.subjectKeyId);
    expect(cert.isSignedBy(ca.certificate)).toBe(true);
    expect(cert.notAfter).toBe(T0 + DAY + 30 * DAY);
    expect(leaf.clippedToIssuer).toBe(false);
  });

  it.each([
    ['server', [EKU_SERVER_AUTH]],
    ['client', [EKU_CLIENT_AUTH]],
  ] as const)('limits a %s leaf to its extended key usage', async (usage, expected) => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const leaf = await Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=x', usage, lifetimeMs: DAY }, T0);
    expect(leaf.certificate.extendedKeyUsage).toEqual(expected);
  });

  it('sets keyEncipherment only on RSA leaves', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const issuer = Issuer.fromCaGeneration(ca);
    const ec = await issuer.issueLeaf({ subject: 'CN=ec', usage: 'server', lifetimeMs: DAY }, T0);
    const rsa = await issuer.issueLeaf({ subject: 'CN=rsa', usage: 'server', lifetimeMs: DAY, algorithm: 'rsa2048' }, T0);
    expect(ec.certificate.keyUsage).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(rsa.certificate.keyUsage).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  });

  it('clips notAfter to the CA notAfter and says so, and does not clip one millisecond inside it', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const issuer = Issuer.fromCaGeneration(ca);
    const now = T0 + CA_LIFETIME - 10 * DAY;
    const clipped = await issuer.issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: 10 * DAY + 1000 }, now);
    expect(clipped.certificate.notAfter).toBe(ca.certificate.notAfter);
    expect(clipped.clippedToIssuer).toBe(true);
    const exact = await issuer.issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: 10 * DAY }, now);
    expect(exact.certificate.notAfter).toBe(ca.certificate.notAfter);
    expect(exact.clippedToIssuer).toBe(false);
  });

  it('backdates notBefore for clock skew, but never before the CA notBefore', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const issuer = Issuer.fromCaGeneration(ca);
    const later = await issuer.issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: DAY }, T0 + DAY);
    expect(later.certificate.notBefore).toBe(T0 + DAY - CLOCK_SKEW_BACKDATE_MS);
    const atCaBirth = await issuer.issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: DAY }, T0);
    expect(atCaBirth.certificate.notBefore).toBe(T0 - CLOCK_SKEW_BACKDATE_MS);
  });

  it('a peer whose clock runs 4 minutes slow accepts a new CA and a leaf issued in the same instant (the CA is backdated too)', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const leaf = await Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: DAY }, T0);
    const slowPeer = T0 - 4 * 60_000;
    expect(verifyChain(leaf.certificatePem, ca.certificatePem, slowPeer, { purpose: 'serverAuth' }).anchor.subject).toBe('CN=certrotate cluster CA 1');
    expect(() => verifyChain(leaf.certificatePem, ca.certificatePem, T0 - CLOCK_SKEW_BACKDATE_MS - 1000)).toThrow(/not valid until/);
  });

  it('gives each leaf its own SANs when leaves with the same SANs and with others are issued in turn (built SAN extensions are reused)', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const issuer = Issuer.fromCaGeneration(ca);
    const base = { subject: 'CN=x', usage: 'server', lifetimeMs: DAY } as const;
    const sans = [['a.example'], ['b.example'], ['a.example'], ['a.example', 'b.example']];
    const leaves = await Promise.all(sans.map((dnsNames) => issuer.issueLeaf({ ...base, dnsNames }, T0)));
    expect(leaves.map((leaf) => leaf.certificate.subjectAltNames.dns)).toEqual(sans);
    // Same names, other kind: an IP is not a DNS name that looks the same.
    const ip = await issuer.issueLeaf({ ...base, ipAddresses: ['10.0.0.1'] }, T0);
    const dns = await issuer.issueLeaf({ ...base, dnsNames: ['10.0.0.1.example'] }, T0);
    expect([ip.certificate.subjectAltNames, dns.certificate.subjectAltNames]).toEqual([
      { dns: [], ip: ['10.0.0.1'], uri: [] },
      { dns: ['10.0.0.1.example'], ip: [], uri: [] },
    ]);
    // A bad SAN is refused every time, not only the first.
    for (let i = 0; i < 2; i++) await expect(issuer.issueLeaf({ ...base, dnsNames: ['bad name'] }, T0)).rejects.toThrow(ValidationError);
  });

  it('refuses to issue from an expired CA, a bad SAN or a bad subject', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const issuer = Issuer.fromCaGeneration(ca);
    const base = { subject: 'CN=x', usage: 'server', lifetimeMs: DAY } as const;
    await expect(issuer.issueLeaf(base, T0 + CA_LIFETIME + 1000)).rejects.toThrow(/expired/);
    await expect(issuer.issueLeaf({ ...base, dnsNames: ['bad name'] }, T0)).rejects.toThrow(ValidationError);
    await expect(issuer.issueLeaf({ ...base, ipAddresses: ['10.0.0.300'] }, T0)).rejects.toThrow(ValidationError);
    await expect(issuer.issueLeaf({ ...base, uris: ['not a uri'] }, T0)).rejects.toThrow(ValidationError);
    await expect(issuer.issueLeaf({ ...base, subject: 'no equals sign' }, T0)).rejects.toThrow(ValidationError);
    await expect(issuer.issueLeaf({ ...base, lifetimeMs: -1 }, T0)).rejects.toThrow(ValidationError);
  });
});

describe('serials', () => {
  it('are 16 bytes, positive and non-zero over many draws, even from extreme random sources', () => {
    const sources = [seededRandom(7), () => new Uint8Array(16).fill(0xff), () => new Uint8Array(16)];
    for (const random of sources) {
      for (let i = 0; i < 5000; i++) {
        const serial = newSerial(random);
        expect(serial.length).toBe(16);
        expect(serial[0]).toBeGreaterThanOrEqual(0x40);
        expect(serial[0]).toBeLessThan(0x80);
      }
    }
  });

  it('encode exactly as drawn in issued certificates (positive DER INTEGER, no byte dropped)', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: CA_LIFETIME });
    const issuer = Issuer.fromCaGeneration(ca);
    const seen = new Set<string>();
    for (const random of [() => new Uint8Array(16), () => new Uint8Array(16).fill(0xff), seededRandom(42)]) {
      for (let i = 0; i < 40; i++) {
        const leaf = await issuer.issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: DAY }, T0, random);
        const nodeSerial = new X509Certificate(leaf.certificatePem).serialNumber.toLowerCase();
        expect(nodeSerial).toHaveLength(32);
        expect(leaf.certificate.serialHex).toBe(nodeSerial);
        expect(Number.parseInt(nodeSerial.slice(0, 2), 16)).toBeLessThan(0x80);
        seen.add(nodeSerial);
      }
    }
    expect(seen.size).toBeGreaterThan(40);
  });
});
