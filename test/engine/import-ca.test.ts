import { X509Certificate, createPrivateKey } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import { runCommand } from '../../lib/engine/commands.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { importCa, type ImportCaResult } from '../../lib/engine/import-ca.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { mutualTlsHandshake } from '../../lib/local/handshake.js';
import { parseCertificate, verifyChain } from '../../lib/pki/index.js';
import { opensslCa, opensslLeaf, type OpensslKey, type PemPair } from '../../lib/simulation/openssl.js';
import { bundleGenerations, fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';
import { DAY, HOUR, T0 } from '../support/pki.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const MINUTE = 60_000;
/** svc-0 server 7 d, svc-1 client 14 d, svc-2 both 30 d, svc-3 server 7 d, svc-4 client 14 d, svc-5 both 30 d. */
const config = fleetConfig({ leaves: 6, soakHours: 1 });
const NO_AKI_LEAF = ['basicConstraints = critical, CA:false', 'keyUsage = critical, digitalSignature, keyEncipherment', 'extendedKeyUsage = serverAuth, clientAuth', 'authorityKeyIdentifier = none'];

function serial(index: number): string {
  return `5${String(index).padStart(31, '0')}`;
}

/** The leaves a cluster had before certrotate: made with openssl a day before T0, in certrotate's layout. */
async function seedLeaves(ca: PemPair, ids: readonly string[], options: { key?: OpensslKey; extensions?: readonly string[] } = {}): Promise<void> {
  for (const [index, id] of ids.entries()) {
    const spec = config.leaves.find((leaf) => leaf.id === id);
    if (spec === undefined || env === undefined) throw new Error(`no leaf ${id}`);
    const leaf = await opensslLeaf(ca, {
      subject: spec.subject,
      dnsNames: spec.dnsNames,
      usage: spec.usage,
      at: T0 - DAY,
      days: spec.lifetimeMs / DAY,
      serialHex: serial(index),
      ...options,
    });
    await env.certificates.writeLeaf({ authority: 'cluster', id, ...leaf, bundlePem: ca.certificatePem });
  }
}

async function fingerprints(local: LocalEnvironment): Promise<Map<string, string>> {
  const { leaves } = await local.certificates.readLeaves('cluster', config.leaves.map((leaf) => leaf.id));
  return new Map(leaves.map((leaf) => [leaf.id, parseCertificate(leaf.certificatePem).fingerprintSha256]));
}

/** Real mutual-TLS handshakes at `now` between every server-capable and every client-capable leaf, each with what it reads. */
async function failedHandshakes(local: LocalEnvironment, cfg: CertrotateConfig, now: number): Promise<string[]> {
  const { leaves } = await local.certificates.readLeaves('cluster', cfg.leaves.map((leaf) => leaf.id));
  const usage = new Map(cfg.leaves.map((leaf) => [leaf.id, leaf.usage]));
  const names = new Map(cfg.leaves.map((leaf) => [leaf.id, leaf.dnsNames[0]]));
  const servers = leaves.filter((leaf) => usage.get(leaf.id) !== 'client');
  const clients = leaves.filter((leaf) => usage.get(leaf.id) !== 'server');
  const failures: string[] = [];
  for (const server of servers) {
    for (const client of clients.filter((candidate) => candidate.id !== server.id)) {
      const serverName = names.get(server.id);
      const result = await mutualTlsHandshake(server, client, { at: now, ...(serverName === undefined ? {} : { serverName }) });
      if (!result.ok) failures.push(`${client.id} -> ${server.id}: ${result.error}`);
    }
  }
  return failures;
}

/** Ticks every 5 minutes from `from` until the authority is Stable on `generation` with nothing left to retire, checking handshakes at every transition. */
async function rotateTo(deps: EngineDeps, local: LocalEnvironment, generation: number, from: number): Promise<{ now: number; report: AuthorityReport | undefined }> {
  const check = invariantChecker(local, config);
  let now = from;
  let report: AuthorityReport | undefined;
  for (let i = 0; i < 80; i++) {
    [report] = await tick(deps, { now, owner: `t-${i}`, mode: 'scan' });
    expect(await check('cluster', now), `invariant at tick ${i}`).toEqual([]);
    if ((report?.transitions.length ?? 0) > 0) expect(await failedHandshakes(local, config, now), `handshakes at tick ${i}`).toEqual([]);
    if (report?.state?.phase === 'Stable' && report.state.generation === generation && report.state.retiring === undefined) break;
    now += 5 * MINUTE;
  }
  return { now, report };
}

describe('adopting a CA made with openssl', () => {
  it('keeps the leaves in the field (adopted, renewed only when due), then rotates to a certrotate CA with no handshake broken', { timeout: 240_000 }, async () => {
    env = await startLocalEnvironment();
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = env.deps(config, { emit: (event) => events.push(event) });
    const ca = await opensslCa({ subject: 'CN=kubernetes,O=kubeadm', at: T0 - 100 * DAY, days: 3650 });
    await seedLeaves(ca, ['svc-0', 'svc-1', 'svc-2', 'svc-3']);
    const foreign = await opensslCa({ subject: 'CN=someone-else', at: T0 - 100 * DAY, days: 3650 });
    await seedLeaves(foreign, ['svc-4']);
    // svc-5 has no secret.
    const before = await fingerprints(env);

    const result = await importCa(deps, config, { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem }, T0);
    const opensslFingerprint = new X509Certificate(ca.certificatePem).fingerprint256.replaceAll(':', '').toLowerCase();
    expect(result).toEqual<ImportCaResult>({
      authority: 'cluster',
      generation: 1,
      fingerprintSha256: opensslFingerprint,
      notAfter: T0 - 100 * DAY + 3650 * DAY,
      adoptedLeaves: ['svc-0', 'svc-1', 'svc-2', 'svc-3'],
    });
    const record = await env.state.readState('cluster');
    expect(record?.state).toMatchObject({ generation: 1, phase: 'Stable', highestGeneration: 1 });
    expect(record?.state.history.at(-1)).toMatchObject({ to: 'Stable', by: { kind: 'command', command: 'import-ca' } });
    expect(record?.state.history.at(-1)?.why).toMatch(/^imported: CA "CN=kubernetes, O=kubeadm"/);
    expect(await bundleGenerations(env, 'cluster')).toEqual([1]);
    expect((await env.certificates.readCa('cluster', 1))?.privateKeyPem).toContain('BEGIN PRIVATE KEY');
    const keyBody = ca.privateKeyPem.split('\n')[1] ?? 'x';
    expect(JSON.stringify({ events, result, record })).not.toContain(keyBody);
    expect((await env.state.readAllLeafRows('cluster')).map((row) => [row.id, row.generation])).toEqual([['svc-0', 1], ['svc-1', 1], ['svc-2', 1], ['svc-3', 1]]);

    // The first scan: the adopted leaves stay as they are; the foreign and the missing one are
    // issued from the imported CA; every leaf's ca.crt becomes [imported CA].
    let now = T0 + HOUR;
    await tick(deps, { now, owner: 'first', mode: 'scan' });
    const afterFirst = await fingerprints(env);
    for (const id of ['svc-0', 'svc-1', 'svc-2', 'svc-3']) expect(afterFirst.get(id), id).toBe(before.get(id));
    expect(afterFirst.get('svc-4')).not.toBe(before.get('svc-4'));
    expect([...(await leafGenerations(env, config, 'cluster')).entries()].sort()).toEqual([1, 1, 1, 1, 1, 1].map((g, i) => [`svc-${i}`, g]));
    const reissued = await env.certificates.readLeaves('cluster', ['svc-5']);
    expect(parseCertificate(reissued.leaves[0]?.certificatePem ?? '').issuer).toBe('CN=kubernetes, O=kubeadm');
    expect(await failedHandshakes(env, config, now)).toEqual([]);

    // svc-0 (7 days, made a day before T0) is renewed from the imported CA when it is due, not before.
    now = T0 + 4 * DAY;
    await tick(deps, { now, owner: 'day-4', mode: 'scan' });
    expect((await fingerprints(env)).get('svc-0')).toBe(before.get('svc-0'));
    now = T0 + 5 * DAY;
    await tick(deps, { now, owner: 'day-5', mode: 'scan' });
    const renewed = await fingerprints(env);
    expect(renewed.get('svc-0')).not.toBe(before.get('svc-0'));
    expect(renewed.get('svc-2')).toBe(before.get('svc-2'));
    expect((await leafGenerations(env, config, 'cluster')).get('svc-0')).toBe(1);
    expect(await failedHandshakes(env, config, now)).toEqual([]);

    // A forced rotation moves to certrotate's CA 2 with zero downtime.
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'leave-kubeadm', reason: 'adopted CA', emergency: false }, now);
    const { report } = await rotateTo(deps, env, 2, now);
    expect(report?.state).toMatchObject({ phase: 'Stable', generation: 2, retired: [1] });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([2, 2, 2, 2, 2, 2]);
    expect(await bundleGenerations(env, 'cluster')).toEqual([2]);
    expect((await env.certificates.readCa('cluster', 2))?.certificatePem).toBeDefined();
    expect(parseCertificate((await env.certificates.readCa('cluster', 2))?.certificatePem ?? '').subject).toBe('CN=certrotate cluster CA 2');
  });

  it('adopts an RSA CA without SKI: its leaves carry no AKI, chain by name, and the rotation away breaks no handshake', { timeout: 240_000 }, async () => {
    env = await startLocalEnvironment();
    const deps = env.deps(config);
    const ca = await opensslCa({ subject: 'CN=legacy-ca', at: T0 - 10 * DAY, days: 365, key: 'rsa2048', extensions: ['basicConstraints = critical, CA:true', 'subjectKeyIdentifier = none', 'authorityKeyIdentifier = none'] });
    expect(parseCertificate(ca.certificatePem).subjectKeyId).toBeUndefined();
    await seedLeaves(ca, ['svc-0', 'svc-1', 'svc-2'], { extensions: NO_AKI_LEAF });
    const result = await importCa(deps, config, { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem, chainPem: ca.certificatePem }, T0);
    expect(result.adoptedLeaves).toEqual(['svc-0', 'svc-1', 'svc-2']);
    const now = T0 + HOUR;
    await tick(deps, { now, owner: 'first', mode: 'scan' });
    const { leaves } = await env.certificates.readLeaves('cluster', ['svc-4']);
    const issued = parseCertificate(leaves[0]?.certificatePem ?? '');
    expect(issued.authorityKeyId).toBeUndefined();
    expect(verifyChain(issued.pem, ca.certificatePem, now).anchor.subject).toBe('CN=legacy-ca');
    expect(await failedHandshakes(env, config, now)).toEqual([]);
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'away', reason: 'no SKI', emergency: false }, now);
    const { report } = await rotateTo(deps, env, 2, now);
    expect(report?.state).toMatchObject({ phase: 'Stable', generation: 2 });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('starts the rotation away at the first scan when the adopted CA is already within the rotation lead', async () => {
    env = await startLocalEnvironment();
    const leadConfig = parseConfig({
      authorities: [{ name: 'cluster', caLifetimeDays: 180, rotationLeadDays: 40 }],
      leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', dnsNames: ['api.cluster.local'], usage: 'server', lifetimeDays: 30 }],
    });
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = env.deps(leadConfig, { emit: (event) => events.push(event) });
    // 35 days left: more than the 30-day leaves need, less than the 40-day lead.
    const ca = await opensslCa({ subject: 'CN=old-ca', at: T0 - 330 * DAY, days: 365 });
    await importCa(deps, leadConfig, { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem }, T0);
    expect(events.find((event) => event.type === 'ca-imported')?.detail).toMatchObject({ generation: 1, rotationDue: true });
    const [report] = await tick(deps, { now: T0 + HOUR, owner: 'first', mode: 'scan' });
    expect(report?.transitions.map((transition) => transition.to)).toContain('Prepared');
    expect(report?.transitions.find((transition) => transition.to === 'Prepared')?.why).toMatch(/CA 1 expires at .* within the rotation lead time/);
  });

  it('takes a kubeadm-style PKCS#1 RSA key and stores it as PKCS#8, from which the first scan issues', async () => {
    env = await startLocalEnvironment();
    const deps = env.deps(config);
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - DAY, days: 3650, key: 'rsa2048' });
    const pkcs1 = createPrivateKey(ca.privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    await importCa(deps, config, { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: pkcs1 }, T0);
    const stored = await env.certificates.readCa('cluster', 1);
    expect(stored?.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(createPrivateKey(stored?.privateKeyPem ?? '').equals(createPrivateKey(pkcs1))).toBe(true);
    await tick(deps, { now: T0 + HOUR, owner: 'first', mode: 'scan' });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([1, 1, 1, 1, 1, 1]);
    expect(await failedHandshakes(env, config, T0 + HOUR)).toEqual([]);
  });
});
