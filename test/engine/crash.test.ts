import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { forEachConcurrent } from '../../lib/engine/concurrency.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import type { CertrotateConfig } from '../../lib/config/index.js';
import type { StateStore } from '../../lib/ports.js';
import type { RotationState } from '../../lib/rotation/index.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { CaDirectory, parseCertificate } from '../../lib/pki/index.js';
import { HOUR, T0 } from '../support/pki.js';
import { bundleGenerations, fleetConfig, invariantChecker } from '../support/fleet.js';
import { SimulatedCrash, installCrashInjector, type CrashInjector } from '../support/crash.js';
import { delegatingStateStore } from '../support/stores.js';

const MINUTE = 60_000;
const AUTHORITY = 'cluster';
/** Short, so a run after a crash only has to move the clock a little past the dead run's lease. */
const LEASE_MS = MINUTE;
/** Every test runs with the leaves in Secrets Manager and again with them in the S3 leaf bucket. */
const CONFIGS = { secretsmanager: fleetConfig({ leaves: 3 }), s3: fleetConfig({ leaves: 3, leafStore: 's3' }) } as const;
type LeafStoreKind = keyof typeof CONFIGS;
const LEAF_IDS = CONFIGS.secretsmanager.leaves.map((leaf) => leaf.id);

const environments: LocalEnvironment[] = [];
afterEach(async () => {
  await Promise.all(environments.splice(0).map((env) => env.stop()));
});

interface Scenario {
  env: LocalEnvironment;
  /** Names of the secrets every CreateSecret request that reached the local server asked for. */
  created: string[];
  deps: EngineDeps;
  crash: CrashInjector;
  /** The simulated clock; ticks move it forward. */
  clock: { now: number };
  config: CertrotateConfig;
}

/**
 * A fresh environment with the crash injector installed: CA 1 bootstrapped with three leaves, then
 * a forced rotation to CA 2 recorded. The injector counts from zero from here.
 */
async function forcedRotationPending(leafStore: LeafStoreKind): Promise<Scenario> {
  const created: string[] = [];
  const config = CONFIGS[leafStore];
  const env = await startLocalEnvironment({
    leafBucket: leafStore === 's3',
    faults: (operation, input) => {
      const name: unknown = typeof input === 'object' && input !== null ? Object.getOwnPropertyDescriptor(input, 'Name')?.value : undefined;
      if (operation === 'CreateSecret' && typeof name === 'string') created.push(name);
      return undefined;
    },
  });
  environments.push(env);
  const crash = installCrashInjector(env.clients, [], env.leafBucket?.client);
  const deps = env.deps(config);
  const [bootstrapped] = await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile', leaseMs: LEASE_MS });
  expect(bootstrapped?.state).toMatchObject({ phase: 'Stable', generation: 1 });
  await runCommand(env.state, AUTHORITY, { kind: 'rotate-ca', requestId: 'rotate-1', reason: 'crash test', emergency: false }, T0 + HOUR);
  crash.reset();
  return { env, created, deps, crash, clock: { now: T0 + HOUR }, config };
}

function finished(report: AuthorityReport | undefined): boolean {
  return report?.state?.phase === 'Stable' && report.state.generation === 2 && report.state.retiring === undefined;
}

/** When the next tick runs: when the last wait ends, or five minutes on. */
function nextTickAt(report: AuthorityReport | undefined, now: number): number {
  const last = report?.steps.at(-1);
  return last?.kind === 'wait' && last.until !== undefined && last.until > now ? last.until : now + 5 * MINUTE;
}

/**
 * Ticks (each with its own lease owner) until the authority is Stable on CA 2 with CA 1 retired,
 * moving `clock` to each tick's time; returns the number of ticks. A crash propagates with the
 * clock left at the tick that crashed.
 */
async function driveToStableOn2(scenario: Scenario, owner: string): Promise<number> {
  for (let i = 1; i <= 40; i++) {
    const [report] = await tick(scenario.deps, { now: scenario.clock.now, owner: `${owner}-${i}`, mode: 'scan', leaseMs: LEASE_MS });
    if (finished(report)) return i;
    scenario.clock.now = nextTickAt(report, scenario.clock.now);
  }
  throw new Error(`not Stable on CA 2 after 40 ticks (owner ${owner})`);
}

