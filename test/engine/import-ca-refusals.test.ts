import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCa, type ImportCaRequest } from '../../lib/engine/import-ca.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { CaImportRefusedError, checkImportableCa, type CaImportCheck } from '../../lib/pki/index.js';
import { opensslCa, opensslLeaf, type PemPair } from '../../lib/simulation/openssl.js';
import { fleetConfig } from '../support/fleet.js';
import { DAY, T0 } from '../support/pki.js';

let env: LocalEnvironment;
beforeAll(async () => {
  env = await startLocalEnvironment();
});
afterAll(async () => {
  await env.stop();
});

/** Longest leaf: 30 days. */
const config = fleetConfig({ leaves: 3 });
const NO_KEY_CERT_SIGN = ['basicConstraints = critical, CA:true', 'keyUsage = critical, digitalSignature', 'subjectKeyIdentifier = hash'];

function request(ca: PemPair, extra: Partial<ImportCaRequest> = {}): ImportCaRequest {
  return { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem, ...extra };
}

/** Every 24-character run of the key's base64: none may appear in a refusal. */
function keyFragments(privateKeyPem: string): string[] {
  const body = privateKeyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return Array.from({ length: Math.max(0, body.length - 24) }, (_, i) => body.slice(i, i + 24)).filter((_, i) => i % 8 === 0);
}

async function expectRefused(input: ImportCaRequest, check: CaImportCheck, message: RegExp, now = T0): Promise<void> {
  const error: unknown = await importCa(env.deps(config), config, input, now).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CaImportRefusedError);
  if (!(error instanceof CaImportRefusedError)) return;
  expect(error.check).toBe(check);
  expect(error.message).toMatch(message);
  const shown = `${error.message}\n${JSON.stringify(error)}\n${String(error.stack)}`;
  for (const fragment of keyFragments(input.privateKeyPem)) expect(shown).not.toContain(fragment);
  // A refusal changes nothing.
  expect(await env.certificates.listCaGenerations('cluster')).toEqual([]);
  expect(await env.state.readState('cluster')).toBeUndefined();
  expect(await env.certificates.readBundle('cluster')).toBeUndefined();
}

