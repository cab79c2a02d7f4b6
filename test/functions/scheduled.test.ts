import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { parseConfig } from '../../lib/config/index.js';
import { fleetConfig } from '../support/fleet.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { captureOutput, fixture, lambdaContext, startHarness, type Harness, like } from './support.js';

let h: Harness | undefined;
let output: ReturnType<typeof captureOutput>;
beforeEach(() => {
  output = captureOutput();
});
afterEach(async () => {
  output.restore();
  await h?.stop();
  h = undefined;
});

const twoAuthorities = parseConfig({
  authorities: [{ name: 'cluster', caKeyStore: 'secret' }, { name: 'etcd', caKeyStore: 'secret' }],
  leaves: [
    { authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 7 },
    { authority: 'etcd', id: 'etcd-0', subject: 'CN=etcd-0', usage: 'both', lifetimeDays: 7 },
  ],
});

describe('the scan and advance functions, with the v1 event fixtures', () => {
  it('bootstraps with a reconcile, renews what is due on the hourly scan, and reports days to the earliest expiry', async () => {
    h = await startHarness(fleetConfig({ leaves: 3, caKeyStore: 'secret' }), T0);
    const first = await h.scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
    expect(first).toMatchObject({ ok: true, kind: 'reconcile', authorities: [{ authority: 'cluster', phase: 'Stable', renewed: 3, daysToEarliestExpiry: 7 }] });
    h.clock.advance(6 * DAY);
    const due = await h.scan(fixture('scan.hourly.v1.json'), lambdaContext('certrotate-scan'));
    expect(due).toMatchObject({ ok: true, kind: 'scan', authorities: [{ renewed: 1, daysToEarliestExpiry: like.number() }] });
    expect(output.text()).toMatch(/"LeavesRenewed":1/);
  });

  it.each([
    ['scan', 'scan.bad.mode.v1.json', 'event.mode: expected one of scan, reconcile, got the string "full"'],
    ['scan', { mode: 'Scan' }, 'event.mode: expected one of scan, reconcile, got the string "Scan"'],
    ['scan', { version: '0', id: 'e1', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }, 'set the schedule\'s input to {"mode":"scan"}'],
    ['advance', 'advance.bad.unknown-key.v1.json', 'event.mode: unknown key'],
  ] as const)('fails the %s function on a malformed event %j (a function error, counted) and runs nothing', async (fn, event, message) => {
    h = await startHarness(fleetConfig({ leaves: 1, caKeyStore: 'secret' }), T0);
    const input = typeof event === 'string' ? fixture(event) : event;
    await expect(h[fn](input, lambdaContext(`certrotate-${fn}`))).rejects.toThrow(message);
    expect(output.text()).toMatch(/"Failures":1/);
    expect(await h.env.state.readState('cluster')).toBeUndefined();
  });

  it('advance bootstraps new authorities, leaves Stable ones alone, and defers what does not fit in its time budget', async () => {
    h = await startHarness(twoAuthorities, T0);
    const first = await h.advance(fixture('advance.v1.json'), lambdaContext('certrotate-advance'));
    expect(first).toMatchObject({ ok: true, authorities: [{ authority: 'cluster', phase: 'Stable' }, { authority: 'etcd', phase: 'Stable' }], deferred: [] });
    h.clock.advance(5 * 60_000);
    expect(await h.advance(fixture('advance.v1.json'), lambdaContext('certrotate-advance'))).toMatchObject({ ok: true, authorities: [] });
    // 30 s left, under the 60 s margin: nothing is started.
    const late = await h.advance(fixture('advance.v1.json'), lambdaContext('certrotate-advance', 30_000));
    expect(late).toMatchObject({ ok: true, authorities: [], deferred: ['cluster', 'etcd'] });
  });

  it('keeps going when one authority fails, then fails the invocation so Lambda retries and alarms', async () => {
    h = await startHarness(twoAuthorities, T0);
    const store = h.deps.certificates;
    const deps = { ...h.deps, certificates: { ...store, listCaGenerations: (authority: string) => (authority === 'cluster' ? Promise.reject(new Error('boom')) : store.listCaGenerations(authority)) } };
    const { createHandler } = await import('../../functions/scan.js');
    const scan = createHandler({ clock: h.clock, deps: () => deps });
    await expect(scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'))).rejects.toThrow(/reconcile: 1 of 2 authorities failed \(cluster\)/);
    expect((await h.env.state.readState('etcd'))?.state.generation).toBe(1);
    const metrics = output.lines().filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && '_aws' in line);
    expect(metrics).toEqual(like.arrayContaining([like.objectContaining({ authority: 'cluster', Failures: 1 }), like.objectContaining({ authority: 'etcd', Failures: 0 })]));
    expect(metrics.filter((line) => !('authority' in line))).toEqual([like.objectContaining({ Failures: 1 })]);
    // The failed authority was not looked at: no phase age or lagging count stands in for it.
    const cluster = metrics.find((line) => line.authority === 'cluster');
    expect(cluster).not.toHaveProperty('RotationPhaseAgeHours');
    expect(cluster).not.toHaveProperty('ConsumersLagging');
  });

  it('counts the leaves it renewed in a run whose rotation step then failed (CA 2 deleted mid-rotation)', async () => {
    h = await startHarness(fleetConfig({ leaves: 3, caKeyStore: 'secret' }), T0);
    await h.scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
    await h.command({ action: 'rotate-ca', authority: 'cluster', requestId: 'r-1', reason: 'planned' }, lambdaContext('certrotate-command'));
    await h.advance({}, lambdaContext('certrotate-advance'));
    expect((await h.env.state.readState('cluster'))?.state.phase).toBe('TrustExpanded');
    await h.env.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: h.env.secrets.caSecretName('cluster', 2), RecoveryWindowInDays: 7 }));
    h.clock.advance(6 * DAY + 20 * HOUR);
    output.restore();
    output = captureOutput();
    await expect(h.scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'))).rejects.toThrow(/1 of 1 authorities failed/);
    const cluster = output.lines().find((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && '_aws' in line && (line as Record<string, unknown>).authority === 'cluster');
    expect(cluster).toMatchObject({ Failures: 1 });
    expect(cluster?.LeavesRenewed).toBeGreaterThan(0);
  });

  it('publishes no phase age or lagging count for an authority another run is working on: the stuck-rotation alarm keeps its data', async () => {
    h = await startHarness(twoAuthorities, T0);
    await h.scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
    await h.command({ action: 'rotate-ca', authority: 'cluster', requestId: 'r-1', reason: 'planned' }, lambdaContext('certrotate-command'));
    h.clock.advance(DAY);
    await h.env.state.acquireLease('cluster', 'another-run', h.clock.now(), 60_000);
    output.restore();
    output = captureOutput();
    const response = await h.advance({}, lambdaContext('certrotate-advance'));
    expect(response).toMatchObject({ ok: true, authorities: [{ authority: 'cluster', skipped: like.string() }] });
    const metrics = output.lines().filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && '_aws' in line);
    const cluster = metrics.find((line) => line.authority === 'cluster');
    expect(cluster).toMatchObject({ Failures: 0 });
    expect(cluster).not.toHaveProperty('RotationPhaseAgeHours');
    expect(cluster).not.toHaveProperty('ConsumersLagging');
  });
});
