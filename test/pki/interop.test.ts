import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsCaKeys } from '../../lib/aws/kms-ca-keys.js';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { startLocalKms, type LocalKms } from '../../lib/local/kms-server.js';
import { mutualTlsHandshake } from '../../lib/local/handshake.js';
import { Issuer, KEY_ALGORITHMS, generateCa, selfSignCa, type CaGeneration, type IssuedLeaf } from '../../lib/pki/index.js';
import { DAY } from '../support/pki.js';

// OpenSSL, GnuTLS and Node's TLS judge validity by the wall clock, so these certificates are
// issued at the real now.
const now = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'certrotate-interop-'));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function leafFor(issuer: Issuer, usage: 'server' | 'client' | 'both', algorithm = issuer.algorithm): Promise<IssuedLeaf> {
  return issuer.issueLeaf(
    { subject: `CN=${usage}`, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage, lifetimeMs: 7 * DAY, algorithm },
    now,
  );
}

function opensslVerify(caPath: string, certPath: string, purpose: string): { status: number | null; output: string } {
  const result = spawnSync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', caPath, certPath], {
    encoding: 'utf8',
  });
  return { status: result.status, output: result.stdout + result.stderr };
}

/** The CA self-verifies; each usage passes (and only passes) OpenSSL's purpose checks and GnuTLS. */
async function checkWithTools(label: string, caPem: string, issuer: Issuer): Promise<void> {
  const caPath = file(`${label}-ca.pem`, caPem);
  const caSelf = opensslVerify(caPath, caPath, 'any');
  expect(caSelf.output).toContain('OK');
  for (const usage of ['server', 'client', 'both'] as const) {
    const leaf = await leafFor(issuer, usage);
    const leafPath = file(`${label}-${usage}.pem`, leaf.certificatePem);
    const server = opensslVerify(caPath, leafPath, 'sslserver');
    const client = opensslVerify(caPath, leafPath, 'sslclient');
    expect(server.status === 0).toBe(usage !== 'client');
    expect(client.status === 0).toBe(usage !== 'server');
    const certtool = spawnSync(
      'certtool',
      ['--verify', '--load-ca-certificate', caPath, '--infile', leafPath],
      { encoding: 'utf8' },
    );
    expect(certtool.stdout + certtool.stderr).toMatch(/Chain verification output: Verified/);
    expect(certtool.status).toBe(0);
  }
}

describe.each(KEY_ALGORITHMS)('%s certificates with real tools', (algorithm) => {
  it('pass openssl verify -x509_strict for sslserver and sslclient, and GnuTLS certtool --verify', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, algorithm, now, lifetimeMs: 90 * DAY });
    await checkWithTools(algorithm, ca.certificatePem, Issuer.fromCaGeneration(ca));
  });
});

describe('CAs whose key never leaves KMS (the local KMS endpoint, through the production adapter)', () => {
  let kms: LocalKms;
  let client: KMSClient;
  let keys: KmsCaKeys;
  beforeAll(async () => {
    kms = await startLocalKms();
    client = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials });
    keys = new KmsCaKeys({ client: () => Promise.resolve(client), limiter: new WriteLimiter({ writesPerSecond: 1000 }) });
  });
  afterAll(async () => {
    client.destroy();
    await kms.stop();
  });

  it.each(KEY_ALGORITHMS)('%s: a KMS-signed CA and its KMS-signed leaves pass OpenSSL and GnuTLS, and Node completes mutual TLS', async (algorithm) => {
    const { signer } = await keys.keyFor('cluster', KEY_ALGORITHMS.indexOf(algorithm) + 1, algorithm);
    const ca = await selfSignCa({ authority: 'cluster', generation: KEY_ALGORITHMS.indexOf(algorithm) + 1, now, lifetimeMs: 90 * DAY }, signer);
    const issuer = new Issuer(ca, signer);
    await checkWithTools(`kms-${algorithm}`, ca.pem, issuer);
    const server = await leafFor(issuer, 'server', 'p256');
    const peer = await leafFor(issuer, 'client', 'p256');
    const result = await mutualTlsHandshake(
      { certificatePem: server.certificatePem, privateKeyPem: server.privateKeyPem, bundlePem: ca.pem },
      { certificatePem: peer.certificatePem, privateKeyPem: peer.privateKeyPem, bundlePem: ca.pem },
    );
    expect(result).toMatchObject({ ok: true, serverPeerSubject: 'server', clientPeerSubject: 'client' });
  });
});

