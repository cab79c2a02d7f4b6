import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { awsTrustConsumers } from '../../lib/consumers/aws-trust.js';
import { runCommand } from '../../lib/engine/commands.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { LocalAwsTrust } from '../../lib/local/aws-trust.js';
import { CaDirectory, generateCa, parseCertificate } from '../../lib/pki/index.js';
import { T0 } from '../support/pki.js';

const MINUTE = 60_000;
const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:000000000000:certificate/12345678-1234-1234-1234-123456789012';

let env: LocalEnvironment | undefined;
let now = T0;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

/** `cluster` has one trust store, one API Gateway domain and one ACM certificate; `etcd` has none. */
function config(acm: Record<string, string> = { certificateArn: CERTIFICATE_ARN }): CertrotateConfig {
  return parseConfig({
    authorities: [
      {
        name: 'cluster',
        caLifetimeDays: 180,
        rotationLeadDays: 30,
        soakHours: { trustExpanded: 1, leavesMigrated: 1 },
        consumers: {
          elbv2TrustStores: [{ region: 'us-east-1', bucket: 'pki-bundles', key: 'cluster/alb.pem', createTrustStore: 'clients' }],
          apiGatewayDomains: [{ region: 'us-east-1', bucket: 'pki-bundles', key: 'cluster/api.pem', domainName: 'api.example.com' }],
          acmCertificates: [{ region: 'us-east-1', leaf: 'web', ...acm }],
        },
      },
      { name: 'etcd', caLifetimeDays: 180, rotationLeadDays: 30, soakHours: { trustExpanded: 1, leavesMigrated: 1 } },
    ],
    leaves: [
      { authority: 'cluster', id: 'web', subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeDays: 30 },
      { authority: 'cluster', id: 'client', subject: 'CN=client', usage: 'client', lifetimeDays: 30 },
      { authority: 'etcd', id: 'etcd-0', subject: 'CN=etcd-0', dnsNames: ['etcd-0.local'], usage: 'both', lifetimeDays: 30 },
    ],
  });
}

async function start(propagationMs: number, encodePem?: (pem: string) => string, cfg = config()): Promise<{ local: LocalEnvironment; aws: LocalAwsTrust; cfg: CertrotateConfig }> {
  now = T0;
  env = await startLocalEnvironment({ awsTrust: { now: () => now, propagationMs, ...(encodePem === undefined ? {} : { encodePem }) } });
  const aws = env.awsTrust;
  if (aws === undefined) throw new Error('no local AWS trust endpoints');
  await aws.provision(cfg);
  return { local: env, aws, cfg };
}

async function generationsOf(local: LocalEnvironment, pem: string | undefined): Promise<number[] | undefined> {
  if (pem === undefined) return undefined;
  const cas = [];
  for (const generation of await local.certificates.listCaGenerations('cluster')) {
    const stored = await local.certificates.readCa('cluster', generation);
    if (stored !== undefined) cas.push({ generation, certificate: parseCertificate(stored.certificatePem) });
  }
  return new CaDirectory(cas).generationsIn(pem);
}

const arns = new Map<LocalAwsTrust, string>();
async function trustStoreArn(aws: LocalAwsTrust): Promise<string> {
  const known = arns.get(aws);
  if (known !== undefined) return known;
  const { sdk, client } = await aws.adapters.clients.elbv2(aws.region);
  const found = await client.send(new sdk.DescribeTrustStoresCommand({ Names: ['clients'] }));
  const arn = found.TrustStores?.[0]?.TrustStoreArn ?? '';
  arns.set(aws, arn);
  return arn;
}

/** What each AWS target serves now, as generations (and the ACM leaf's issuing generation). */
async function served(local: LocalEnvironment, aws: LocalAwsTrust) {
  const acm = aws.acm.served(CERTIFICATE_ARN);
  const { leaves } = await local.certificates.readLeaves('cluster', ['web']);
  return {
    trustStore: await generationsOf(local, aws.elbv2.servedBundle(await trustStoreArn(aws))),
    domain: await generationsOf(local, aws.apiGateway.servedTruststore('api.example.com')?.content),
    acmIsWebLeaf: acm !== undefined && leaves[0] !== undefined && new X509Certificate(acm.certificate).serialNumber === new X509Certificate(leaves[0].certificatePem).serialNumber,
  };
}

/** As a service may hand a PEM back: blocks in reverse order, 76-column lines, CRLF, blank lines between, no trailing newline. */
function reencoded(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks
    .reverse()
    .map((block) => {
      const body = block.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
      return `-----BEGIN CERTIFICATE-----\r\n${(body.match(/.{1,76}/g) ?? []).join('\r\n')}\r\n-----END CERTIFICATE-----`;
    })
    .join('\r\n \r\n');
}

