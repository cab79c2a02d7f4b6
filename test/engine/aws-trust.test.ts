import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { tick } from '../../lib/engine/tick.js';
import { AwsTrustSite, CERTIFICATE_ARN, MINUTE } from '../support/aws-trust.js';

let site: AwsTrustSite | undefined;
afterEach(async () => {
  await site?.stop();
  site = undefined;
});

async function start(propagationMs: number): Promise<AwsTrustSite> {
  site = await AwsTrustSite.start(propagationMs);
  return site;
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
