import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Issuer,
  NAME_CONSTRAINTS_OID,
  NameConstraintViolationError,
  caNameConstraints,
  dnsNameWithin,
  formatIp,
  generateCa,
  ipAddressBytes,
  ipRangeProblem,
  ipWithin,
  nameConstraintViolations,
  nameConstraintsExtension,
  parseCertificate,
  parseIpRange,
  type NameConstraints,
} from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const domain = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));

describe('DNS domains cover themselves and every name under them, nothing else', () => {
  it('puts any name with labels added on the left inside, and a name merely ending in the same letters outside', () => {
    fc.assert(
      fc.property(domain, fc.array(label, { maxLength: 3 }), label, (base, prefix, glued) => {
        expect(dnsNameWithin([...prefix, base].join('.'), base)).toBe(true);
        expect(dnsNameWithin(`${glued}${base}`, base)).toBe(false);
        expect(dnsNameWithin(base.toUpperCase(), base)).toBe(true);
      }),
    );
  });

  it('puts a name under another top label outside', () => {
    fc.assert(
      fc.property(domain, domain, (a, b) => {
        fc.pre(!dnsNameWithin(a, b) && a !== b);
        expect(nameConstraintViolations({ permitted: { dnsDomains: [b] } }, { subject: 'CN=x', dnsNames: [a], usage: 'server' })).toHaveLength(1);
      }),
    );
  });
});

describe('IP ranges', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));

  it('contain every address that shares the prefix and none that differs inside it', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 1, max: 32 }), fc.nat(31), (address, prefix, flipAt) => {
        const bytes = ipAddressBytes(address) ?? new Uint8Array();
        const base = bytes.map((byte, index) => byte & ((0xff << (8 - Math.min(8, Math.max(0, prefix - index * 8)))) & 0xff));
        const range = parseIpRange(`${formatIp(base)}/${prefix}`);
        expect(ipWithin(bytes, range)).toBe(true);
        const bit = flipAt % prefix;
        const flipped = Uint8Array.from(bytes);
        flipped[Math.floor(bit / 8)] = (flipped[Math.floor(bit / 8)] ?? 0) ^ (0x80 >> bit % 8);
        expect(ipWithin(flipped, range)).toBe(false);
      }),
    );
  });

  it('reads and writes IPv6 in every spelling, IPv4-mapped included', () => {
    fc.assert(
      fc.property(fc.ipV6(), (address) => {
        const bytes = ipAddressBytes(address);
        expect(bytes).toHaveLength(16);
        expect(ipAddressBytes(formatIp(bytes ?? new Uint8Array()))).toEqual(bytes);
      }),
    );
    expect([...(ipAddressBytes('::ffff:10.0.0.1') ?? [])].slice(10)).toEqual([0xff, 0xff, 10, 0, 0, 1]);
  });

  it('match an address of their own family only', () => {
    const constraints: NameConstraints = { permitted: { ipRanges: ['10.0.0.0/8'] } };
    const leaf = (ipAddresses: string[]) => ({ subject: 'CN=x', ipAddresses, usage: 'client' as const });
    expect(nameConstraintViolations(constraints, leaf(['10.1.2.3']))).toEqual([]);
    expect(nameConstraintViolations(constraints, leaf(['::ffff:10.1.2.3']))).toHaveLength(1);
    expect(nameConstraintViolations(constraints, leaf(['fd00::1']))).toHaveLength(1);
  });

  it.each([
    ['10.0.0.1/8', 'has bits set past /8: write "10.0.0.0/8"'],
    ['fd00::1/8', 'has bits set past /8: write "fd00::/8"'],
    ['10.0.0.0/33', 'has a prefix longer than /32'],
    ['10.0.0.0', 'is not a CIDR range'],
    ['fe80::%eth0/64', 'is not a CIDR range'],
  ])('refuses %s', (range, message) => {
    expect(ipRangeProblem(range)).toContain(message);
  });
});

