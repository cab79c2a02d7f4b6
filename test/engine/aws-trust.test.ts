import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { awsTrustConsumers } from '../../lib/consumers/aws-trust.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { generateCa } from '../../lib/pki/index.js';
import { AwsTrustSite, CERTIFICATE_ARN, MINUTE, awsTrustConfig } from '../support/aws-trust.js';
import { T0 } from '../support/pki.js';

let site: AwsTrustSite | undefined;
afterEach(async () => {
  await site?.stop();
  site = undefined;
});

async function start(propagationMs: number, options: Parameters<typeof AwsTrustSite.start>[1] = {}): Promise<AwsTrustSite> {
  site = await AwsTrustSite.start(propagationMs, options);
  return site;
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

describe('tick with ELBv2 trust store, API Gateway domain and ACM certificate consumers (local endpoints)', () => {
  it('bootstraps every target, then rotates them in step: [1] -> [1 2] -> leaf from 2 in ACM -> [2]', async () => {
    const at = await start(0);
    const { local, aws, deps } = at;
    const [boot] = await tick(deps, { now: at.now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    expect(boot?.state?.phase).toBe('Stable');
    at.now += MINUTE;
    const [settled] = await tick(deps, { now: at.now, owner: 'settle', mode: 'reconcile', authorities: ['cluster'] });
    if (settled === undefined) throw new Error('no report');
    // 1 bundle secret + 2 leaf secrets + trust store + domain + ACM copy of web.
    expect(settled.consumers).toMatchObject({ total: 6, holding: 6, laggards: [] });
    expect(await at.served()).toEqual({ trustStore: [1], domain: [1], acmIsWebLeaf: true });

    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    const seen: string[] = [];
    for (let i = 0; i < 40 && seen.at(-1) !== 'Stable'; i++) {
      at.now += 15 * MINUTE;
      const report = await at.run(`t${i}`);
      seen.push(...report.transitions.map((t) => t.to));
      const served = await at.served();
      if (report.state?.phase === 'LeavesMigrated') expect([served.trustStore, served.domain]).toEqual([[1, 2], [1, 2]]);
    }
    expect(seen).toContain('LeavesMigrated');
    expect(seen.at(-1)).toBe('Stable');
    expect(await at.served()).toEqual({ trustStore: [2], domain: [2], acmIsWebLeaf: true });
    const acm = aws.acm.served(CERTIFICATE_ARN);
    expect(await at.generationsOf(acm?.chain)).toEqual([2]);
  });

  it('reads the leaf ACM holds a copy of once per scan, for the read-back and the repair of a copy replaced by hand', async () => {
    const at = await start(0);
    await at.run('boot', { mode: 'reconcile' });
    at.now += MINUTE;
    await at.run('settle', { mode: 'reconcile' });
    const real = at.deps.certificates;
    const reads: string[] = [];
    const counted = new Proxy(real, {
      get(target, property) {
        if (property === 'readLeaves') {
          return (authority: string, ids: readonly string[]) => {
            reads.push(...ids);
            return target.readLeaves(authority, ids);
          };
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const scan = async (owner: string) => {
      at.now += MINUTE;
      reads.length = 0;
      const [report] = await tick({ ...at.deps, certificates: counted }, { now: at.now, owner, mode: 'scan', authorities: ['cluster'] });
      return report;
    };
    expect((await scan('quiet'))?.consumers.laggards).toEqual([]);
    expect(reads).toEqual(['web']);
    // Someone imports another certificate onto the ARN: the next scan puts the leaf back, still with one read.
    const stranger = await generateCa({ authority: 'stranger', generation: 1, now: T0 - 60 * MINUTE, lifetimeMs: 400 * 24 * 60 * MINUTE });
    const { sdk, client } = await at.aws.adapters.clients.acm(at.aws.region);
    const encoder = new TextEncoder();
    await client.send(new sdk.ImportCertificateCommand({ CertificateArn: CERTIFICATE_ARN, Certificate: encoder.encode(stranger.certificatePem), PrivateKey: encoder.encode(stranger.privateKeyPem ?? '') }));
    expect((await at.served()).acmIsWebLeaf).toBe(false);
    await scan('repair');
    expect(reads).toEqual(['web']);
    expect((await at.served()).acmIsWebLeaf).toBe(true);
  });

  it('passes every gate when ELBv2 and ACM hand the PEM back re-encoded (reordered, re-wrapped, CRLF): certificates are compared, not bytes', async () => {
    const at = await start(0, { encodePem: reencoded });
    const { local, deps } = at;
    await tick(deps, { now: at.now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    at.now += MINUTE;
    const [settled] = await tick(deps, { now: at.now, owner: 'settle', mode: 'reconcile', authorities: ['cluster'] });
    expect(settled?.consumers).toMatchObject({ total: 6, holding: 6, laggards: [] });
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    const seen: string[] = [];
    for (let i = 0; i < 40 && seen.at(-1) !== 'Stable'; i++) {
      at.now += 15 * MINUTE;
      seen.push(...(await at.run(`t${i}`)).transitions.map((t) => t.to));
    }
    expect(seen).toEqual(expect.arrayContaining(['TrustExpanded', 'LeavesMigrated']));
    expect(seen.at(-1)).toBe('Stable');
    expect(await at.served()).toEqual({ trustStore: [2], domain: [2], acmIsWebLeaf: true });
  });

  it('holds the rotation in TrustExpanded while the trust store serves a foreign CA besides [1 2], and completes once it is gone', async () => {
    const foreign = (await generateCa({ authority: 'stranger', generation: 1, now: T0 - 60 * MINUTE, lifetimeMs: 400 * 24 * 60 * MINUTE })).certificatePem;
    const at = await start(0, { encodePem: reencoded });
    const { local, aws, deps } = at;
    await tick(deps, { now: at.now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    aws.elbv2.setBundleEncoding((pem) => reencoded(pem) + '\r\n' + foreign);
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    let report: AuthorityReport | undefined;
    for (let i = 0; i < 12; i++) {
      at.now += 30 * MINUTE;
      report = await at.run(`f${i}`);
    }
    expect(report?.state?.phase).toBe('TrustExpanded');
    // Every tick republishes it (ModifyTrustStore again): the gate waits on what it reads back.
    expect(aws.elbv2.calls()['ModifyTrustStore']).toBeGreaterThan(10);
    aws.elbv2.setBundleEncoding(reencoded);
    for (let i = 0; i < 40 && report?.state?.phase !== 'Stable'; i++) {
      at.now += 15 * MINUTE;
      report = await at.run(`g${i}`);
    }
    expect(report?.state?.phase).toBe('Stable');
  });

  it('creates the ACM certificate on the first run (createCertificate), names its ARN, and re-imports onto that one certificate through a rotation', async () => {
    const at = await start(0, { cfg: awsTrustConfig({ createCertificate: 'web-listener' }) });
    const { local, aws, deps, cfg } = at;
    await tick(deps, { now: at.now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    const [created] = aws.acm.arns();
    expect(aws.acm.arns()).toEqual([created]);
    at.now += MINUTE;
    const [settled] = await tick(deps, { now: at.now, owner: 'settle', mode: 'reconcile', authorities: ['cluster'] });
    expect(settled?.consumers).toMatchObject({ total: 6, holding: 6, laggards: [] });
    const authority = cfg.authorities.find((candidate) => candidate.name === 'cluster');
    if (authority === undefined || created === undefined) throw new Error('no cluster authority or certificate');
    const [consumer] = awsTrustConsumers(aws.adapters)(authority, { store: local.certificates, reads: { wholeLeaf: () => undefined } as never }).filter((c) => c.leaf === 'web');
    expect(consumer?.name).toBe('ACM certificate "web-listener" (us-east-1, not created yet: imported on first publish) serving leaf web');
    await consumer?.readBack();
    expect(consumer?.name).toBe(`ACM certificate ${created.split('/')[1] ?? ''} (us-east-1, created as "web-listener") serving leaf web`);
    expect(consumer?.location).toEqual({ region: 'us-east-1', certificateArn: created, createCertificate: 'web-listener' });
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    let phase: string | undefined;
    for (let i = 0; i < 40 && phase !== 'Stable'; i++) {
      at.now += 15 * MINUTE;
      phase = (await at.run(`t${i}`)).state?.phase;
    }
    expect(phase).toBe('Stable');
    expect(aws.acm.arns()).toEqual([created]);
    expect(await at.generationsOf(aws.acm.served(created)?.chain)).toEqual([2]);
  });


  it('leaves TrustExpanded only once the trust store serves [1 2], three hours after the change, not after the one-hour soak', async () => {
    const at = await start(0);
    const { local, aws, deps } = at;
    await tick(deps, { now: at.now, owner: 'boot', mode: 'reconcile', authorities: ['cluster'] });
    await at.served();
    aws.elbv2.setPropagationMs(3 * 60 * MINUTE);
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    at.now += MINUTE;
    const published = at.now;
    expect((await at.run('a')).state?.phase).toBe('TrustExpanded');
    let left: number | undefined;
    for (let i = 0; i < 12 && left === undefined; i++) {
      at.now += 30 * MINUTE;
      const report = await at.run(`w${i}`);
      if (report.state?.phase !== 'TrustExpanded') left = at.now;
      else if (at.now < published + 3 * 60 * MINUTE) expect((await at.served()).trustStore).toEqual([1]);
    }
    expect(left).toBeDefined();
    expect((left ?? 0) - published).toBeGreaterThanOrEqual(3 * 60 * MINUTE);
    expect((await at.served()).trustStore).toEqual([1, 2]);
  });

  it('with the trust store unreachable for a day, holds only its authority in TrustExpanded and resumes when it returns', async () => {
    const at = await start(0);
    const { local, aws, deps } = at;
    await tick(deps, { now: at.now, owner: 'boot', mode: 'reconcile' });
    await at.served();
    aws.down('clients');
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    await runCommand(local.state, 'etcd', { kind: 'rotate-ca', requestId: 'r2', reason: 'test', emergency: false }, at.now);
    const day = at.now + 24 * 60 * MINUTE;
    let etcdDone = false;
    while (at.now < day) {
      at.now += 60 * MINUTE;
      const reports = await tick(deps, { now: at.now, owner: `d${at.now}`, mode: 'scan' });
      const cluster = reports.find((r) => r.authority === 'cluster');
      expect(cluster?.state?.phase).toBe('TrustExpanded');
      if (reports.find((r) => r.authority === 'etcd')?.state?.phase === 'Stable') etcdDone = true;
    }
    expect(etcdDone).toBe(true);
    const held = await at.run('held');
    expect(held.consumers.laggards).toEqual(['ELBv2 trust store clients (us-east-1, s3://pki-bundles/cluster/alb.pem) unreachable (HTTP 503)']);
    // The listener kept verifying against [1] all day: old leaves kept working.
    expect((await at.served()).trustStore).toEqual([1]);
    aws.up('clients');
    const phases: string[] = [];
    for (let i = 0; i < 40 && phases.at(-1) !== 'Stable'; i++) {
      at.now += 15 * MINUTE;
      phases.push(...(await at.run(`u${i}`)).transitions.map((t) => t.to));
    }
    expect(phases.at(-1)).toBe('Stable');
    expect((await at.served()).trustStore).toEqual([2]);
  });
});