/** The end state every run must reach, crashed or not. */
async function expectStableOn2(env: LocalEnvironment, now: number, config: CertrotateConfig): Promise<void> {
  expect(await env.certificates.listCaGenerations(AUTHORITY)).toEqual([1, 2]);
  expect(await bundleGenerations(env, AUTHORITY)).toEqual([2]);
  const record = await env.state.readState(AUTHORITY);
  expect(record?.state).toMatchObject({ phase: 'Stable', generation: 2, highestGeneration: 2, retired: [1], abandoned: [], paused: false, rollingBack: false, contracting: false });
  expect(record?.state.target).toBeUndefined();
  expect(record?.state.retiring).toBeUndefined();

  const cas = [];
  for (const generation of [1, 2]) {
    const stored = await env.certificates.readCa(AUTHORITY, generation);
    if (stored !== undefined) cas.push({ generation, certificate: parseCertificate(stored.certificatePem) });
  }
  const directory = new CaDirectory(cas);
  const { leaves, unreadable } = await env.certificates.readLeaves(AUTHORITY, LEAF_IDS);
  expect(unreadable).toEqual([]);
  // No leaf lost: every configured leaf has a readable secret, issued by CA 2 for its own key,
  // whose ca.crt is the bundle [2].
  expect(
    leaves.map((leaf) => {
      const exam = directory.examineLeaf(leaf.certificatePem, leaf.privateKeyPem);
      return { id: leaf.id, generation: exam.generation, problem: exam.problem, holds: directory.generationsIn(leaf.bundlePem) };
    }),
  ).toEqual(LEAF_IDS.map((id) => ({ id, generation: 2, problem: undefined, holds: [2] })));
  // And valid now: every leaf chains to the bundle every peer holds, within its validity window.
  expect(await invariantChecker(env, config)(AUTHORITY, now)).toEqual([]);
}

const CA_2 = `certrotate/${AUTHORITY}/ca/2`;
/**
 * Crash points tried at most. A clean run makes C = 46 calls today, so every call is a crash
 * point; should C grow past this, every stride-th call is one instead, to keep the run short.
 */
const MAX_CRASH_POINTS = 120;
const CRASH_POINTS_IN_PARALLEL = 3;

/**
 * From a fresh environment: crash right after call k of the rotation, then tick again from
 * scratch (new lease owners, the clock past the dead run's lease) until Stable on CA 2, and check
 * the end state. Returns what went wrong, or undefined.
 */
