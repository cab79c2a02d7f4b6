/**
 * Exactly one KMS key per CA generation, with crashes and racing runs: a forced rotation of a KMS
 * authority is killed right after each of its KMS calls in turn, then run again from scratch.
 */
import { ListAliasesCommand } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { forEachConcurrent } from '../../lib/engine/concurrency.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import type { StateStore } from '../../lib/ports.js';
import type { RotationState } from '../../lib/rotation/index.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { HOUR, T0 } from '../support/pki.js';
import { bundleGenerations, fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';
import { SimulatedCrash, installCrashInjector, type CrashInjector } from '../support/crash.js';
import { delegatingStateStore } from '../support/stores.js';
import { caSecret, keyState, keysOfGeneration } from '../support/kms.js';

const MINUTE = 60_000;
const AUTHORITY = 'cluster';
const LEASE_MS = MINUTE;
const config = fleetConfig({ leaves: 3, caKeyStore: 'kms' });

const environments: LocalEnvironment[] = [];
afterEach(async () => {
  await Promise.all(environments.splice(0).map((env) => env.stop()));
});

interface Scenario {
  env: LocalEnvironment;
  deps: EngineDeps;
  crash: CrashInjector;
  clock: { now: number };
}

async function forcedRotationPending(): Promise<Scenario> {
  const env = await startLocalEnvironment();
  environments.push(env);
  const crash = installCrashInjector(env.clients, [env.kms.client]);
  const deps = env.deps(config);
  const [bootstrapped] = await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile', leaseMs: LEASE_MS });
  expect(bootstrapped?.state).toMatchObject({ phase: 'Stable', generation: 1 });
  await runCommand(env.state, AUTHORITY, { kind: 'rotate-ca', requestId: 'rotate-1', reason: 'kms crash test', emergency: false }, T0 + HOUR);
  crash.reset();
  return { env, deps, crash, clock: { now: T0 + HOUR } };
}

function finished(report: AuthorityReport | undefined): boolean {
  return report?.state?.phase === 'Stable' && report.state.generation === 2 && report.state.retiring === undefined;
}

async function driveToStableOn2(scenario: Scenario, owner: string, deps = scenario.deps): Promise<void> {
  for (let i = 1; i <= 40; i++) {
    const [report] = await tick(deps, { now: scenario.clock.now, owner: `${owner}-${i}`, mode: 'scan', leaseMs: LEASE_MS });
    if (finished(report)) return;
    const last = report?.steps.at(-1);
    scenario.clock.now = last?.kind === 'wait' && last.until !== undefined && last.until > scenario.clock.now ? last.until : scenario.clock.now + 5 * MINUTE;
  }
  throw new Error(`not Stable on CA 2 after 40 ticks (owner ${owner})`);
}

/** One Enabled key for CA 2, the one its alias and its secret name; CA 1's key disabled; every leaf from CA 2 and valid. */
async function expectOneKeyAndStableOn2(env: LocalEnvironment, now: number): Promise<void> {
  const second = await caSecret(env, 2);
  const enabled = (await keysOfGeneration(env, 2)).filter((key) => key.state === 'Enabled');
  expect(enabled).toEqual([{ arn: second.keyArn, state: 'Enabled' }]);
  const aliases = (await env.kms.client.send(new ListAliasesCommand({ KeyId: second.keyArn }))).Aliases ?? [];
  expect(aliases.map((alias) => alias.AliasName)).toEqual([`alias/certrotate/${AUTHORITY}/2`]);
  expect(await keyState(env, (await caSecret(env, 1)).keyArn)).toBe('Disabled');
  expect(await bundleGenerations(env, AUTHORITY)).toEqual([2]);
  expect([...(await leafGenerations(env, config, AUTHORITY)).values()]).toEqual([2, 2, 2]);
  expect(await invariantChecker(env, config)(AUTHORITY, now)).toEqual([]);
}

async function crashAndRecover(k: number, calls: readonly string[]): Promise<string | undefined> {
  const scenario = await forcedRotationPending();
  try {
    scenario.crash.arm(k);
    const crashed: unknown = await driveToStableOn2(scenario, 'doomed').then(() => undefined, (error: unknown) => error);
    expect(crashed, 'the run must die').toBeInstanceOf(SimulatedCrash);
    await scenario.crash.disarm();
    scenario.clock.now += LEASE_MS + MINUTE;
    await driveToStableOn2(scenario, 'recovery');
    await expectOneKeyAndStableOn2(scenario.env, scenario.clock.now);
    return undefined;
  } catch (error) {
    return `crash after call ${k} (${calls[k - 1] ?? '?'}): ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    environments.splice(environments.indexOf(scenario.env), 1);
    await scenario.env.stop();
  }
}

const KMS_COMMANDS = new Set(['DescribeKeyCommand', 'ListKeysCommand', 'ListResourceTagsCommand', 'ListAliasesCommand', 'CreateKeyCommand', 'CreateAliasCommand', 'GetPublicKeyCommand', 'SignCommand', 'DisableKeyCommand', 'ScheduleKeyDeletionCommand']);

describe('a forced rotation of a KMS authority with a crash after any KMS call', () => {
  it('converges, run again from scratch, to Stable on CA 2 with exactly one enabled key for it and CA 1\'s key disabled', { timeout: 180_000 }, async () => {
    const clean = await forcedRotationPending();
    await driveToStableOn2(clean, 'clean');
    const calls = [...clean.crash.log];
    await expectOneKeyAndStableOn2(clean.env, clean.clock.now);
    for (const command of ['CreateKeyCommand', 'CreateAliasCommand', 'GetPublicKeyCommand', 'SignCommand', 'DisableKeyCommand']) expect(calls).toContain(command);
    await Promise.all(environments.splice(0).map((env) => env.stop()));

    const points = calls.flatMap((command, index) => (KMS_COMMANDS.has(command) ? [index + 1] : []));
    const failures: string[] = [];
    await forEachConcurrent(points, 3, async (k) => {
      const failure = await crashAndRecover(k, calls);
      if (failure !== undefined) failures.push(failure);
    });
    expect(failures).toEqual([]);
  });
});

describe('ticks racing on a pending forced rotation of a KMS authority', () => {
  it('ten concurrent ticks that all get past the lease make one key for CA 2 that every leaf chains to', { timeout: 60_000 }, async () => {
    const scenario = await forcedRotationPending();
    const leaseless: StateStore<RotationState> = {
      ...delegatingStateStore(scenario.env.state),
      acquireLease: async (authority) => ({ stored: await scenario.env.state.readState(authority) }),
      releaseLease: () => Promise.resolve(),
    };
    const deps = { ...scenario.deps, state: leaseless };
    await Promise.all(Array.from({ length: 10 }, (_, i) => tick(deps, { now: scenario.clock.now, owner: `racer-${i}`, mode: 'scan' })));
    await driveToStableOn2(scenario, 'after-race');
    await expectOneKeyAndStableOn2(scenario.env, scenario.clock.now);
    // The losers' keys never signed: each is scheduled for deletion, none is left enabled.
    expect((await keysOfGeneration(scenario.env, 2)).every((key) => key.state === 'Enabled' || key.state === 'PendingDeletion')).toBe(true);
  });
});
