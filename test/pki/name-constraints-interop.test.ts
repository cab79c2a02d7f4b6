import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { mutualTlsHandshake } from '../../lib/local/handshake.js';
import { Issuer, generateCa, nameConstraintViolations, nameConstraintsProblems, type CaGeneration, type NameConstraints } from '../../lib/pki/index.js';
import { DAY } from '../support/pki.js';
import { replayHandshake, type TlsStack } from '../support/tls-tools.js';

// OpenSSL, GnuTLS and Node's TLS judge validity by the wall clock: issued at the real now.
const now = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'certrotate-nameconstraints-'));
const CONSTRAINTS: NameConstraints = {
  permitted: { dnsDomains: ['example.com', 'localhost'], ipRanges: ['127.0.0.0/8', '10.0.0.0/8'] },
  excluded: { dnsDomains: ['admin.example.com'], ipRanges: ['10.9.0.0/16'] },
};

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

function opensslVerify(caPath: string, leafPath: string) {
  return run('openssl', ['verify', '-x509_strict', '-CAfile', caPath, leafPath]);
}

function gnutlsVerify(caPath: string, leafPath: string) {
  return run('certtool', ['--verify', '--load-ca-certificate', caPath, '--infile', leafPath]);
}

let ca: CaGeneration;
let caPath: string;
let caKeyPath: string;

/**
 * A leaf signed by the constrained CA with OpenSSL itself, bypassing certrotate's checks: the
 * only way to get a leaf outside the constraints, which certrotate refuses to issue.
 */
