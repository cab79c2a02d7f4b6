import { afterEach, describe, expect, it } from 'vitest';
import { ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { rotationCommand, runCommand } from '../../lib/engine/commands.js';
import { fullHistory } from '../../lib/engine/history.js';
import { DynamoDbRequestLedger } from '../../lib/aws/dynamodb-request-ledger.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { CommandRefusedError, ConflictError, NotFoundError, StoredDataError } from '../../lib/errors.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { StateStore } from '../../lib/ports.js';
import type { RotationCommand, RotationState } from '../../lib/rotation/index.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { bundleGenerations, fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';
import { delegatingStateStore } from '../support/stores.js';

const MINUTE = 60_000;
const AUTHORITY = 'cluster';
/** svc-0 lives 7 days, svc-1 14, svc-2 30 (fleetConfig); soaks are 2 h each. */
const config = fleetConfig({ leaves: 3 });
const SOAK = 2 * HOUR;

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

interface Fleet {
  env: LocalEnvironment;
  deps: EngineDeps;
  clock: { now: number };
  /** Every tick of the test, in order, so a test can see what happened between two points. */
  reports: AuthorityReport[];
  check: (authority: string, now: number) => Promise<string[]>;
}

/** The local environment with CA 1 bootstrapped at T0 and three leaves issued from it. */
async function stableOn1(): Promise<Fleet> {
  env = await startLocalEnvironment();
  const fleet: Fleet = { env, deps: env.deps(config), clock: { now: T0 }, reports: [], check: invariantChecker(env, config) };
  const report = await tickNow(fleet, { mode: 'reconcile' });
  expect(report.state).toMatchObject({ phase: 'Stable', generation: 1 });
  return fleet;
}

/** One tick at the fleet's clock with a new lease owner; the zero-downtime invariant must hold after it. */
async function tickNow(fleet: Fleet, options: { mode?: 'scan' | 'reconcile'; maxSteps?: number; deps?: EngineDeps } = {}): Promise<AuthorityReport> {
  const [report] = await tick(options.deps ?? fleet.deps, {
    now: fleet.clock.now,
    owner: `tick-${fleet.reports.length}`,
    mode: options.mode ?? 'scan',
    ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
  });
  if (report === undefined) throw new Error('the tick reported nothing for the authority');
  fleet.reports.push(report);
  expect(await fleet.check(AUTHORITY, fleet.clock.now), `invariant at ${new Date(fleet.clock.now).toISOString()}`).toEqual([]);
  return report;
}

/** When the next tick runs: when the last wait ends, or five minutes on. */
function nextTickAt(report: AuthorityReport, now: number): number {
  const last = report.steps.at(-1);
  return last?.kind === 'wait' && last.until !== undefined && last.until > now ? last.until : now + 5 * MINUTE;
}

/** Ticks until `done` holds for the recorded state, the clock jumping to each wait's end. */
async function tickUntil(fleet: Fleet, done: (state: RotationState) => boolean, limit = 40): Promise<AuthorityReport> {
  for (let i = 0; i < limit; i++) {
    const report = await tickNow(fleet);
    if (report.state !== undefined && done(report.state)) return report;
    fleet.clock.now = nextTickAt(report, fleet.clock.now);
  }
  throw new Error(`condition not reached after ${limit} ticks`);
}

function stableOn(generation: number): (state: RotationState) => boolean {
  return (state) => state.phase === 'Stable' && state.generation === generation && state.retiring === undefined;
}

async function command(fleet: Fleet, cmd: RotationCommand): Promise<RotationState> {
  return runCommand(fleet.env.state, AUTHORITY, cmd, fleet.clock.now);
}

function rotate(requestId: string, emergency = false): RotationCommand {
  return { kind: 'rotate-ca', requestId, reason: emergency ? 'key compromised' : 'planned', emergency };
}

async function storedState(fleet: Fleet): Promise<{ state: RotationState; version: number }> {
  const record = await fleet.env.state.readState(AUTHORITY);
  if (record === undefined) throw new Error('no stored state');
  return record;
}

/** Every item of the state table, as stored. */
async function tableItems(local: LocalEnvironment): Promise<string> {
  const { Items } = await local.clients.dynamodb.send(new ScanCommand({ TableName: local.tableName, ConsistentRead: true }));
  return JSON.stringify(Items ?? []);
}

/** Stable on CA 1 again after a rollback: CA 2 abandoned, never trusted, every leaf from CA 1. */
async function expectRolledBackTo1(fleet: Fleet): Promise<void> {
  const { state } = await storedState(fleet);
  expect(state).toMatchObject({ phase: 'Stable', generation: 1, abandoned: [2], retired: [], highestGeneration: 2, rollingBack: false, paused: false });
  expect(state.target).toBeUndefined();
  expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([1, 1, 1]);
  expect(await bundleGenerations(fleet.env, AUTHORITY)).toEqual([1]);
  // CA 2 stays in the store (audit), but nobody holds it any more.
  expect(await fleet.env.certificates.listCaGenerations(AUTHORITY)).toEqual([1, 2]);
  const { leaves } = await fleet.env.certificates.readLeaves(AUTHORITY, config.leaves.map((leaf) => leaf.id));
  expect(leaves.map((leaf) => leaf.bundlePem)).toEqual(Array(3).fill(leaves[0]?.bundlePem));
}

describe('runCommand against the local endpoints', () => {
  it.each([rotate('r-1'), { kind: 'pause', requestId: 'p-1' }, { kind: 'resume', requestId: 'r-1' }, { kind: 'rollback', requestId: 'b-1' }] satisfies RotationCommand[])(
    'refuses $kind on an authority with no state with NotFoundError and writes nothing',
    async (cmd) => {
      const fleet = await stableOn1();
      const before = await tableItems(fleet.env);
      fleet.env.secretsManager.resetCalls();
      const refused = runCommand(fleet.env.state, 'etcd', cmd, T0 + HOUR);
      await expect(refused).rejects.toBeInstanceOf(NotFoundError);
      await expect(refused).rejects.toThrow(/authority "etcd" has no rotation state yet/);
      expect(await tableItems(fleet.env)).toBe(before);
      expect(await fleet.env.state.readState('etcd')).toBeUndefined();
      expect(fleet.env.secretsManager.calls()).toEqual({});
    },
  );

  it('refuses a forced rotation while one runs, naming the phase, and records nothing', async () => {
    const fleet = await stableOn1();
    fleet.clock.now = T0 + HOUR;
    await command(fleet, rotate('r-1'));
    const refusedInPrepared = command(fleet, rotate('r-2'));
    await expect(refusedInPrepared).rejects.toBeInstanceOf(CommandRefusedError);
    await expect(refusedInPrepared).rejects.toThrow('rotation already in progress at phase Prepared (1/4) (CA 1 to 2)');

    await tickNow(fleet);
    const before = await storedState(fleet);
    expect(before.state.phase).toBe('TrustExpanded');
    await expect(command(fleet, rotate('r-3'))).rejects.toThrow('rotation already in progress at phase TrustExpanded (2/4) (CA 1 to 2)');
    await expect(command(fleet, rotate('r-4', true))).rejects.toThrow(/rotation already in progress at phase TrustExpanded/);
    expect(await storedState(fleet)).toEqual(before);
  });

  it('pause stops the phases across ticks while a due leaf is still renewed; resume carries on to Stable on CA 2', async () => {
    const fleet = await stableOn1();
    fleet.clock.now = T0 + HOUR;
    await command(fleet, rotate('r-1'));
    await tickNow(fleet);
    const paused = await command(fleet, { kind: 'pause', requestId: 'p-1', reason: 'change freeze' });
    expect(paused).toMatchObject({ phase: 'TrustExpanded', paused: true });
    const atPause = await storedState(fleet);

    // Long past the soak, and on to the day svc-0 (7 days) is due: the phase stays put.
    const renewed: string[] = [];
    for (const now of [T0 + HOUR + SOAK + HOUR, T0 + 3 * DAY, T0 + 6 * DAY + HOUR]) {
      fleet.clock.now = now;
      const report = await tickNow(fleet);
      expect(report.state).toMatchObject({ phase: 'TrustExpanded', paused: true });
      expect(report.steps).toEqual([{ kind: 'wait', reason: 'paused' }]);
      expect(report.transitions).toEqual([]);
      expect(report.status).toContain('PAUSED');
      renewed.push(...report.renewed.map((leaf) => `${leaf.id}:${leaf.reason}`));
    }
    expect(renewed).toEqual(['svc-0:expiring']);
    const leaves = await leafGenerations(fleet.env, config, AUTHORITY);
    // Renewed by the signer of TrustExpanded (CA 1), with the bundle of TrustExpanded.
    expect(leaves.get('svc-0')).toBe(1);
    const afterPause = await storedState(fleet);
    expect(afterPause.state.history).toEqual(atPause.state.history);
    expect(afterPause.state.phase).toBe('TrustExpanded');

    await command(fleet, { kind: 'resume', requestId: 'r-2' });
    const resumedAt = fleet.clock.now;
    const end = await tickUntil(fleet, stableOn(2));
    expect(end.state?.retired).toEqual([1]);
    expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([2, 2, 2]);
    const history = (await storedState(fleet)).state.history;
    expect(history.map((entry) => (entry.by.kind === 'command' ? `${entry.by.command}:${entry.by.requestId}` : `${entry.from}->${entry.to}`))).toEqual([
      'Stable->Stable',
      'rotate-ca:r-1',
      'Prepared->TrustExpanded',
      'pause:p-1',
      'resume:r-2',
      'TrustExpanded->LeavesMigrated',
      'LeavesMigrated->LeavesMigrated',
      'LeavesMigrated->Stable',
    ]);
    // The soak counted again from the resume, not from before the pause.
    const migrated = history.find((entry) => entry.to === 'LeavesMigrated');
    expect(migrated?.at).toBeGreaterThanOrEqual(resumedAt + SOAK);
  });

  describe('rollback, driven by real ticks', () => {
    const phases: [string, (fleet: Fleet) => Promise<void>][] = [
      ['TrustExpanded', async (fleet) => {
        await tickNow(fleet);
      }],
      ['LeavesMigrated', async (fleet) => {
        await tickUntil(fleet, (state) => state.phase === 'LeavesMigrated');
        expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([2, 2, 2]);
      }],
      ['LeavesMigrated, CA 1 already dropped from the bundle', async (fleet) => {
        const migrated = await tickUntil(fleet, (state) => state.phase === 'LeavesMigrated');
        fleet.clock.now = nextTickAt(migrated, fleet.clock.now);
        // One step: CA 1 leaves the bundle; the tick stops before recording Stable on CA 2.
        const report = await tickNow(fleet, { maxSteps: 1 });
        expect(report.state).toMatchObject({ phase: 'LeavesMigrated', contracting: true });
        expect(await bundleGenerations(fleet.env, AUTHORITY)).toEqual([2]);
      }],
    ];

    it.each(phases)(
      'from %s ends Stable on CA 1 with every leaf from CA 1 and CA 2 abandoned; the next rotation generates CA 3',
      async (_phase, reach) => {
        const fleet = await stableOn1();
        fleet.clock.now = T0 + HOUR;
        await command(fleet, rotate('r-1'));
        await reach(fleet);
        const rollingBack = await command(fleet, { kind: 'rollback', requestId: 'b-1', reason: 'clients fail' });
        expect(rollingBack.rollingBack).toBe(true);
        fleet.clock.now += MINUTE;

        await tickUntil(fleet, stableOn(1));
        await expectRolledBackTo1(fleet);
        await expect(command(fleet, { kind: 'rollback', requestId: 'b-2' })).rejects.toThrow(/nothing to roll back/);

        await command(fleet, rotate('r-2'));
        const next = await tickNow(fleet);
        expect(next.state).toMatchObject({ phase: 'TrustExpanded', generation: 1, target: 3, highestGeneration: 3 });
        expect(await fleet.env.certificates.listCaGenerations(AUTHORITY)).toEqual([1, 2, 3]);
        await tickUntil(fleet, stableOn(3));
        expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([3, 3, 3]);
        expect(await bundleGenerations(fleet.env, AUTHORITY)).toEqual([3]);
        expect((await storedState(fleet)).state).toMatchObject({ retired: [1], abandoned: [2] });
      },
    );

    it('is refused once the old CA is retired', async () => {
      const fleet = await stableOn1();
      fleet.clock.now = T0 + HOUR;
      await command(fleet, rotate('r-1'));
      await tickUntil(fleet, stableOn(2));
      await expect(command(fleet, { kind: 'rollback', requestId: 'b-1' })).rejects.toThrow(CommandRefusedError);
      await expect(command(fleet, { kind: 'rollback', requestId: 'b-1' })).rejects.toThrow(/nothing to roll back: authority cluster is Stable on CA 2/);
    });
  });

  it('an emergency rotation skips the soaks (minutes instead of hours) and says so in the history', async () => {
    const durations: Record<string, number> = {};
    for (const emergency of [false, true]) {
      const fleet = await stableOn1();
      fleet.clock.now = T0 + HOUR;
      await command(fleet, rotate('r-1', emergency));
      await tickUntil(fleet, stableOn(2));
      durations[emergency ? 'emergency' : 'planned'] = fleet.clock.now - (T0 + HOUR);
      const history = (await storedState(fleet)).state.history.slice(1);
      expect(history.map((entry) => entry.to)).toEqual(['Prepared', 'TrustExpanded', 'LeavesMigrated', 'LeavesMigrated', 'Stable']);
      if (emergency) {
        expect(history.every((entry) => entry.emergency === true)).toBe(true);
        expect(history[0]?.why).toMatch(/^EMERGENCY rotation to CA 2 forced \(soak times skipped\): key compromised/);
        expect(history.filter((entry) => entry.why.includes('(EMERGENCY: soak skipped)'))).toHaveLength(2);
      } else {
        expect(history.some((entry) => entry.emergency === true || entry.why.includes('EMERGENCY'))).toBe(false);
      }
      expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([2, 2, 2]);
      await env?.stop();
      env = undefined;
    }
    expect(durations.planned).toBeGreaterThanOrEqual(2 * SOAK);
    expect(durations.emergency).toBeLessThan(HOUR);
  });

  it('a command retried with the same requestId changes nothing, even after the state moved on', async () => {
    const fleet = await stableOn1();
    fleet.clock.now = T0 + HOUR;
    await command(fleet, rotate('r-1'));
    const once = await storedState(fleet);
    expect(await command(fleet, rotate('r-1'))).toEqual(once.state);
    expect(await storedState(fleet)).toEqual(once);

    await tickNow(fleet);
    const moved = await storedState(fleet);
    // Not "already in progress": the retry is recognised as the request that started it.
    expect(await command(fleet, rotate('r-1'))).toEqual(moved.state);
    expect(await storedState(fleet)).toEqual(moved);

    await command(fleet, { kind: 'pause', requestId: 'p-1' });
    await command(fleet, { kind: 'resume', requestId: 'u-1' });
    const resumed = await storedState(fleet);
    // A late retry of the pause must not pause again.
    expect(await command(fleet, { kind: 'pause', requestId: 'p-1' })).toMatchObject({ paused: false });
    expect(await storedState(fleet)).toEqual(resumed);
    await expect(command(fleet, { kind: 'rollback', requestId: 'p-1' })).rejects.toThrow(/request p-1 was already used for a pause command/);
    expect(await storedState(fleet)).toEqual(resumed);
  });

  it('keeps the audit history within its item over many rotations, pauses and resumes, and loses no entry to the archive', async () => {
    const fleet = await stableOn1();
    const budget = { highBytes: 3000, lowBytes: 1500 };
    fleet.deps = { ...fleet.deps, historyBudget: budget };
    const commands: string[] = [];
    const send = async (cmd: RotationCommand) => {
      commands.push(cmd.requestId);
      return runCommand(fleet.env.state, AUTHORITY, cmd, fleet.clock.now, budget);
    };
    for (let generation = 2; generation <= 4; generation++) {
      await send(rotate(`rotate-${generation}`));
      await tickNow(fleet);
      await send({ kind: 'pause', requestId: `pause-${generation}`, reason: 'change freeze' });
      await send({ kind: 'resume', requestId: `resume-${generation}` });
      await tickUntil(fleet, stableOn(generation));
      const { state } = await storedState(fleet);
      expect(Buffer.byteLength(JSON.stringify(state.history))).toBeLessThanOrEqual(budget.highBytes);
    }
    const { state } = await storedState(fleet);
    expect(state.archivedHistory).toBeGreaterThan(0);
    const whole = await fullHistory(fleet.env.state, AUTHORITY, state);
    expect(whole.flatMap((entry) => (entry.by.kind === 'command' ? [entry.by.requestId] : []))).toEqual(commands);
    // Every transition a tick reported is in the record, in order, and nothing else is.
    expect(whole.filter((entry) => entry.by.kind === 'schedule')).toEqual(fleet.reports.flatMap((report) => report.transitions));
    // Retries are recognised whether their entry is still in the state or long archived.
    expect(state.history.some((entry) => entry.by.kind === 'command' && entry.by.requestId === 'pause-2')).toBe(false);
    const before = await storedState(fleet);
    await send({ kind: 'resume', requestId: 'resume-4' });
    const retried = await rotationCommand(fleet.deps, new DynamoDbRequestLedger({ client: fleet.env.clients.dynamodb, tableName: fleet.env.tableName }), AUTHORITY, { kind: 'pause', requestId: 'pause-2', reason: 'change freeze' }, fleet.clock.now);
    expect(retried).toMatchObject({ applied: false, paused: false, transition: { by: 'pause (request pause-2)' } });
    await expect(send({ kind: 'rollback', requestId: 'rotate-2' })).rejects.toThrow(/request rotate-2 was already used for a rotate-ca command/);
    expect(await storedState(fleet)).toEqual(before);
  });

  it('writes the archive before the state: a failed archive writes no state, and a state write that fails after it loses no entry', async () => {
    const fleet = await stableOn1();
    for (let i = 0; i < 6; i++) {
      await command(fleet, { kind: 'pause', requestId: `p-${i}`, reason: 'change freeze' });
      await command(fleet, { kind: 'resume', requestId: `u-${i}` });
    }
    await command(fleet, rotate('r-1'));
    const budget = { highBytes: 2000, lowBytes: 1000 };
    const real = fleet.env.state;
    const before = await storedState(fleet);
    const failingArchive: StateStore<RotationState> = { ...delegatingStateStore(real), archiveHistory: () => Promise.reject(new Error('DynamoDB is down')) };
    await expect(tick({ ...fleet.deps, state: failingArchive, historyBudget: budget }, { now: fleet.clock.now, owner: 'failing-archive', mode: 'scan' })).rejects.toThrow('DynamoDB is down');
    expect(await storedState(fleet)).toEqual(before);

    const failingWrite: StateStore<RotationState> = { ...delegatingStateStore(real), writeState: () => Promise.reject(new Error('DynamoDB is down')) };
    await expect(tick({ ...fleet.deps, state: failingWrite, historyBudget: budget }, { now: fleet.clock.now, owner: 'failing-write', mode: 'scan' })).rejects.toThrow('DynamoDB is down');
    expect(await storedState(fleet)).toEqual(before);
    await real.releaseLease(AUTHORITY, 'failing-write');
    await real.releaseLease(AUTHORITY, 'failing-archive');

    fleet.deps = { ...fleet.deps, historyBudget: budget };
    await tickUntil(fleet, stableOn(2));
    const { state } = await storedState(fleet);
    expect(state.archivedHistory).toBeGreaterThan(0);
    const whole = await fullHistory(real, AUTHORITY, state);
    expect(whole.slice(0, before.state.history.length)).toEqual(before.state.history);
    expect(whole.slice(before.state.history.length).filter((entry) => entry.by.kind === 'schedule')).toEqual(fleet.reports.slice(1).flatMap((report) => report.transitions));
  });

  it.each(['deleted', 'overwritten with garbage'])('keeps renewing from the signer while a step fails: CA 2 %s during TrustExpanded lets no leaf expire', async (damage) => {
    const fleet = await stableOn1();
    fleet.clock.now = T0 + HOUR;
    await command(fleet, rotate('r-1'));
    await tickUntil(fleet, (state) => state.phase === 'TrustExpanded');
    const secretId = fleet.env.secrets.caSecretName(AUTHORITY, 2);
    await fleet.env.clients.secretsManager.send(
      damage === 'deleted'
        ? new DeleteSecretCommand({ SecretId: secretId, RecoveryWindowInDays: 7 })
        : new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ 'ca.crt': 'garbage', 'ca.key': 'garbage' }) }),
    );
    const failures: string[] = [];
    // svc-0 lives 7 days: hourly runs across its renewal window, each failing its rotation step.
    for (let now = T0 + 6 * DAY; now <= T0 + 7 * DAY + HOUR; now += HOUR) {
      try {
        await tick(fleet.deps, { now, owner: `hourly-${now}`, mode: 'scan' });
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
    }
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatch(/CA generation 2/);
    expect(await fleet.check(AUTHORITY, T0 + 7 * DAY + HOUR)).toEqual([]);
    expect((await storedState(fleet)).state.phase).toBe('TrustExpanded');
  });

  it('acts on no stored state edited into something certrotate never writes: commands and ticks refuse it, naming the item', async () => {
    const fleet = await stableOn1();
    const { state } = await storedState(fleet);
    await fleet.env.clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: fleet.env.tableName,
        Key: { pk: { S: `authority#${AUTHORITY}` }, sk: { S: 'state' } },
        UpdateExpression: 'SET #state = :state',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':state': { S: JSON.stringify({ ...state, phase: 'Stabel' }) } },
      }),
    );
    const before = await tableItems(fleet.env);
    await expect(command(fleet, { kind: 'pause', requestId: 'p-1', reason: 'freeze' })).rejects.toThrow(StoredDataError);
    await expect(tick(fleet.deps, { now: T0 + HOUR, owner: 'after-edit', mode: 'scan' })).rejects.toThrow(
      /stored state of authority "cluster" .* is invalid; nothing was done with it\. Fix or restore the item \(pk authority#cluster, sk state\): [\s\S]*phase: expected one of/,
    );
    // Nothing changed, the lease included: the tick that refused the state holds no lease afterwards.
    expect(await tableItems(fleet.env)).toEqual(before);
  });

  describe('a command racing a tick', () => {
    /** The real state store, with `beforeWrite` run (once) just before the first writeState. */
    function interceptFirstWrite(real: StateStore<RotationState>, beforeWrite: () => Promise<void>): { store: StateStore<RotationState>; writes: string[] } {
      const writes: string[] = [];
      const store: StateStore<RotationState> = {
        ...delegatingStateStore(real),
        writeState: async (authority, state, version) => {
          if (writes.length === 0) {
            writes.push('intercepted');
            await beforeWrite();
          }
          try {
            const written = await real.writeState(authority, state, version);
            writes.push('written');
            return written;
          } catch (error) {
            writes.push(error instanceof ConflictError ? 'conflict' : 'failed');
            throw error;
          }
        },
      };
      return { store, writes };
    }

    it('a pause whose write loses to a tick re-reads and applies on top of the tick', async () => {
      const fleet = await stableOn1();
      fleet.clock.now = T0 + HOUR;
      await command(fleet, rotate('r-1'));
      await tickNow(fleet);
      fleet.clock.now += SOAK;
      // The pause read TrustExpanded; the tick moves to LeavesMigrated before the pause writes.
      const racing = interceptFirstWrite(fleet.env.state, async () => {
        await tickNow(fleet);
      });
      const paused = await runCommand(racing.store, AUTHORITY, { kind: 'pause', requestId: 'p-1' }, fleet.clock.now);
      expect(racing.writes).toEqual(['intercepted', 'conflict', 'written']);
      expect(paused).toMatchObject({ phase: 'LeavesMigrated', paused: true });
      const { state } = await storedState(fleet);
      expect(state).toEqual(paused);
      expect(state.history.filter((entry) => entry.by.kind === 'command' && entry.by.requestId === 'p-1')).toHaveLength(1);
      expect(state.history.some((entry) => entry.to === 'LeavesMigrated' && entry.by.kind === 'schedule')).toBe(true);

      fleet.clock.now += 3 * SOAK;
      expect((await tickNow(fleet)).state).toMatchObject({ phase: 'LeavesMigrated', contracting: false, paused: true });
      await command(fleet, { kind: 'resume', requestId: 'u-1' });
      await tickUntil(fleet, stableOn(2));
      expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([2, 2, 2]);
    });

    it('a tick that archived history and then lost its state write to two commands leaves a whole, gapless record', async () => {
      const fleet = await stableOn1();
      const commands: string[] = [];
      for (let i = 0; i < 6; i++) {
        commands.push(`p-${i}`, `u-${i}`);
        await command(fleet, { kind: 'pause', requestId: `p-${i}`, reason: 'change freeze' });
        await command(fleet, { kind: 'resume', requestId: `u-${i}` });
      }
      commands.push('r-1');
      await command(fleet, rotate('r-1'));
      const budget = { highBytes: 2000, lowBytes: 1000 };
      commands.push('late-pause', 'late-resume');
      const racing = interceptFirstWrite(fleet.env.state, async () => {
        await command(fleet, { kind: 'pause', requestId: 'late-pause' });
        await command(fleet, { kind: 'resume', requestId: 'late-resume' });
      });
      await tickNow(fleet, { deps: { ...fleet.deps, state: racing.store, historyBudget: budget } });
      expect(racing.writes.slice(0, 3)).toEqual(['intercepted', 'conflict', 'written']);
      const { state } = await storedState(fleet);
      expect(state.archivedHistory).toBeGreaterThan(0);
      const whole = await fullHistory(fleet.env.state, AUTHORITY, state);
      expect(whole.flatMap((entry) => (entry.by.kind === 'command' ? [entry.by.requestId] : []))).toEqual(commands);
      expect(whole.map((entry) => entry.at)).toEqual([...whole.map((entry) => entry.at)].sort((a, b) => a - b));
    });

    /** Forced rotation, TrustExpanded soak over; the next tick's first write meets a rollback that landed first. */
    async function tickLosingToRollback(): Promise<{ fleet: Fleet; raced: AuthorityReport; writes: string[]; racedAt: number }> {
      const fleet = await stableOn1();
      fleet.clock.now = T0 + HOUR;
      await command(fleet, rotate('r-1'));
      await tickNow(fleet);
      fleet.clock.now += SOAK;
      // This tick switches the signer and reissues every leaf from CA 2; the rollback lands first.
      const racing = interceptFirstWrite(fleet.env.state, async () => {
        await command(fleet, { kind: 'rollback', requestId: 'b-1' });
      });
      const racedAt = fleet.clock.now;
      const raced = await tickNow(fleet, { deps: { ...fleet.deps, state: racing.store } });
      return { fleet, raced, writes: racing.writes, racedAt };
    }

    it('a tick whose write loses to a rollback (after reissuing leaves from CA 2) re-reads and walks the rollback to Stable on CA 1', async () => {
      const { fleet, raced, writes } = await tickLosingToRollback();
      expect(writes.slice(0, 3)).toEqual(['intercepted', 'conflict', 'written']);
      expect(raced.steps[0]).toEqual({ kind: 'reissue-leaves', generation: 1, leafIds: ['svc-0', 'svc-1', 'svc-2'] });
      const { state } = await storedState(fleet);
      // The tick's own transition to LeavesMigrated was never recorded; the rollback was, once.
      expect(state.history.some((entry) => entry.to === 'LeavesMigrated')).toBe(false);
      expect(state.history.filter((entry) => entry.by.kind === 'command' && entry.by.command === 'rollback')).toHaveLength(1);

      fleet.clock.now = nextTickAt(raced, fleet.clock.now);
      await tickUntil(fleet, stableOn(1));
      await expectRolledBackTo1(fleet);
    });

    // BUG (lib/rotation/decide.ts, stage rollback-reissue): the leaves-migrated soak is skipped when
    // rollbackFrom is 'trust-expanded', on the belief that no leaf from CA 2 can exist then. Here one
    // tick wrote every leaf from CA 2 and lost its state write to the rollback, so leaves from CA 2
    // were in Secrets Manager; the same tick then reissued from CA 1 and dropped CA 2 from every
    // bundle at once. A workload whose caching client still holds its CA 2 leaf (up to the hour the
    // soak exists for) then fails against every peer that already reads bundle [1].
    it('keeps CA 2 in the bundle for the leaves-migrated soak once leaves from CA 2 were written, even if that was never recorded', async () => {
      const { fleet, racedAt } = await tickLosingToRollback();
      expect(await bundleGenerations(fleet.env, AUTHORITY)).toEqual([1, 2]);
      await tickUntil(fleet, stableOn(1));
      const dropped = (await storedState(fleet)).state.history.find((entry) => entry.from === 'TrustExpanded' && entry.to === 'Prepared');
      expect(dropped?.at).toBeGreaterThanOrEqual(racedAt + SOAK);
    });
  });
});

