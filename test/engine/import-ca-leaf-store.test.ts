/**
 * import-ca into an authority on `leafStore: s3`: the leaves already in the bucket in certrotate's
 * layout (`<prefix>/<authority>/leaf/<id>`) are read through the same routed CertificateStore the
 * scans use and adopted (rows from their certificates, not reissued until due); the CA and bundle
 * go to their secrets; a crash after any call converges on retry.
 */
import * as sdk from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { PerAuthorityLeafStore } from '../../lib/aws/per-authority-leaf-store.js';
import { S3LeafStore } from '../../lib/aws/s3-leaf-store.js';
import { importCa, type ImportCaRequest } from '../../lib/engine/import-ca.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { parseCertificate } from '../../lib/pki/index.js';
import { opensslCa, opensslLeaf, type PemPair } from '../../lib/simulation/openssl.js';
import { SimulatedCrash, installCrashInjector } from '../support/crash.js';
import { fleetConfig } from '../support/fleet.js';
import { DAY, HOUR, T0 } from '../support/pki.js';

/** svc-0 server 7 d, svc-1 client 14 d, svc-2 both 30 d. */
const config = fleetConfig({ leaves: 3, leafStore: 's3' });
const environments: LocalEnvironment[] = [];
afterEach(async () => {
  await Promise.all(environments.splice(0).map((env) => env.stop()));
});

async function environment(): Promise<LocalEnvironment & { leafBucket: NonNullable<LocalEnvironment['leafBucket']> }> {
  const env = await startLocalEnvironment({ leafBucket: { config } });
  environments.push(env);
  const { leafBucket } = env;
  if (leafBucket === undefined) throw new Error('no leaf bucket started');
  return { ...env, leafBucket };
}

function request(ca: PemPair): ImportCaRequest {
  return { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem };
}

/** The leaves the cluster had before certrotate, made with openssl a day before T0, written to the bucket. */
async function seed(env: Awaited<ReturnType<typeof environment>>, ca: PemPair, ids: readonly string[]): Promise<void> {
  for (const [index, id] of ids.entries()) {
    const spec = config.leaves.find((leaf) => leaf.id === id);
    if (spec === undefined) throw new Error(`no leaf ${id}`);
    const leaf = await opensslLeaf(ca, { subject: spec.subject, dnsNames: spec.dnsNames, usage: spec.usage, at: T0 - DAY, days: spec.lifetimeMs / DAY, serialHex: `7${String(index).padStart(31, '0')}` });
    await env.leafBucket.store.writeLeaf({ authority: 'cluster', id, ...leaf, bundlePem: ca.certificatePem });
  }
}

