import { afterEach, describe, expect, it } from 'vitest';
import { DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { generateCa, parseCertificate } from '../../lib/pki/index.js';
import { runCommand } from '../../lib/engine/commands.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { CommandRefusedError } from '../../lib/errors.js';
import { DynamoDbRequestLedger } from '../../lib/aws/dynamodb-request-ledger.js';
import { renewLeaves } from '../../lib/engine/renew.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { bundleGenerations, fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';

const MINUTE = 60_000;
let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

async function bootstrap(deps: EngineDeps, now: number): Promise<AuthorityReport[]> {
  return tick(deps, { now, owner: 'bootstrap', mode: 'reconcile' });
}

describe('tick against the local endpoints', () => {
  it('bootstraps CA 1, issues every leaf, then carries a 50-leaf authority through a forced rotation with no broken pair at any tick', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 50 });
    const events: string[] = [];
    const deps = env.deps(config, { emit: (event) => events.push(event.type) });
    const check = invariantChecker(env, config);

    const [first] = await bootstrap(deps, T0);
    expect(first?.state).toMatchObject({ phase: 'Stable', generation: 1 });
    expect(first?.renewed).toHaveLength(50);
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual(Array(50).fill(1));
    expect(await check('cluster', T0)).toEqual([]);

    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'req-1', reason: 'planned', emergency: false }, T0 + HOUR);
    let now = T0 + HOUR;
    const phases: string[] = [];
    for (let i = 0; i < 200; i++) {
      now += 5 * MINUTE;
      const [report] = await tick(deps, { now, owner: `tick-${i}`, mode: 'scan' });
      for (const transition of report?.transitions ?? []) phases.push(`${transition.to}${transition.to === 'LeavesMigrated' && transition.from === 'LeavesMigrated' ? ' (contract)' : ''}`);
      expect(await check('cluster', now)).toEqual([]);
      if (report?.state?.phase === 'Stable' && report.state.generation === 2) break;
    }
    expect(phases).toEqual(['TrustExpanded', 'LeavesMigrated', 'LeavesMigrated (contract)', 'Stable']);
    expect(await env.certificates.listCaGenerations('cluster')).toEqual([1, 2]);
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual(Array(50).fill(2));
    expect(await bundleGenerations(env, 'cluster')).toEqual([2]);
    const record = await env.state.readState('cluster');
    expect(record?.state.retired).toEqual([1]);
    expect(events.filter((type) => type === 'ca-generated')).toHaveLength(2);
    expect(events).toContain('ca-retired');
  });

  it('renews a leaf a day (minus jitter) before it expires, reading only the due inventory rows', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 6 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    // svc-0 and svc-3 live 7 days: due within [T0+6d-1h, T0+6d].
    const [early] = await tick(deps, { now: T0 + 6 * DAY - HOUR - MINUTE, owner: 'a', mode: 'scan' });
    expect(early?.renewed).toEqual([]);
    env.secretsManager.resetCalls();
    const [due] = await tick(deps, { now: T0 + 6 * DAY, owner: 'b', mode: 'scan' });
    expect(due?.renewed.map((leaf) => leaf.id).sort()).toEqual(['svc-0', 'svc-3']);
    expect(due?.renewed.every((leaf) => leaf.reason === 'expiring')).toBe(true);
    // Two due leaves: one batch read, one write each, plus the CA reads; never a read of every leaf.
    expect(env.secretsManager.calls()).toMatchObject({ BatchGetSecretValue: 1, PutSecretValue: 2 });
    const { leaves } = await env.certificates.readLeaves('cluster', ['svc-0']);
    expect(leaves[0]?.certificatePem).toBeDefined();
  });

  it('finds, at the next hourly scan, a leaf whose secret was written by a run that died before indexing it', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 3 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    // svc-1 is gone: no secret, no inventory row. The next reconcile issues it, and dies writing rows.
    await env.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: 'certrotate/cluster/leaf/svc-1', ForceDeleteWithoutRecovery: true }));
    await env.state.deleteLeafRow('cluster', 'svc-1');
    // The run dies when it is about to write svc-1's row of facts (after its secret).
    env.clients.dynamodb.middlewareStack.add(
      (next) => async (args) => {
        const requests = (args.input as { RequestItems?: Record<string, { PutRequest?: { Item?: Record<string, { S?: string }> } }[]> }).RequestItems;
        const items = Object.values(requests ?? {}).flat().map((request) => request.PutRequest?.Item);
        if (items.some((item) => item?.id?.S === 'svc-1' && item.fingerprintSha256?.S !== '')) throw new Error('the run died before indexing what it wrote');
        return next(args);
      },
      { step: 'initialize', name: 'dieBeforeIndexingSvc1' },
    );
    await expect(tick(deps, { now: T0 + HOUR, owner: 'dies', mode: 'reconcile' })).rejects.toThrow(/died/);
    env.clients.dynamodb.middlewareStack.remove('dieBeforeIndexingSvc1');
    const { leaves } = await env.certificates.readLeaves('cluster', ['svc-1']);
    const written = leaves[0];
    if (written === undefined) throw new Error('the dead run should have written the leaf secret');

    const [scan] = await tick(deps, { now: T0 + 2 * HOUR, owner: 'scan', mode: 'scan' });
    expect(scan?.renewed).toEqual([]);
    const row = (await env.state.readAllLeafRows('cluster')).find((candidate) => candidate.id === 'svc-1');
    expect(row).toMatchObject({ fingerprintSha256: parseCertificate(written.certificatePem).fingerprintSha256, generation: 1 });
    expect(row?.renewAt).toBeGreaterThan(T0 + 2 * DAY);
    // Put right: the next scan reads no leaf at all.
    env.secretsManager.resetCalls();
    await tick(deps, { now: T0 + 3 * HOUR, owner: 'scan-2', mode: 'scan' });
    expect(env.secretsManager.calls().BatchGetSecretValue ?? 0).toBe(0);
  });

  it('reissues a leaf whose secret was corrupted by hand, and one bad secret does not stop the others', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 5 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    const { leaves } = await env.certificates.readLeaves('cluster', ['svc-0', 'svc-1']);
    const [zero, one] = leaves;
    if (zero === undefined || one === undefined) throw new Error('leaves were not issued');
    // svc-1 gets svc-0's certificate with its own key (a mismatch); svc-2 gets text that is not JSON.
    await env.certificates.writeLeaf({ ...one, certificatePem: zero.certificatePem });
    await env.clients.secretsManager.send(new PutSecretValueCommand({ SecretId: 'certrotate/cluster/leaf/svc-2', SecretString: 'not json' }));
    const problems: unknown[] = [];
    const [report] = await tick(env.deps(config, { emit: (event) => event.type === 'leaf-problem' && problems.push(event.detail) }), { now: T0 + HOUR, owner: 'r', mode: 'reconcile' });
    expect(report?.renewed).toEqual(
      expect.arrayContaining([
        { id: 'svc-2', reason: 'unparsable' },
        { id: 'svc-1', reason: 'key-mismatch' },
      ]),
    );
    expect(report?.renewed).toHaveLength(2);
    expect(problems).toEqual(expect.arrayContaining([{ leaf: 'svc-2', problem: 'unparsable' }, { leaf: 'svc-1', problem: 'key-mismatch' }]));
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([1, 1, 1, 1, 1]);
    expect(await invariantChecker(env, config)('cluster', T0 + HOUR)).toEqual([]);
  });

  it('removes a CA added by hand to the bundle secret or to a leaf\'s ca.crt, and counts those consumers as lagging until then', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 3 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    const foreign = await generateCa({ authority: 'intruder', generation: 1, now: T0, lifetimeMs: 365 * DAY });
    const bundle = await env.certificates.readBundle('cluster');
    const { leaves } = await env.certificates.readLeaves('cluster', ['svc-1']);
    const [one] = leaves;
    if (bundle === undefined || one === undefined) throw new Error('bootstrap wrote no bundle or leaf');
    await env.certificates.writeBundle('cluster', bundle + foreign.certificatePem);
    await env.certificates.writeLeaf({ ...one, bundlePem: one.bundlePem + foreign.certificatePem }, one.versionId);

    const [report] = await tick(deps, { now: T0 + DAY, owner: 'reconcile', mode: 'reconcile' });
    expect(report?.status).toMatch(/consumers \d+\/\d+ hold \[1\]/);
    expect(await env.certificates.readBundle('cluster')).toBe(bundle);
    const { leaves: after } = await env.certificates.readLeaves('cluster', config.leaves.map((leaf) => leaf.id));
    expect(after.filter((leaf) => leaf.bundlePem.includes(foreign.certificatePem.trim()))).toEqual([]);
    expect(await invariantChecker(env, config)('cluster', T0 + DAY)).toEqual([]);
  });

  it('publishes nothing and reissues nothing when a CA secret is replaced by another CA: the leaves in the field stay trusted', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 4 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    const bundleBefore = await env.certificates.readBundle('cluster');
    const impostor = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 180 * DAY });
    await env.clients.secretsManager.send(
      new PutSecretValueCommand({ SecretId: env.secrets.caSecretName('cluster', 1), SecretString: JSON.stringify({ 'ca.crt': impostor.certificatePem, 'ca.key': impostor.privateKeyPem }) }),
    );
    await expect(tick(deps, { now: T0 + HOUR, owner: 'reconcile', mode: 'reconcile' })).rejects.toThrow(/would stop trusting leaves svc-0, svc-1, svc-2, svc-3.*restore the CA secret/);
    expect(await env.certificates.readBundle('cluster')).toBe(bundleBefore);
    const { leaves } = await env.certificates.readLeaves('cluster', config.leaves.map((leaf) => leaf.id));
    expect(leaves.map((leaf) => leaf.bundlePem)).toEqual(Array(4).fill(bundleBefore));
    expect(leaves.every((leaf) => parseCertificate(leaf.certificatePem).issuer === parseCertificate(bundleBefore ?? '').subject)).toBe(true);
    // The hourly scan does not reissue them from the impostor either.
    await tick(deps, { now: T0 + 2 * HOUR, owner: 'scan', mode: 'scan' }).catch(() => undefined);
    const { leaves: after } = await env.certificates.readLeaves('cluster', config.leaves.map((leaf) => leaf.id));
    expect(after.map((leaf) => leaf.certificatePem)).toEqual(leaves.map((leaf) => leaf.certificatePem));
  });

  it('reissues nothing from a CA the published bundle does not trust, after the state is restored from an old backup', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 4 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    const backup = await env.state.readState('cluster');
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'r-2', reason: 'planned', emergency: true }, T0 + HOUR);
    let now = T0 + HOUR;
    for (let i = 0; i < 20; i++) {
      now += 5 * MINUTE;
      const [report] = await tick(deps, { now, owner: `rotate-${i}`, mode: 'scan' });
      if (report?.state?.phase === 'Stable' && report.state.generation === 2) break;
    }
    const current = await env.state.readState('cluster');
    if (backup === undefined || current === undefined) throw new Error('no state');
    await env.state.writeState('cluster', backup.state, current.version);
    now += HOUR;
    const problems: unknown[] = [];
    await tick(env.deps(config, { emit: (event) => event.type === 'leaf-problem' && problems.push(event.detail) }), { now, owner: 'after-restore', mode: 'reconcile' });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([2, 2, 2, 2]);
    expect(await invariantChecker(env, config)('cluster', now)).toEqual([]);
    expect(problems).toContainEqual({ leaf: 'svc-0', problem: 'untrusted-issuer; not reissued: the published bundle does not trust CA 1' });
    // Nor is a missing leaf issued from CA 1, by a run or by the renew command.
    await env.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: 'certrotate/cluster/leaf/svc-0', ForceDeleteWithoutRecovery: true }));
    await tick(deps, { now: now + HOUR, owner: 'missing-leaf', mode: 'reconcile' });
    expect((await env.certificates.readLeaves('cluster', ['svc-0'])).leaves).toEqual([]);
    const ledger = new DynamoDbRequestLedger({ client: env.clients.dynamodb, tableName: env.tableName });
    const authority = config.authorities[0];
    if (authority === undefined) throw new Error('no authority');
    await expect(renewLeaves(deps, ledger, { authority, requestId: 'renew-all', owner: 'operator' }, now + 2 * HOUR)).rejects.toThrow(/does not trust CA 1.*Nothing was reissued/);
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([2, 2, 2]);
  });

  it.each([
    ['a rotation paused over a freeze until CA 1 expired, then resumed', true],
    ['no run for 200 days after bootstrap, past CA 1\'s expiry', false],
  ])('recovers to Stable on CA 2 after %s', async (_, pauseOverFreeze) => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 3 });
    const deps = env.deps(config);
    await bootstrap(deps, T0);
    let now = T0 + 200 * DAY;
    if (pauseOverFreeze) {
      now = T0 + 150 * DAY;
      for (let i = 0; i < 10; i++, now += 5 * MINUTE) {
        const [report] = await tick(deps, { now, owner: `before-${i}`, mode: 'scan' });
        if (report?.state?.phase === 'TrustExpanded') break;
      }
      await runCommand(env.state, 'cluster', { kind: 'pause', requestId: 'freeze', reason: 'change freeze' }, now);
      now = T0 + 182 * DAY;
      await runCommand(env.state, 'cluster', { kind: 'resume', requestId: 'thaw' }, now);
    }
    const errors: string[] = [];
    for (let i = 0; i < 30; i++, now += 5 * MINUTE) {
      try {
        const [report] = await tick(deps, { now, owner: `after-${i}`, mode: i % 6 === 0 ? 'reconcile' : 'scan' });
        if (report?.state?.phase === 'Stable' && report.state.generation === 2 && report.state.retiring === undefined) break;
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    }
    expect(errors).toEqual([]);
    expect((await env.state.readState('cluster'))?.state).toMatchObject({ phase: 'Stable', generation: 2, retired: [1] });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([2, 2, 2]);
    expect(await bundleGenerations(env, 'cluster')).toEqual([2]);
    expect(await invariantChecker(env, config)('cluster', now)).toEqual([]);
  });

  it('performs exactly one rotation step when ten ticks race on a forced rotation', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 10 });
    let generated = 0;
    const deps = env.deps(config, { emit: (event) => { if (event.type === 'ca-generated') generated++; } });
    await bootstrap(deps, T0);
    const commands = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => runCommand(env?.state ?? deps.state, 'cluster', { kind: 'rotate-ca', requestId: `req-${i}`, reason: 'race', emergency: false }, T0 + HOUR)),
    );
    expect(commands.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of commands) {
      if (result.status === 'rejected') {
        expect(result.reason).toBeInstanceOf(CommandRefusedError);
        expect(String(result.reason)).toMatch(/rotation already in progress at phase Prepared/);
      }
    }
    const reports = await Promise.all(Array.from({ length: 10 }, (_, i) => tick(deps, { now: T0 + 2 * HOUR, owner: `racer-${i}`, mode: 'scan' })));
    expect(reports.flat().filter((report) => report.skipped === undefined)).toHaveLength(1);
    expect(generated).toBe(2);
    expect(await env.certificates.listCaGenerations('cluster')).toEqual([1, 2]);
  });
});