describe('import-ca refuses, changing nothing and quoting no key', () => {
  let good: PemPair;
  beforeAll(async () => {
    good = await opensslCa({ subject: 'CN=kubernetes', at: T0 - 100 * DAY, days: 3650 });
  });

  it('an authority that is not configured', async () => {
    await expectRefused(request(good, { authority: 'etcd' }), 'unknown-authority', /authority "etcd" is not in the configuration \(configured: cluster\)/);
  });

  it('a truncated certificate, a key passed as the certificate, and a key that is not PEM', async () => {
    await expectRefused(request(good, { certificatePem: good.certificatePem.slice(0, 200) }), 'malformed', /the CA certificate: .*truncated/);
    await expectRefused(request(good, { certificatePem: good.privateKeyPem }), 'malformed', /the CA certificate: PEM block 1 is a PRIVATE KEY where a CERTIFICATE was expected/);
    await expectRefused(request(good, { privateKeyPem: 'not a key' }), 'malformed', /the CA private key: expected PEM/);
    await expectRefused(request(good, { certificatePem: good.certificatePem + good.certificatePem }), 'malformed', /holds 2 certificates/);
  });

  it('a certificate that is not a CA (CA:false), and a CA whose keyUsage lacks keyCertSign', async () => {
    const leaf = await opensslCa({ subject: 'CN=not-a-ca', at: T0 - DAY, days: 3650, extensions: ['basicConstraints = critical, CA:false', 'subjectKeyIdentifier = hash'] });
    await expectRefused(request(leaf), 'not-a-ca', /is not a CA \(no basicConstraints CA:true\)/);
    const noSign = await opensslCa({ subject: 'CN=no-cert-sign', at: T0 - DAY, days: 3650, extensions: NO_KEY_CERT_SIGN });
    await expectRefused(request(noSign), 'not-a-ca', /keyUsage without keyCertSign/);
  });

  it('an intermediate CA (not self-signed), and a chain holding other certificates than the root', async () => {
    const intermediate = await opensslLeaf(good, {
      subject: 'CN=intermediate',
      usage: 'both',
      at: T0 - DAY,
      days: 1000,
      serialHex: '4a1b2c3d4e5f60718293a4b5c6d7e8f9',
      extensions: ['basicConstraints = critical, CA:true', 'keyUsage = critical, keyCertSign', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'],
    });
    await expectRefused(request(intermediate, { chainPem: good.certificatePem }), 'not-a-root', /issued by "CN=kubernetes", not self-signed/);
    await expectRefused(request(good, { chainPem: intermediate.certificatePem }), 'not-a-root', /other than the CA itself/);
    await expectRefused(request(good, { chainPem: '-----BEGIN CERTIFICATE-----\nAAAA' }), 'malformed', /the chain: /);
  });

  it('a key certrotate does not sign with: P-521 and RSA 1024', async () => {
    const p521 = await opensslCa({ subject: 'CN=p521', at: T0 - DAY, days: 3650, key: 'p521' });
    await expectRefused(request(p521), 'algorithm', /unsupported private key: .*secp521r1; use ECDSA P-256 or P-384/);
    const rsa1024 = await opensslCa({ subject: 'CN=rsa1024', at: T0 - DAY, days: 3650, key: 'rsa1024' });
    await expectRefused(request(rsa1024), 'algorithm', /1024-bit rsa/);
  });

  it('a private key that is not the certificate\'s', async () => {
    const other = await opensslCa({ subject: 'CN=other', at: T0 - DAY, days: 3650 });
    await expectRefused(request(good, { privateKeyPem: other.privateKeyPem }), 'key-mismatch', /does not belong to CA "CN=kubernetes"/);
  });

  it('a CA not valid yet, and an expired one (both sides of each bound)', async () => {
    const later = await opensslCa({ subject: 'CN=later', at: T0 + 1000, days: 3650 });
    await expectRefused(request(later), 'not-valid-now', /valid from 2026-01-01T00:00:01.000Z .* not now/);
    const expired = await opensslCa({ subject: 'CN=expired', at: T0 - 400 * DAY, days: 400 });
    await expectRefused(request(expired), 'not-valid-now', /not now/, T0 + 1000);
    // Inclusive bounds: valid at notBefore itself; at notAfter itself only its lifetime left is wrong.
    const check = (at: number) => {
      try {
        checkImportableCa(later, at, 30 * DAY);
        return 'accepted';
      } catch (error) {
        return error instanceof CaImportRefusedError ? error.check : 'thrown';
      }
    };
    const notBefore = T0 + 1000;
    const notAfter = notBefore + 3650 * DAY;
    expect([check(notBefore - 1), check(notBefore), check(notAfter), check(notAfter + 1)]).toEqual(['not-valid-now', 'accepted', 'lifetime', 'not-valid-now']);
  });

  it('a CA that expires before the longest leaf lifetime (30 days) would run out', async () => {
    const short = await opensslCa({ subject: 'CN=short', at: T0 - 10 * DAY, days: 40 });
    await expectRefused(request(short), 'lifetime', /in 30 days: no longer than the authority's longest leaf lifetime \(30 days\)/);
    // A second earlier, it has a second more than the longest leaf lifetime left: accepted.
    expect(checkImportableCa(short, T0 - 1000, 30 * DAY).certificate.subject).toBe('CN=short');
  });
});

describe('import-ca of a CA named like a later certrotate generation', () => {
  it('is refused: the CA certrotate generates for that generation would share its subject', async () => {
    const clash = await opensslCa({ subject: 'CN=certrotate cluster CA 3', at: T0 - DAY, days: 3650 });
    await expectRefused(request(clash), 'subject-clash', /subject certrotate gives CA generation 3 of authority cluster/);
    // Its generation-1 name, or another authority's names, clash with nothing here.
    for (const subject of ['CN=certrotate cluster CA 1', 'CN=certrotate etcd CA 3']) {
      const fine = await opensslCa({ subject, at: T0 - DAY, days: 3650 });
      const own = await startLocalEnvironment();
      try {
        await expect(importCa(own.deps(config), config, request(fine), T0)).resolves.toMatchObject({ generation: 1 });
      } finally {
        await own.stop();
      }
    }
  });
});

describe('import-ca into an authority that already runs', () => {
  it('is refused once certrotate generated CA 1, and changes nothing', async () => {
    const own = await startLocalEnvironment();
    try {
      const deps = own.deps(config);
      await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });
      const before = await own.state.readState('cluster');
      const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - DAY, days: 3650 });
      const refusal = importCa(deps, config, request(ca), T0 + 1000);
      await expect(refusal).rejects.toMatchObject({ check: 'already-has-ca' });
      await expect(refusal).rejects.toThrow(/authority cluster has a CA already \("CN=certrotate cluster CA 1".*force a rotation/);
      expect(await own.state.readState('cluster')).toEqual(before);
      expect(await own.certificates.listCaGenerations('cluster')).toEqual([1]);
    } finally {
      await own.stop();
    }
  });
});