describe('which names of a leaf are judged', () => {
  const constraints: NameConstraints = { permitted: { dnsDomains: ['example.com'] }, excluded: { dnsDomains: ['admin.example.com'] } };
  const violations = (leaf: { subject: string; dnsNames?: string[]; usage: 'server' | 'client' | 'both' }) =>
    nameConstraintViolations(constraints, leaf).map((violation) => `${violation.field}[${violation.index}]`);

  it('checks every DNS name and no CN when the leaf has DNS names', () => {
    expect(violations({ subject: 'CN=evil.org', dnsNames: ['a.example.com', 'evil.org', 'x.admin.example.com'], usage: 'server' })).toEqual(['dnsNames[1]', 'dnsNames[2]']);
  });

  it("checks a server's CN whatever it looks like when it has no DNS name (GnuTLS does), a client's only when it is a host name with a dot (OpenSSL does)", () => {
    expect(violations({ subject: 'CN=system:node:n1', usage: 'server' })).toEqual(['subject[0]']);
    expect(violations({ subject: 'CN=api.example.com', usage: 'both' })).toEqual([]);
    expect(violations({ subject: 'CN=system:node:n1', usage: 'client' })).toEqual([]);
    expect(violations({ subject: 'CN=kube-apiserver', usage: 'client' })).toEqual([]);
    expect(violations({ subject: 'CN=evil.org', usage: 'client' })).toEqual(['subject[0]']);
  });

  it('reads a wildcard literally for permitted domains and refuses it when an excluded domain is one label below', () => {
    const permittedOnly = { permitted: { dnsDomains: ['example.com'] } };
    expect(nameConstraintViolations(permittedOnly, { subject: 'CN=x', dnsNames: ['*.example.com'], usage: 'server' })).toEqual([]);
    expect(nameConstraintViolations(permittedOnly, { subject: 'CN=x', dnsNames: ['*.org'], usage: 'server' })).toHaveLength(1);
    expect(violations({ subject: 'CN=x', dnsNames: ['*.example.com'], usage: 'server' })).toEqual(['dnsNames[0]']);
    expect(nameConstraintViolations({ excluded: { dnsDomains: ['admin.example.com'] } }, { subject: 'CN=x', dnsNames: ['*.example.com'], usage: 'server' })).toHaveLength(1);
    expect(nameConstraintViolations({ excluded: { dnsDomains: ['a.admin.example.com'] } }, { subject: 'CN=x', dnsNames: ['*.example.com'], usage: 'server' })).toEqual([]);
  });
});

describe('the NameConstraints extension', () => {
  const constraints: NameConstraints = {
    permitted: { dnsDomains: ['Example.com', 'cluster.local'], ipRanges: ['10.0.0.0/8', 'fd00::/8'] },
    excluded: { dnsDomains: ['admin.example.com'], ipRanges: ['10.9.0.0/16'] },
  };

  it('is written critical into a new CA, and read back as written (domains in lower case)', async () => {
    const ca = await generateCa({ authority: 'etcd', generation: 2, now: T0, lifetimeMs: 90 * DAY, nameConstraints: constraints });
    expect(new x509.X509Certificate(ca.certificatePem).getExtension(NAME_CONSTRAINTS_OID)?.critical).toBe(true);
    const extension = nameConstraintsExtension(constraints);
    expect(extension.critical).toBe(true);
    expect(caNameConstraints([extension])).toEqual({
      permitted: { dnsDomains: ['example.com', 'cluster.local'], ipRanges: ['10.0.0.0/8', 'fd00::/8'] },
      excluded: { dnsDomains: ['admin.example.com'], ipRanges: ['10.9.0.0/16'] },
    });
    expect(parseCertificate(ca.certificatePem).isCa).toBe(true);
  });

  it('is absent from a CA made without constraints', async () => {
    const ca = await generateCa({ authority: 'etcd', generation: 1, now: T0, lifetimeMs: 90 * DAY });
    expect(caNameConstraints(undefined)).toBeUndefined();
    const issuer = Issuer.fromCaGeneration(ca);
    await expect(issuer.issueLeaf({ subject: 'CN=x', dnsNames: ['evil.org'], usage: 'server', lifetimeMs: DAY }, T0)).resolves.toBeDefined();
  });
});

describe('an Issuer never signs a leaf its CA forbids', () => {
  const constraints: NameConstraints = { permitted: { dnsDomains: ['example.com'], ipRanges: ['10.0.0.0/8'] } };

  it('signs a leaf inside and refuses one outside, naming the leaf, the name and that changes wait for the next CA', async () => {
    const ca = await generateCa({ authority: 'etcd', generation: 3, now: T0, lifetimeMs: 90 * DAY, nameConstraints: constraints });
    // From stored PEM, as the engine builds it: the constraints come from the CA certificate itself.
    const issuer = Issuer.fromPem(ca.certificatePem, ca.privateKeyPem);
    const inside = await issuer.issueLeaf({ subject: 'CN=api', dnsNames: ['api.example.com'], ipAddresses: ['10.1.1.1'], usage: 'server', lifetimeMs: DAY }, T0);
    expect(inside.certificate.subjectAltNames.dns).toEqual(['api.example.com']);
    const outside = issuer.issueLeaf({ subject: 'CN=api', dnsNames: ['api.example.com'], ipAddresses: ['192.168.1.1'], usage: 'server', lifetimeMs: DAY }, T0);
    await expect(outside).rejects.toThrow(NameConstraintViolationError);
    await expect(outside).rejects.toThrow(/leaf CN=api is outside the name constraints of CA "CN=certrotate etcd CA 3".*IP address "192\.168\.1\.1" is outside the permitted IP ranges \(10\.0\.0\.0\/8\).*next CA generation/);
  });
});
