import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { problemsOf } from '../support/config.js';
import { DAY, T0 } from '../support/pki.js';

type Json = Record<string, unknown>;

/** One spelling per address: IPv6 compressed and lower-case, as a URL host spells it. */
function canonicalIp(address: string): string {
  return isIP(address) === 6 ? new URL(`http://[${address}]`).hostname.slice(1, -1) : address;
}

function documentWith(leafFields: Json, renewal?: Json): Json {
  return {
    authorities: [{ name: 'cluster' }],
    leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 30, ...leafFields }],
    ...(renewal === undefined ? {} : { renewal }),
  };
}

describe('configuration refuses what issuance would refuse, naming the path and the value', () => {
  it.each([
    ['dnsNames', 'has space.example'],
    ['dnsNames', 'a..example'],
    ['dnsNames', `${'a'.repeat(64)}.example`],
    ['dnsNames', '_service.example'],
    ['dnsNames', 'api.example.'],
    ['dnsNames', 'bücher.example'],
    ['dnsNames', `${'abcdefghi.'.repeat(26)}com`],
    ['ipAddresses', '999.1.1.1'],
    ['ipAddresses', '10.0.0.0/8'],
    ['ipAddresses', 'api.example'],
    ['ipAddresses', 'fe80::1%eth0'],
    ['ipAddresses', '::ffff:10.0.0.1'],
    ['uris', 'not a uri'],
    ['uris', '//no-scheme/path'],
    ['subject', 'cn=api'],
    ['subject', 'FOO=bar'],
    ['subject', 'CN='],
    ['subject', 'kube-apiserver'],
  ])('%s %j', (field, value) => {
    const fieldValue = field === 'subject' ? value : [value];
    const path = field === 'subject' ? 'config.leaves[0].subject' : `config.leaves[0].${field}[0]`;
    const found = problemsOf(documentWith({ [field]: fieldValue }));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(`${path}: ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`);
  });

  it('every leaf the configuration accepts can be issued (the same rules, one implementation)', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 365 * DAY });
    const issuer = Issuer.fromCaGeneration(ca);
    const label = fc.stringMatching(/^[a-zA-Z0-9_*.%: /-]{0,12}$/);
    const ipv6WithIpv4 = fc.ipV4().map((v4) => `::ffff:${v4}`);
    const names = fc.array(fc.oneof(label, fc.domain(), fc.ipV4(), fc.ipV6(), ipv6WithIpv4, fc.webUrl()), { maxLength: 3 });
    const subject = fc.oneof(fc.constantFrom('CN=api', 'cn=api', 'CN=', 'O=x,CN=y', 'FOO=1', 'CN=a+O=b'), fc.string({ maxLength: 12 }).map((v) => `CN=${v}`));
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(names, names, names, subject, async (dnsNames, ipAddresses, uris, subjectValue) => {
        const document = documentWith({ subject: subjectValue, dnsNames, ipAddresses, uris });
        if (problemsOf(document).length > 0) return;
        accepted++;
        const [leaf] = parseConfig(document).leaves;
        if (leaf === undefined) throw new Error('an accepted document lost its leaf');
        const issued = await issuer.issueLeaf(leaf, T0);
        // What the certificate carries is what was configured, not a mangled address.
        expect(issued.certificate.subjectAltNames.ip.map(canonicalIp)).toEqual((leaf.ipAddresses ?? []).map(canonicalIp));
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(accepted).toBeGreaterThan(10);
  });
});

describe('configuration bounds every number, naming the path', () => {
  it.each([
    [{ authorities: [{ name: 'cluster', caLifetimeDays: 3e6 }] }, 'config.authorities[0].caLifetimeDays: must be at most 7300, got 3000000'],
    [{ renewal: { renewBeforeHours: 1000 } }, 'config.renewal.renewBeforeHours: must be at most 720, got 1000'],
    [{ renewal: { jitterMinutes: 1e6 } }, 'config.renewal.jitterMinutes: must be at most 1440, got 1000000'],
    [{ authorities: [{ name: 'cluster', soakHours: { trustExpanded: 1e5, leavesMigrated: 2 } }] }, 'config.authorities[0].soakHours.trustExpanded: must be at most 720'],
    [{ authorities: [{ name: 'cluster', republishAfterMinutes: 1e9 }] }, 'config.authorities[0].republishAfterMinutes: must be at most 1440'],
  ])('%j', (overrides, expected) => {
    const document = { ...documentWith({}), ...overrides };
    expect(problemsOf(document).some((line) => line.startsWith(expected))).toBe(true);
  });

  it.each([
    ['a 1-day leaf with the default 24 h + 60 min renewal window', { lifetimeDays: 1 }, undefined],
    ['a 1-hour leaf with the defaults', { lifetimeDays: 1 / 24 }, undefined],
    ['a 2-day leaf renewed 47 h early with 60 min jitter', { lifetimeDays: 2 }, { renewBeforeHours: 47, jitterMinutes: 60 }],
  ])('refuses a leaf that would always be due: %s', (_name, leafFields, renewal) => {
    const found = problemsOf(documentWith(leafFields, renewal));
    expect(found).toEqual([expect.stringMatching(/^config\.leaves\[0\]\.lifetimeDays: .*would be due as soon as it is issued/)]);
  });

  it('accepts a short leaf whose renewal window leaves room for the hourly scan', () => {
    expect(problemsOf(documentWith({ lifetimeDays: 1 }, { renewBeforeHours: 6, jitterMinutes: 30 }))).toEqual([]);
  });
});