async function crashAndRecover(k: number, calls: readonly string[], leafStore: LeafStoreKind): Promise<string | undefined> {
  const scenario = await forcedRotationPending(leafStore);
  const where = `crash after call ${k}/${calls.length} (${calls[k - 1] ?? '?'})`;
  try {
    scenario.crash.arm(k);
    const crashed: unknown = await driveToStableOn2(scenario, 'doomed').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(crashed, 'the run must die').toBeInstanceOf(SimulatedCrash);
    expect(scenario.crash.log, 'calls completed before the crash').toHaveLength(k);
    await scenario.crash.disarm();
    scenario.clock.now += LEASE_MS + MINUTE;
    await driveToStableOn2(scenario, 'recovery');
    await expectStableOn2(scenario.env, scenario.clock.now, scenario.config);
    expect(scenario.created.filter((name) => name === CA_2), 'CreateSecret requests for CA 2').toHaveLength(1);
    return undefined;
  } catch (error) {
    return `${where}: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    environments.splice(environments.indexOf(scenario.env), 1);
    await scenario.env.stop();
  }
}

describe.each(Object.keys(CONFIGS) as LeafStoreKind[])('leafStore %s', (leafStore) => {
describe('a forced rotation with a crash after any external call', () => {
  it('converges, run again from scratch, to Stable on CA 2 with CA 1 retired, exactly one CA 2 and no leaf lost', { timeout: 180_000 }, async () => {
    const clean = await forcedRotationPending(leafStore);
    await driveToStableOn2(clean, 'clean');
    // C: the external calls (DynamoDB and Secrets Manager) of a clean run from the command to the end.
    const calls = [...clean.crash.log];
    await expectStableOn2(clean.env, clean.clock.now, clean.config);
    expect(clean.created.filter((name) => name === CA_2)).toHaveLength(1);
    expect(calls).toContain('CreateSecretCommand');
    expect(calls).toContain('BatchWriteItemCommand');
    // The leaf writes are the store's: PutObject in the bucket, or secret writes.
    expect(calls.includes('PutObjectCommand')).toBe(leafStore === 's3');
    await Promise.all(environments.splice(0).map((env) => env.stop()));

    const stride = Math.ceil(calls.length / MAX_CRASH_POINTS);
    const points = Array.from({ length: Math.ceil(calls.length / stride) }, (_, i) => 1 + i * stride);
    const failures: string[] = [];
    // Each crash point has its own environment, so a few run side by side (they mostly wait on I/O).
    await forEachConcurrent(points, CRASH_POINTS_IN_PARALLEL, async (k) => {
      const failure = await crashAndRecover(k, calls, leafStore);
      if (failure !== undefined) failures.push(failure);
    });
    expect(failures).toEqual([]);
    expect(points).toHaveLength(stride === 1 ? calls.length : MAX_CRASH_POINTS);
  });
});

describe('ticks racing on a pending forced rotation', () => {
  it('ten concurrent ticks with different owners: one takes the lease and exactly one CA 2 is created', async () => {
    const scenario = await forcedRotationPending(leafStore);
    const reports = (
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => tick(scenario.deps, { now: scenario.clock.now, owner: `racer-${i}`, mode: 'scan', leaseMs: LEASE_MS })),
      )
    ).flat();
    expect(reports.filter((report) => report.skipped === undefined)).toHaveLength(1);
    expect(reports.filter((report) => report.skipped !== undefined)).toHaveLength(9);
    expect(scenario.created.filter((name) => name === CA_2)).toHaveLength(1);
    expect(await scenario.env.certificates.listCaGenerations(AUTHORITY)).toEqual([1, 2]);

    // Keep racing ten at a time, each round when the last one said to come back, to the end.
    for (let round = 1; round <= 10; round++) {
      const racers = (
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => tick(scenario.deps, { now: scenario.clock.now, owner: `round-${round}-${i}`, mode: 'scan', leaseMs: LEASE_MS })),
        )
      ).flat();
      const winner = racers.find((report) => report.skipped === undefined);
      if (finished(winner)) break;
      scenario.clock.now = nextTickAt(winner, scenario.clock.now);
    }
    await expectStableOn2(scenario.env, scenario.clock.now, scenario.config);
    expect(scenario.created.filter((name) => name === CA_2)).toHaveLength(1);
  });

  it('ten concurrent ticks that all get past the lease (each thinks it holds it) still store exactly one CA 2 that every leaf chains to', async () => {
    const scenario = await forcedRotationPending(leafStore);
    const real = scenario.env.state;
    // A run that outlived its lease and one that took the expired lease both act at once.
    const leaseless: StateStore<RotationState> = {
      ...delegatingStateStore(real),
      acquireLease: async (authority) => ({ stored: await real.readState(authority) }),
      releaseLease: () => Promise.resolve(),
    };
    const deps = { ...scenario.deps, state: leaseless };
    const check = invariantChecker(scenario.env, scenario.config);
    for (let round = 1; round <= 10; round++) {
      const racers = (
        await Promise.all(Array.from({ length: 10 }, (_, i) => tick(deps, { now: scenario.clock.now, owner: `round-${round}-${i}`, mode: 'scan' })))
      ).flat();
      expect(racers.every((report) => report.skipped === undefined)).toBe(true);
      expect(await check(AUTHORITY, scenario.clock.now), `invariant after round ${round}`).toEqual([]);
      if (racers.every(finished)) break;
      scenario.clock.now = Math.max(...racers.map((report) => nextTickAt(report, scenario.clock.now)));
    }
    await expectStableOn2(scenario.env, scenario.clock.now, scenario.config);
    // Several ticks may have sent CreateSecret for CA 2 (two, in the runs we watched); the store kept
    // the first, the others adopted it, so every leaf issued by any of them chains to the one CA 2.
    expect(await scenario.env.certificates.listCaGenerations(AUTHORITY)).toEqual([1, 2]);
  });
});
});
