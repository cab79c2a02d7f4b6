import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { Issuer, generateCa, nameConstraintViolations, type NameConstraints } from '../../lib/pki/index.js';
import { problemsOf } from '../support/config.js';
import { DAY, T0 } from '../support/pki.js';

type Json = Record<string, unknown>;

function documentWith(nameConstraints: unknown, leaves: Json[] = []): Json {
  return {
    authorities: [{ name: 'etcd', nameConstraints }, { name: 'cluster' }],
    leaves: leaves.map((leaf, index) => ({ authority: 'etcd', id: `leaf-${index}`, subject: 'CN=x', usage: 'client', lifetimeDays: 30, ...leaf })),
  };
}

const PATH = 'config.authorities[0].nameConstraints';

describe('authorities[].nameConstraints', () => {
  it('is kept on the authority when valid, and absent when not given', () => {
    const constraints = { permitted: { dnsDomains: ['etcd.svc'], ipRanges: ['10.0.0.0/8', 'fd00::/8'] }, excluded: { dnsDomains: ['admin.etcd.svc'] } };
    const config = parseConfig(documentWith(constraints, [{ dnsNames: ['etcd-0.etcd.svc'], ipAddresses: ['10.0.0.5'] }]));
    expect(config.authorities[0]?.nameConstraints).toEqual(constraints);
    expect(config.authorities[1]?.nameConstraints).toBeUndefined();
  });

  it.each([
    [{ permitted: { dnsDomains: ['.example.com'] } }, `${PATH}.permitted.dnsDomains[0]: ".example.com" starts with a dot`],
    [{ permitted: { dnsDomains: ['*.example.com'] } }, `${PATH}.permitted.dnsDomains[0]: "*.example.com" is a wildcard`],
    [{ permitted: { dnsDomains: ['exa mple.com'] } }, `${PATH}.permitted.dnsDomains[0]: "exa mple.com" is not a DNS name`],
    [{ excluded: { ipRanges: ['10.0.0.1/8'] } }, `${PATH}.excluded.ipRanges[0]: "10.0.0.1/8" has bits set past /8: write "10.0.0.0/8"`],
    [{ excluded: { ipRanges: ['10.0.0.0'] } }, `${PATH}.excluded.ipRanges[0]: "10.0.0.0" is not a CIDR range`],
    [{}, `${PATH}: constrains nothing`],
    [{ permitted: {} }, `${PATH}: constrains nothing`],
    [{ permitted: { dnsDomains: [] } }, `${PATH}.permitted.dnsDomains: is empty`],
    [{ permitted: { dnsDomains: ['a.com', 'A.com'] } }, `${PATH}.permitted.dnsDomains[1]: "A.com" is listed twice`],
    [{ permitted: { dnsDomain: ['a.com'] } }, `${PATH}.permitted.dnsDomain: unknown key (allowed: dnsDomains, ipRanges)`],
    [{ allowed: {} }, `${PATH}.allowed: unknown key (allowed: permitted, excluded)`],
    [['a.com'], `${PATH}: expected an object, got an array`],
    [
      { permitted: { dnsDomains: ['api.example.com'] }, excluded: { dnsDomains: ['example.com'] } },
      `${PATH}.permitted.dnsDomains[0]: "api.example.com" lies inside excluded "example.com": it permits nothing`,
    ],
    [
      { permitted: { ipRanges: ['10.1.0.0/16'] }, excluded: { ipRanges: ['10.0.0.0/8'] } },
      `${PATH}.permitted.ipRanges[0]: 10.1.0.0/16 lies inside excluded 10.0.0.0/8: it permits nothing`,
    ],
  ])('refuses %j with its path', (nameConstraints, problem) => {
    expect(problemsOf(documentWith(nameConstraints)).join('\n')).toContain(problem);
  });

  it('refuses every leaf name outside the constraints at the path of that name, naming the leaf and the authority', () => {
    const problems = problemsOf(
      documentWith({ permitted: { dnsDomains: ['etcd.svc'], ipRanges: ['10.0.0.0/8'] } }, [
        { dnsNames: ['etcd-0.etcd.svc', 'etcd-0.evil.org'], ipAddresses: ['10.0.0.1', '192.168.0.1'] },
        { subject: 'CN=kube-apiserver', usage: 'server' },
        { subject: 'CN=etcd-1.evil.org', usage: 'client' },
      ]),
    );
    expect(problems).toEqual([
      'config.leaves[0].dnsNames[1]: leaf "leaf-0": DNS name "etcd-0.evil.org" is outside the permitted DNS domains (etcd.svc) of authority "etcd" (its CAs may not sign it)',
      'config.leaves[0].ipAddresses[1]: leaf "leaf-0": IP address "192.168.0.1" is outside the permitted IP ranges (10.0.0.0/8) of authority "etcd" (its CAs may not sign it)',
      'config.leaves[1].subject: leaf "leaf-1": subject CN (GnuTLS checks a server\'s CN when it has no DNS name) "kube-apiserver" is outside the permitted DNS domains (etcd.svc) of authority "etcd" (its CAs may not sign it)',
      'config.leaves[2].subject: leaf "leaf-2": subject CN (OpenSSL checks a CN like a host name when there is no DNS name) "etcd-1.evil.org" is outside the permitted DNS domains (etcd.svc) of authority "etcd" (its CAs may not sign it)',
    ]);
  });

  it("leaves another authority's leaves alone", () => {
    const document = documentWith({ permitted: { dnsDomains: ['etcd.svc'] } });
    (document.leaves as Json[]).push({ authority: 'cluster', id: 'api', subject: 'CN=api', dnsNames: ['evil.org'], usage: 'server', lifetimeDays: 30 });
    expect(problemsOf(document)).toEqual([]);
  });
});