describe('a rollback CA 1 cannot outlive', () => {
  const CA_1_ENDS = T0 + 180 * DAY;
  const ledger = (fleet: Fleet) => new DynamoDbRequestLedger({ client: fleet.env.clients.dynamodb, tableName: fleet.env.tableName });

  it('is refused once CA 1 has expired, naming why, and changes nothing', async () => {
    const fleet = await stableOn1();
    fleet.clock.now = T0 + HOUR;
    await command(fleet, rotate('r-1'));
    await tickNow(fleet);
    const before = await storedState(fleet);
    fleet.clock.now = CA_1_ENDS + HOUR;
    await expect(rotationCommand(fleet.deps, ledger(fleet), AUTHORITY, { kind: 'rollback', requestId: 'late', reason: 'too late' }, fleet.clock.now)).rejects.toThrow(
      /cannot roll back authority cluster to CA 1: it expired .*Let the rotation to CA 2 finish/,
    );
    expect(await storedState(fleet)).toEqual(before);
  });

  it('already under way when CA 1 expired: a forced rotation is the way out, and the authority reaches Stable on a live CA by itself', async () => {
    const fleet = await stableOn1();
    fleet.clock.now = T0 + HOUR;
    await command(fleet, rotate('r-1'));
    await tickNow(fleet);
    await command(fleet, { kind: 'rollback', requestId: 'b-1', reason: 'clients fail' });
    // No run for months: the walk back never finished, and CA 1 is dead (CA 2, made an hour later, lives on).
    fleet.clock.now = CA_1_ENDS + 10 * MINUTE;
    await expect(rotationCommand(fleet.deps, ledger(fleet), AUTHORITY, { kind: 'rollback', requestId: 'b-2' }, fleet.clock.now)).rejects.toThrow(/already rolling back/);
    const way = await rotationCommand(fleet.deps, ledger(fleet), AUTHORITY, { kind: 'rotate-ca', requestId: 'out', reason: 'CA 1 expired mid-rollback', emergency: true }, fleet.clock.now);
    expect(way).toMatchObject({ applied: true, rollingBack: false, target: 2 });
    for (let i = 0; i < 40; i++) {
      const [report] = await tick(fleet.deps, { now: fleet.clock.now, owner: `out-${i}`, mode: 'scan' });
      // CA 2 was made an hour after CA 1, so it is due at once: the authority may rotate on to CA 3.
      if (report?.state !== undefined && report.state.generation >= 2 && stableOn(report.state.generation)(report.state)) break;
      fleet.clock.now = report === undefined ? fleet.clock.now + 5 * MINUTE : nextTickAt(report, fleet.clock.now);
    }
    const { state } = await storedState(fleet);
    expect(state).toMatchObject({ phase: 'Stable', rollingBack: false });
    expect(state.generation).toBeGreaterThanOrEqual(2);
    expect([...(await leafGenerations(fleet.env, config, AUTHORITY)).values()]).toEqual([state.generation, state.generation, state.generation]);
    expect(await fleet.check(AUTHORITY, fleet.clock.now)).toEqual([]);
  });
});