describe('import-ca into a leafStore s3 authority', () => {
  it('adopts the leaves in the bucket (rows written, nothing reissued or copied to a secret); the CA and bundle go to their secrets', { timeout: 120_000 }, async () => {
    const env = await environment();
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - 30 * DAY, days: 3650 });
    await seed(env, ca, ['svc-0', 'svc-2']);
    const puts = env.leafBucket.s3.calls().PutObject ?? 0;
    const result = await importCa(env.deps(config), config, request(ca), T0);
    expect(result).toMatchObject({ generation: 1, adoptedLeaves: ['svc-0', 'svc-2'] });
    const rows = await env.state.readAllLeafRows('cluster');
    expect(rows.map((row) => [row.id, row.generation])).toEqual([['svc-0', 1], ['svc-2', 1]]);
    const inBucket = await env.leafBucket.store.readLeaves('cluster', ['svc-0', 'svc-2']);
    expect(rows.map((row) => row.fingerprintSha256)).toEqual(inBucket.leaves.map((leaf) => parseCertificate(leaf.certificatePem).fingerprintSha256));
    expect(env.leafBucket.s3.calls().PutObject ?? 0).toBe(puts);
    expect(await env.secrets.listLeafIds('cluster')).toEqual([]);
    expect(await env.secrets.listCaGenerations('cluster')).toEqual([1]);
    expect(await env.secrets.readBundle('cluster')).toBe(parseCertificate(ca.certificatePem).pem);

    // The first scan keeps the adopted leaves (same objects), issues the missing svc-1 into the bucket.
    const [scan] = await tick(env.deps(config), { now: T0 + HOUR, owner: 'scan', mode: 'reconcile' });
    expect(scan?.state).toMatchObject({ phase: 'Stable', generation: 1 });
    const after = await env.leafBucket.store.readLeaves('cluster', ['svc-0', 'svc-1', 'svc-2']);
    expect(after.leaves.map((leaf) => leaf.id)).toEqual(['svc-0', 'svc-1', 'svc-2']);
    expect(after.leaves.filter((leaf) => leaf.id !== 'svc-1').map((leaf) => leaf.certificatePem)).toEqual(inBucket.leaves.map((leaf) => leaf.certificatePem));
    expect(await env.secrets.listLeafIds('cluster')).toEqual([]);
  });

  it('also adopts a leaf of the s3 authority still in its secret (set to s3 before the import): read from there until its next write moves it', { timeout: 120_000 }, async () => {
    const env = await environment();
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - 30 * DAY, days: 3650 });
    await seed(env, ca, ['svc-0']);
    const spec = config.leaves.find((leaf) => leaf.id === 'svc-2');
    if (spec === undefined) throw new Error('no svc-2');
    const inSecret = await opensslLeaf(ca, { subject: spec.subject, dnsNames: spec.dnsNames, usage: spec.usage, at: T0 - DAY, days: 30, serialHex: '7a000000000000000000000000000002' });
    await env.secrets.writeLeaf({ authority: 'cluster', id: 'svc-2', ...inSecret, bundlePem: ca.certificatePem });
    const result = await importCa(env.deps(config), config, request(ca), T0);
    expect(result.adoptedLeaves).toEqual(['svc-0', 'svc-2']);
    expect((await env.state.readAllLeafRows('cluster')).map((row) => row.id)).toEqual(['svc-0', 'svc-2']);
    expect(await env.leafBucket.store.listLeafIds('cluster')).toEqual(['svc-0']);
  });

  it('refuses, changing nothing, when the leaf bucket cannot be read (a wrong --leaf-bucket): no CA secret, no bundle, no state, no row', async () => {
    const env = await environment();
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - 30 * DAY, days: 3650 });
    const wrong = new S3LeafStore({ s3: () => Promise.resolve({ sdk, client: env.leafBucket.client }), bucket: 'no-such-leaf-bucket' });
    const certificates = new PerAuthorityLeafStore({ secrets: env.secrets, s3: wrong, leafStoreOf: () => 's3' });
    await expect(importCa({ ...env.deps(config), certificates }, config, request(ca), T0)).rejects.toMatchObject({ name: 'NoSuchBucket' });
    expect(await env.secrets.listCaGenerations('cluster')).toEqual([]);
    expect(await env.secrets.readBundle('cluster')).toBeUndefined();
    expect(await env.state.readState('cluster')).toBeUndefined();
    expect(await env.state.readAllLeafRows('cluster')).toEqual([]);
    // With the right bucket the same import goes through.
    expect((await importCa(env.deps(config), config, request(ca), T0)).generation).toBe(1);
  });

  it('converges when retried after a crash right after any one of its calls (S3 reads included)', { timeout: 240_000 }, async () => {
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - DAY, days: 3650 });
    let crashes = 0;
    const calls = new Set<string>();
    for (let k = 1; k < 60; k++) {
      const env = await environment();
      await seed(env, ca, ['svc-2']);
      const crash = installCrashInjector(env.clients, [], env.leafBucket.client);
      crash.reset();
      crash.arm(k);
      const first = await importCa(env.deps(config), config, request(ca), T0).then(
        () => undefined,
        (error: unknown) => error,
      );
      for (const name of crash.log) calls.add(name);
      // Past its last call: the import ran to the end without a crash.
      if (first === undefined) break;
      expect(first, `call ${k}`).toBeInstanceOf(SimulatedCrash);
      crashes++;
      await crash.disarm();
      const result = await importCa(env.deps(config), config, request(ca), T0 + 1000);
      expect(result, `call ${k}`).toMatchObject({ generation: 1, adoptedLeaves: ['svc-2'] });
      const state = (await env.state.readState('cluster'))?.state;
      expect(state, `call ${k}`).toMatchObject({ phase: 'Stable', generation: 1 });
      expect(state?.history.filter((entry) => entry.by.kind === 'command' && entry.by.command === 'import-ca'), `call ${k}`).toHaveLength(1);
      expect((await env.state.readAllLeafRows('cluster')).map((row) => [row.id, row.generation]), `call ${k}`).toEqual([['svc-2', 1]]);
      expect(await env.certificates.readBundle('cluster'), `call ${k}`).toBe(parseCertificate(ca.certificatePem).pem);
      await env.stop();
      environments.splice(environments.indexOf(env), 1);
    }
    expect(crashes).toBeGreaterThan(5);
    // The leaves were read from the bucket, through the calls that were crash points.
    expect([...calls].filter((name) => /Object/.test(name))).not.toEqual([]);
  });
});