describe('the configuration and issuance agree', () => {
  const label = fc.constantFrom('a', 'b', 'etcd', 'svc', 'x-1');
  const dnsName = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));
  const ipv4 = fc.tuple(fc.constantFrom(10, 192), fc.constantFrom(0, 168), fc.nat(3), fc.nat(255)).map((parts) => parts.join('.'));
  const range = fc.constantFrom('10.0.0.0/8', '10.0.0.0/16', '192.168.0.0/16', '192.168.1.0/24');
  const subtrees = fc.record({ dnsDomains: fc.uniqueArray(dnsName, { minLength: 1, maxLength: 2 }), ipRanges: fc.uniqueArray(range, { minLength: 1, maxLength: 2 }) }, { requiredKeys: [] });
  const leaf = fc.record({
    subject: fc.constantFrom('CN=etcd', 'CN=a.svc', 'CN=system:node:a'),
    dnsNames: fc.array(dnsName, { maxLength: 2 }),
    ipAddresses: fc.array(ipv4, { maxLength: 2 }),
    usage: fc.constantFrom('server' as const, 'client' as const, 'both' as const),
  });

  it('accepts a leaf exactly when the pure matcher finds it inside, and a CA made with the constraints signs exactly those', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ permitted: subtrees, excluded: subtrees }, { requiredKeys: [] }), leaf, async (constraints: NameConstraints, spec) => {
        const problems = problemsOf(documentWith(constraints, [spec]));
        fc.pre(!problems.some((problem) => problem.startsWith('config.authorities')));
        const inside = nameConstraintViolations(constraints, spec).length === 0;
        expect(problems.length === 0).toBe(inside);
        const constrained = await generateCa({ authority: 'etcd', generation: 2, now: T0, lifetimeMs: 90 * DAY, nameConstraints: constraints, random: () => new Uint8Array(16).fill(7) });
        const issued = Issuer.fromCaGeneration(constrained).issueLeaf({ ...spec, lifetimeMs: DAY }, T0);
        if (inside) await expect(issued).resolves.toBeDefined();
        else await expect(issued).rejects.toThrow(/outside the name constraints/);
      }),
      { numRuns: 60 },
    );
  });
});