describe('a tick with a time budget', () => {
  it('stops a long step part-way without recording it, and the next run finishes it', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 30 });
    const deps = env.deps(config);
    await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'budget', reason: 'budget test', emergency: true }, T0 + HOUR);
    // Emergency: no soaks, so one tick would run the whole rotation; allow only ten writes.
    let writes = 0;
    env.clients.secretsManagerWrites.middlewareStack.add((next) => async (args) => { writes++; return next(args); }, { step: 'initialize' });
    const [cut] = await tick(deps, { now: T0 + 2 * HOUR, owner: 'short', mode: 'scan', outOfTime: () => writes >= 10 });
    const recorded = await env.state.readState('cluster');
    expect(recorded?.state.phase).not.toBe('Stable');
    expect(cut?.steps.at(-1)?.kind).not.toBe('none');
    const [rest] = await tick(deps, { now: T0 + 2 * HOUR + 5 * MINUTE, owner: 'rest', mode: 'scan' });
    expect(rest?.state).toMatchObject({ phase: 'Stable', generation: 2 });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual(Array(30).fill(2));
    expect(await invariantChecker(env, config)('cluster', T0 + 2 * HOUR + 5 * MINUTE)).toEqual([]);
  });

  it('reports only the leaves it renewed when the budget runs out part-way; the next run renews the rest', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 8 });
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = { ...env.deps(config, { emit: (event) => events.push(event) }), writeConcurrency: 1 };
    await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    const due = T0 + 40 * DAY;
    const before = await leafSerials(env, config);
    const real = deps.certificates;
    let writes = 0;
    const counting = { ...deps, certificates: Object.assign(Object.create(real) as typeof real, { writeLeaf: (...args: Parameters<typeof real.writeLeaf>) => { writes++; return real.writeLeaf(...args); } }) };
    const [cut] = await tick(counting, { now: due, owner: 'short', mode: 'scan', outOfTime: () => writes >= 3 });
    const changed = [...(await leafSerials(env, config))].filter(([id, serial]) => before.get(id) !== serial).map(([id]) => id);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.length).toBeLessThan(8);
    expect(cut?.renewed.map((leaf) => leaf.id).sort()).toEqual(changed.sort());
    expect(events.filter((event) => event.type === 'leaves-renewed').map((event) => event.detail.count)).toEqual([8, changed.length]);
    const [rest] = await tick(deps, { now: due + HOUR, owner: 'rest', mode: 'scan' });
    expect(rest?.renewed).toHaveLength(8 - changed.length);
  });
});

/** Each leaf's certificate serial as stored: a renewal changes it. */
async function leafSerials(local: LocalEnvironment, config: ReturnType<typeof fleetConfig>): Promise<Map<string, string>> {
  const { leaves } = await local.certificates.readLeaves('cluster', config.leaves.map((leaf) => leaf.id));
  return new Map(leaves.map((leaf) => [leaf.id, parseCertificate(leaf.certificatePem).serialHex]));
}