describe('openssl refuses what it should', () => {
  it('refuses a leaf against another generation', async () => {
    const ca1 = await generateCa({ authority: 'cluster', generation: 1, now, lifetimeMs: 90 * DAY });
    const ca2 = await generateCa({ authority: 'cluster', generation: 2, now, lifetimeMs: 90 * DAY });
    const leaf = await leafFor(Issuer.fromCaGeneration(ca1), 'server');
    const result = opensslVerify(file('other-ca.pem', ca2.certificatePem), file('other-leaf.pem', leaf.certificatePem), 'sslserver');
    expect(result.status).not.toBe(0);
  });
});

describe('Node mutual TLS across a CA generation change', () => {
  let ca1: CaGeneration;
  let ca2: CaGeneration;

  async function identities(bundlePem: string, issuer: Issuer) {
    const server = await leafFor(issuer, 'server');
    const client = await leafFor(issuer, 'client');
    return {
      server: { certificatePem: server.certificatePem, privateKeyPem: server.privateKeyPem, bundlePem },
      client: { certificatePem: client.certificatePem, privateKeyPem: client.privateKeyPem, bundlePem },
    };
  }

  it('completes with leaves of N against the bundle [N, N+1], on TLS 1.2 and 1.3', async () => {
    ca1 = await generateCa({ authority: 'cluster', generation: 1, now, lifetimeMs: 90 * DAY });
    ca2 = await generateCa({ authority: 'cluster', generation: 2, now, lifetimeMs: 90 * DAY });
    const { server, client } = await identities(ca1.certificatePem + ca2.certificatePem, Issuer.fromCaGeneration(ca1));
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const result = await mutualTlsHandshake(server, client, { minVersion: version, maxVersion: version });
      expect(result).toMatchObject({ ok: true, protocol: version, serverPeerSubject: 'server', clientPeerSubject: 'client' });
    }
  });

  it('completes between a server of N and a client of N+1 when both hold [N, N+1]', async () => {
    const bundle = ca1.certificatePem + ca2.certificatePem;
    const old = await identities(bundle, Issuer.fromCaGeneration(ca1));
    const fresh = await identities(bundle, Issuer.fromCaGeneration(ca2));
    expect((await mutualTlsHandshake(old.server, fresh.client)).ok).toBe(true);
    expect((await mutualTlsHandshake(fresh.server, old.client)).ok).toBe(true);
  });

  it('fails with leaves of N against [N+1] alone, whichever side verifies', async () => {
    const old = await identities(ca2.certificatePem, Issuer.fromCaGeneration(ca1));
    const result = await mutualTlsHandshake(old.server, old.client);
    expect(result.ok).toBe(false);
    const serverOnlyTrustsNew = await identities(ca1.certificatePem + ca2.certificatePem, Issuer.fromCaGeneration(ca1));
    const tls13 = await mutualTlsHandshake(
      { ...serverOnlyTrustsNew.server, bundlePem: ca2.certificatePem },
      serverOnlyTrustsNew.client,
      { minVersion: 'TLSv1.3' },
    );
    expect(tls13).toMatchObject({ ok: false, error: expect.stringMatching(/server:/) as unknown });
  });
});

it('has the TLS tools the interop tests need', () => {
  expect(execFileSync('openssl', ['version'], { encoding: 'utf8' })).toMatch(/OpenSSL 3/);
  expect(execFileSync('certtool', ['--version'], { encoding: 'utf8' })).toMatch(/certtool/);
});