function signedByOpenssl(
  name: string,
  subject: string,
  extendedKeyUsage: string,
  subjectAltName?: string,
  signer = { certPath: caPath, keyPath: caKeyPath },
): { certPath: string; keyPath: string } {
  const keyPath = join(dir, `${name}.key`);
  expect(run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]).status).toBe(0);
  const csrPath = join(dir, `${name}.csr`);
  expect(run('openssl', ['req', '-new', '-key', keyPath, '-subj', subject, '-out', csrPath]).status).toBe(0);
  const extensions = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${extendedKeyUsage}`];
  if (subjectAltName !== undefined) extensions.push(`subjectAltName=${subjectAltName}`);
  const extPath = file(`${name}.ext`, `${extensions.join('\n')}\n`);
  const certPath = join(dir, `${name}.pem`);
  const signed = run('openssl', ['x509', '-req', '-in', csrPath, '-CA', signer.certPath, '-CAkey', signer.keyPath, '-set_serial', '0x4242', '-days', '2', '-extfile', extPath, '-out', certPath]);
  expect(signed.status, signed.output).toBe(0);
  return { certPath, keyPath };
}

beforeAll(async () => {
  ca = await generateCa({ authority: 'etcd', generation: 1, now, lifetimeMs: 30 * DAY, nameConstraints: CONSTRAINTS });
  caPath = file('ca.pem', ca.certificatePem);
  caKeyPath = file('ca.key', ca.privateKeyPem);
});

describe('a CA with name constraints, seen by OpenSSL and GnuTLS', () => {
  it('carries a critical NameConstraints extension that OpenSSL reads as written', () => {
    const text = run('openssl', ['x509', '-in', caPath, '-noout', '-text']).output;
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:example\.com\s+DNS:localhost\s+IP:127\.0\.0\.0\/255\.0\.0\.0\s+IP:10\.0\.0\.0\/255\.0\.0\.0\s+Excluded:\s+DNS:admin\.example\.com\s+IP:10\.9\.0\.0\/255\.255\.0\.0/);
  });

  it('verifies a leaf certrotate issues inside the constraints (a URI SAN is not constrained)', async () => {
    const leaf = await Issuer.fromCaGeneration(ca).issueLeaf(
      { subject: 'CN=etcd-0', dnsNames: ['etcd-0.example.com', 'localhost'], ipAddresses: ['127.0.0.1', '10.1.2.3'], uris: ['spiffe://cluster.local/ns/etcd/sa/etcd'], usage: 'both', lifetimeMs: DAY },
      now,
    );
    const leafPath = file('inside.pem', leaf.certificatePem);
    expect(opensslVerify(caPath, leafPath)).toMatchObject({ status: 0 });
    expect(gnutlsVerify(caPath, leafPath).output).toMatch(/Chain verification output: Verified/);
  });

  it.each([
    ['a DNS name outside the permitted domains', '/CN=api', 'serverAuth', 'DNS:api.evil.org', /permitted subtree violation/],
    ['a DNS name inside an excluded domain', '/CN=api', 'serverAuth', 'DNS:x.admin.example.com', /excluded subtree violation/],
    ['a wildcard that could stand for an excluded domain', '/CN=api', 'serverAuth', 'DNS:*.example.com,DNS:*.admin.example.com', /excluded subtree violation/],
    ['an IP address outside the permitted ranges', '/CN=api', 'serverAuth', 'DNS:localhost,IP:192.168.1.1', /permitted subtree violation/],
    ['an IP address inside an excluded range', '/CN=api', 'serverAuth', 'DNS:localhost,IP:10.9.1.1', /excluded subtree violation/],
    ['no SAN and a CN that is a host name outside (a client: OpenSSL checks such CNs)', '/CN=etcd-1.evil.org', 'clientAuth', undefined, /permitted subtree violation/],
  ])('rejects a leaf with %s, with both tools', (name, subject, eku, san, opensslReason) => {
    const { certPath } = signedByOpenssl(name.replace(/\W+/g, '-'), subject, eku, san);
    const openssl = opensslVerify(caPath, certPath);
    expect(openssl.status).not.toBe(0);
    expect(openssl.output).toMatch(opensslReason);
    // GnuTLS 3.7 accepts a client certificate whose CN alone is outside (it checks a CN only for TLS servers).
    const gnutls = gnutlsVerify(caPath, certPath).output;
    expect(gnutls).toMatch(eku === 'clientAuth' ? /Chain verification output: Verified/ : /Chain verification output: Not verified/);
  });

  it("rejects a server without a DNS name whose CN is outside with GnuTLS, which OpenSSL accepts (no dot in the CN): certrotate refuses both", () => {
    const { certPath } = signedByOpenssl('server-cn', '/CN=kube-apiserver', 'serverAuth');
    expect(opensslVerify(caPath, certPath).status).toBe(0);
    expect(gnutlsVerify(caPath, certPath).output).toMatch(/Chain verification output: Not verified/);
    const refused = Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=kube-apiserver', usage: 'server', lifetimeMs: DAY }, now);
    return expect(refused).rejects.toThrow(/subject CN \(GnuTLS checks a server's CN when it has no DNS name\) "kube-apiserver" is outside/);
  });

  it('rejects an IPv6 address when only IPv4 ranges are permitted with OpenSSL, which GnuTLS 3.7 accepts (it judges each family apart): certrotate refuses it', () => {
    const { certPath } = signedByOpenssl('ipv6', '/CN=api', 'serverAuth', 'DNS:localhost,IP:fd00::1');
    expect(opensslVerify(caPath, certPath).output).toMatch(/permitted subtree violation/);
    expect(gnutlsVerify(caPath, certPath).output).toMatch(/Chain verification output: Verified/);
    const refused = Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=api', dnsNames: ['localhost'], ipAddresses: ['fd00::1'], usage: 'server', lifetimeMs: DAY }, now);
    return expect(refused).rejects.toThrow(/IP address "fd00::1" is outside the permitted IP ranges/);
  });
});

describe("Node's TLS enforces the constraints (it verifies with OpenSSL)", () => {
  it('completes a mutual-TLS handshake with leaves inside, and refuses a server outside them', async () => {
    const issuer = Issuer.fromCaGeneration(ca);
    const issue = (usage: 'server' | 'client') =>
      issuer.issueLeaf({ subject: `CN=${usage}`, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage, lifetimeMs: DAY }, now);
    const [server, client] = await Promise.all([issue('server'), issue('client')]);
    const identity = (leaf: { certificatePem: string; privateKeyPem: string }) => ({ certificatePem: leaf.certificatePem, privateKeyPem: leaf.privateKeyPem, bundlePem: ca.certificatePem });
    expect(await mutualTlsHandshake(identity(server), identity(client))).toMatchObject({ ok: true });

    const outside = signedByOpenssl('node-outside', '/CN=server', 'serverAuth,clientAuth', 'DNS:localhost,IP:127.0.0.1,DNS:api.evil.org');
    const outsideServer = { certificatePem: readFileSync(outside.certPath, 'utf8'), privateKeyPem: readFileSync(outside.keyPath, 'utf8'), bundlePem: ca.certificatePem };
    const refused = await mutualTlsHandshake(outsideServer, identity(client));
    expect(refused).toMatchObject({ ok: false, error: expect.stringMatching(/PERMITTED_SUBTREE_VIOLATION|permitted subtree violation/i) as unknown });
  });
});

describe.each(['openssl', 'gnutls'] as const)('a mutual-TLS handshake with %s under the constraints', (stack: TlsStack) => {
  it('completes with a server inside them and fails with a server outside them', async () => {
    const issuer = Issuer.fromCaGeneration(ca);
    const issue = async (usage: 'server' | 'client') => {
      const leaf = await issuer.issueLeaf({ subject: `CN=${usage}`, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage, lifetimeMs: DAY }, now);
      return { cert: file(`${stack}-${usage}.pem`, leaf.certificatePem), key: file(`${stack}-${usage}.key`, leaf.privateKeyPem), ca: caPath };
    };
    const [server, client] = [await issue('server'), await issue('client')];
    const inside = await replayHandshake(stack, server, client, new Date(now + 60_000));
    expect(inside.ok, inside.detail).toBe(true);
    const outside = signedByOpenssl(`${stack}-outside`, '/CN=server', 'serverAuth', 'DNS:localhost,IP:127.0.0.1,DNS:api.evil.org');
    const refused = await replayHandshake(stack, { cert: outside.certPath, key: outside.keyPath, ca: caPath }, client, new Date(now + 60_000));
    expect(refused.ok, refused.detail).toBe(false);
    expect(refused.detail).toMatch(stack === 'openssl' ? /permitted subtree violation/ : /violates the signer's constraints/);
  });
});

describe('certrotate against OpenSSL and GnuTLS on random constraints and leaves', () => {
  const subtrees = fc.record(
    {
      dnsDomains: fc.uniqueArray(fc.constantFrom('a.test', 'b.a.test', 'c.test'), { minLength: 1, maxLength: 2 }),
      ipRanges: fc.uniqueArray(fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '192.168.0.0/16', 'fd00::/8'), { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: [] },
  );
  const leaf = fc.record({
    subject: fc.constantFrom('CN=node', 'CN=x.a.test', 'CN=evil.org', 'CN=system:node:a'),
    dnsNames: fc.uniqueArray(fc.constantFrom('x.a.test', 'a.test', 'x.b.a.test', 'x.c.test', 'evil.org'), { maxLength: 2 }),
    ipAddresses: fc.uniqueArray(fc.constantFrom('10.1.2.3', '10.2.0.1', '192.168.5.5', 'fd00::1', 'fe80::1'), { maxLength: 2 }),
    usage: fc.constantFrom('server' as const, 'client' as const, 'both' as const),
  });
  const EKU = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' } as const;

  it('a leaf certrotate issues verifies with both; a leaf it refuses (signed with openssl) fails with at least one', async () => {
    let run = 0;
    const outcomes = { issued: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.record({ permitted: subtrees, excluded: subtrees }, { requiredKeys: [] }), leaf, async (constraints: NameConstraints, spec) => {
        fc.pre(nameConstraintsProblems(constraints).length === 0);
        run += 1;
        const constrained = await generateCa({ authority: 'prop', generation: run, now, lifetimeMs: 30 * DAY, nameConstraints: constraints });
        const ca = file(`prop-${run}-ca.pem`, constrained.certificatePem);
        let leafPath: string;
        if (nameConstraintViolations(constraints, spec).length === 0) {
          const issued = await Issuer.fromCaGeneration(constrained).issueLeaf({ ...spec, lifetimeMs: DAY }, now);
          leafPath = file(`prop-${run}-leaf.pem`, issued.certificatePem);
          expect(opensslVerify(ca, leafPath).status, `openssl on ${JSON.stringify({ constraints, spec })}`).toBe(0);
          expect(gnutlsVerify(ca, leafPath).output, `gnutls on ${JSON.stringify({ constraints, spec })}`).toMatch(/Chain verification output: Verified/);
          outcomes.issued += 1;
          return;
        }
        await expect(Issuer.fromCaGeneration(constrained).issueLeaf({ ...spec, lifetimeMs: DAY }, now)).rejects.toThrow(/outside the name constraints/);
        const signer = { certPath: ca, keyPath: file(`prop-${run}-ca.key`, constrained.privateKeyPem) };
        const sans = [...spec.dnsNames.map((name) => `DNS:${name}`), ...spec.ipAddresses.map((address) => `IP:${address}`)];
        leafPath = signedByOpenssl(`prop-${run}`, `/${spec.subject}`, EKU[spec.usage], sans.length === 0 ? undefined : sans.join(','), signer).certPath;
        outcomes.refused += 1;
        const rejectedByOpenssl = opensslVerify(ca, leafPath).status !== 0;
        const rejectedByGnutls = !/Chain verification output: Verified/.test(gnutlsVerify(ca, leafPath).output);
        expect(rejectedByOpenssl || rejectedByGnutls, `both accept ${JSON.stringify({ constraints, spec })}`).toBe(true);
      }),
      { numRuns: 20 },
    );
    expect(outcomes.issued + outcomes.refused).toBeGreaterThan(0);
  });
});