async function run(deps: ReturnType<LocalEnvironment['deps']>, owner: string, authorities?: string[]): Promise<AuthorityReport> {
  const [report] = await tick(deps, { now, owner, mode: 'scan', ...(authorities === undefined ? { authorities: ['cluster'] } : { authorities }) });
  if (report === undefined) throw new Error('no report');
  return report;
}

describe('tick with ELBv2 trust store, API Gateway domain and ACM certificate consumers (local endpoints)', () => {
  it('bootstraps every target, then rotates them in step: [1] -> [1 2] -> leaf from 2 in ACM -> [2]', async () => {
    const { local, aws, cfg } = await start(0);
    const deps = local.deps(cfg);
    const [boot] = await tick(deps, { now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    expect(boot?.state?.phase).toBe('Stable');
    now += MINUTE;
    const [settled] = await tick(deps, { now, owner: 'settle', mode: 'reconcile', authorities: ['cluster'] });
    if (settled === undefined) throw new Error('no report');
    // 1 bundle secret + 2 leaf secrets + trust store + domain + ACM copy of web.
    expect(settled.consumers).toMatchObject({ total: 6, holding: 6, laggards: [] });
    expect(await served(local, aws)).toEqual({ trustStore: [1], domain: [1], acmIsWebLeaf: true });

    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    const seen: string[] = [];
    for (let i = 0; i < 40 && seen.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      const report = await run(deps, `t${i}`);
      seen.push(...report.transitions.map((t) => t.to));
      const at = await served(local, aws);
      if (report.state?.phase === 'LeavesMigrated') expect([at.trustStore, at.domain]).toEqual([[1, 2], [1, 2]]);
    }
    expect(seen).toContain('LeavesMigrated');
    expect(seen.at(-1)).toBe('Stable');
    expect(await served(local, aws)).toEqual({ trustStore: [2], domain: [2], acmIsWebLeaf: true });
    const acm = aws.acm.served(CERTIFICATE_ARN);
    expect(await generationsOf(local, acm?.chain)).toEqual([2]);
  });

  it('passes every gate when ELBv2 and ACM hand the PEM back re-encoded (reordered, re-wrapped, CRLF): certificates are compared, not bytes', async () => {
    const { local, aws, cfg } = await start(0, reencoded);
    const deps = local.deps(cfg);
    await tick(deps, { now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    now += MINUTE;
    const [settled] = await tick(deps, { now, owner: 'settle', mode: 'reconcile', authorities: ['cluster'] });
    expect(settled?.consumers).toMatchObject({ total: 6, holding: 6, laggards: [] });
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    const seen: string[] = [];
    for (let i = 0; i < 40 && seen.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      seen.push(...(await run(deps, `t${i}`)).transitions.map((t) => t.to));
    }
    expect(seen).toEqual(expect.arrayContaining(['TrustExpanded', 'LeavesMigrated']));
    expect(seen.at(-1)).toBe('Stable');
    expect(await served(local, aws)).toEqual({ trustStore: [2], domain: [2], acmIsWebLeaf: true });
  });

  it('holds the rotation in TrustExpanded while the trust store serves a foreign CA besides [1 2], and completes once it is gone', async () => {
    const foreign = (await generateCa({ authority: 'stranger', generation: 1, now: T0 - 60 * MINUTE, lifetimeMs: 400 * 24 * 60 * MINUTE })).certificatePem;
    const { local, aws, cfg } = await start(0, reencoded);
    const deps = local.deps(cfg);
    await tick(deps, { now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    aws.elbv2.setBundleEncoding((pem) => reencoded(pem) + '\r\n' + foreign);
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    let report: AuthorityReport | undefined;
    for (let i = 0; i < 12; i++) {
      now += 30 * MINUTE;
      report = await run(deps, `f${i}`);
    }
    expect(report?.state?.phase).toBe('TrustExpanded');
    // Every tick republishes it (ModifyTrustStore again): the gate waits on what it reads back.
    expect(aws.elbv2.calls()['ModifyTrustStore']).toBeGreaterThan(10);
    aws.elbv2.setBundleEncoding(reencoded);
    for (let i = 0; i < 40 && report?.state?.phase !== 'Stable'; i++) {
      now += 15 * MINUTE;
      report = await run(deps, `g${i}`);
    }
    expect(report?.state?.phase).toBe('Stable');
  });

  it('creates the ACM certificate on the first run (createCertificate), names its ARN, and re-imports onto that one certificate through a rotation', async () => {
    const { local, aws, cfg } = await start(0, undefined, config({ createCertificate: 'web-listener' }));
    const deps = local.deps(cfg);
    await tick(deps, { now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    const [created] = aws.acm.arns();
    expect(aws.acm.arns()).toEqual([created]);
    now += MINUTE;
    const [settled] = await tick(deps, { now, owner: 'settle', mode: 'reconcile', authorities: ['cluster'] });
    expect(settled?.consumers).toMatchObject({ total: 6, holding: 6, laggards: [] });
    const authority = cfg.authorities.find((candidate) => candidate.name === 'cluster');
    if (authority === undefined || created === undefined) throw new Error('no cluster authority or certificate');
    const [consumer] = awsTrustConsumers(aws.adapters)(authority, { store: local.certificates, reads: {} as never }).filter((c) => c.leaf === 'web');
    expect(consumer?.name).toBe('ACM certificate "web-listener" (us-east-1, not created yet: imported on first publish) serving leaf web');
    await consumer?.readBack();
    expect(consumer?.name).toBe(`ACM certificate ${created.split('/')[1] ?? ''} (us-east-1, created as "web-listener") serving leaf web`);
    expect(consumer?.location).toEqual({ region: 'us-east-1', certificateArn: created, createCertificate: 'web-listener' });
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    let phase: string | undefined;
    for (let i = 0; i < 40 && phase !== 'Stable'; i++) {
      now += 15 * MINUTE;
      phase = (await run(deps, `t${i}`)).state?.phase;
    }
    expect(phase).toBe('Stable');
    expect(aws.acm.arns()).toEqual([created]);
    expect(await generationsOf(local, aws.acm.served(created)?.chain)).toEqual([2]);
  });

  it('leaves TrustExpanded only once the trust store serves [1 2], three hours after the change, not after the one-hour soak', async () => {
    const { local, aws, cfg } = await start(0);
    const deps = local.deps(cfg);
    await tick(deps, { now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    await served(local, aws);
    aws.elbv2.setPropagationMs(3 * 60 * MINUTE);
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    now += MINUTE;
    const published = now;
    expect((await run(deps, 'a')).state?.phase).toBe('TrustExpanded');
    let left: number | undefined;
    for (let i = 0; i < 12 && left === undefined; i++) {
      now += 30 * MINUTE;
      const report = await run(deps, `w${i}`);
      if (report.state?.phase !== 'TrustExpanded') left = now;
      else if (now < published + 3 * 60 * MINUTE) expect((await served(local, aws)).trustStore).toEqual([1]);
    }
    expect(left).toBeDefined();
    expect((left ?? 0) - published).toBeGreaterThanOrEqual(3 * 60 * MINUTE);
    expect((await served(local, aws)).trustStore).toEqual([1, 2]);
  });

  it('with the trust store unreachable for a day, holds only its authority in TrustExpanded and resumes when it returns', async () => {
    const { local, aws, cfg } = await start(0);
    const deps = local.deps(cfg);
    await tick(deps, { now, owner: 'boot', mode: 'reconcile' });
    await served(local, aws);
    aws.down('clients');
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    await runCommand(local.state, 'etcd', { kind: 'rotate-ca', requestId: 'r2', reason: 'test', emergency: false }, now);
    const day = now + 24 * 60 * MINUTE;
    let etcdDone = false;
    while (now < day) {
      now += 60 * MINUTE;
      const reports = await tick(deps, { now, owner: `d${now}`, mode: 'scan' });
      const cluster = reports.find((r) => r.authority === 'cluster');
      expect(cluster?.state?.phase).toBe('TrustExpanded');
      if (reports.find((r) => r.authority === 'etcd')?.state?.phase === 'Stable') etcdDone = true;
    }
    expect(etcdDone).toBe(true);
    const held = await run(deps, 'held');
    expect(held.consumers.laggards).toEqual(['ELBv2 trust store clients (us-east-1, s3://pki-bundles/cluster/alb.pem) unreachable (HTTP 503)']);
    // The listener kept verifying against [1] all day: old leaves kept working.
    expect((await served(local, aws)).trustStore).toEqual([1]);
    aws.up('clients');
    const phases: string[] = [];
    for (let i = 0; i < 40 && phases.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      phases.push(...(await run(deps, `u${i}`)).transitions.map((t) => t.to));
    }
    expect(phases.at(-1)).toBe('Stable');
    expect((await served(local, aws)).trustStore).toEqual([2]);
  });
});
