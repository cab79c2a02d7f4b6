/**
 * One chaos run: a random scenario of renewals, rotations and operator commands on one authority,
 * with the process crashed right after a random external call (the crash injector of the engine
 * tests), then scheduled runs until the authority is quiet. What must hold: the zero-downtime
 * invariant after every step (every leaf verifies, now, against every bundle a peer holds), and
 * convergence (Stable, every leaf from the current CA and valid, within a bounded number of runs).
 */
import { CommandRefusedError, NotFoundError } from '../../lib/errors.js';
import { runCommand } from '../../lib/engine/commands.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import type { LocalEnvironment } from '../../lib/local/environment.js';
import { DroppingOldCaStore } from '../../lib/simulation/broken.js';
import { seededRandom } from '../../lib/simulation/inventory.js';
import type { RotationCommand, RotationState } from '../../lib/rotation/index.js';
import { SimulatedCrash, type CrashInjector } from '../support/crash.js';
import { fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2030, 0, 1);
/** Runs allowed after the scenario for the authority to become quiet. */
const MAX_SETTLING_RUNS = 300;
const LEASE_MS = 60_000;

type Step =
  | { kind: 'scan' | 'reconcile'; after: number }
  | { kind: 'command'; command: RotationCommand };

export interface ChaosOptions {
  /** Run a deliberately broken deployment (bundles lose the old CA early): the suite must catch it. */
  broken?: boolean;
  /** Where the authority's leaves live (the S3 leaf bucket needs an environment started with one). */
  leafStore?: 'secretsmanager' | 's3';
}

export interface ChaosOutcome {
  seed: number;
  steps: number;
  crashedAt: string | undefined;
  failure: string | undefined;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function randomSteps(random: () => number, count: number): Step[] {
  const waits = [5 * MINUTE, HOUR, 6 * HOUR, 12 * HOUR];
  return Array.from({ length: count }, (_, i): Step => {
    const roll = random();
    if (roll < 0.7) return { kind: 'scan', after: pick(random, waits) };
    if (roll < 0.78) return { kind: 'reconcile', after: pick(random, waits) };
    const requestId = `chaos-${i}`;
    const command = pick(random, ['rotate-ca', 'rotate-ca', 'pause', 'resume', 'rollback'] as const);
    if (command === 'rotate-ca') return { kind: 'command', command: { kind: command, requestId, reason: 'chaos', emergency: random() < 0.3 } };
    return { kind: 'command', command: { kind: command, requestId, reason: 'chaos' } };
  });
}

function isQuiet(state: RotationState | undefined): boolean {
  return state !== undefined && state.phase === 'Stable' && !state.paused && state.target === undefined && state.retiring === undefined;
}

/**
 * Runs one scenario in `env` (its own authority), crashing the run after a random call of it;
 * `observer` reads the same endpoints through clients the crash injector does not count.
 */
export async function chaosRun(env: LocalEnvironment, observer: LocalEnvironment, crash: CrashInjector, seed: number, options: ChaosOptions = {}): Promise<ChaosOutcome> {
  // The simulation's seeded PRNG: a failing run is replayed from its seed alone.
  const random = seededRandom(seed);
  const authority = `chaos-${seed}`;
  const config = fleetConfig({ authority, leaves: 2 + Math.floor(random() * 4), caLifetimeDays: pick(random, [45, 60, 120]), soakHours: pick(random, [1, 2]), ...(options.leafStore === undefined ? {} : { leafStore: options.leafStore }) });
  const deps = options.broken === true ? { ...env.deps(config), certificates: new DroppingOldCaStore(env.certificates) } : env.deps(config);
  const check = invariantChecker(observer, config);
  const steps = randomSteps(random, 15 + Math.floor(random() * 25));
  const crashAfter = 1 + Math.floor(random() * 150);
  let now = T0;
  let owner = 0;
  let crashedAt: string | undefined;
  const outcome = (failure?: string): ChaosOutcome => ({ seed, steps: steps.length, crashedAt, failure });

  const scheduled = async (mode: 'scan' | 'reconcile'): Promise<AuthorityReport | undefined> => {
    const [report] = await tick(deps, { now, owner: `chaos-${seed}-${owner++}`, mode, leaseMs: LEASE_MS });
    return report;
  };
  /** One step; a crash is the process dying (the next step is a new process), anything else unexpected fails the run. */
  const attempt = async (what: string, action: () => Promise<unknown>): Promise<string | undefined> => {
    try {
      await action();
    } catch (error) {
      if (error instanceof SimulatedCrash) {
        crashedAt = `${what} at ${new Date(now).toISOString()} (${error.message})`;
        await crash.disarm();
        crash.reset();
        return undefined;
      }
      // A refusal is an answer, not a failure: a command refused, or sent before the crashed
      // bootstrap run left any state (the operator is told to wait for the first scan).
      if (error instanceof CommandRefusedError || error instanceof NotFoundError) return undefined;
      return `${what} at ${new Date(now).toISOString()} threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    }
    const violations = await check(authority, now);
    return violations.length === 0 ? undefined : `after ${what} at ${new Date(now).toISOString()}: ${violations.join('; ')}`;
  };

  crash.reset();
  crash.arm(crashAfter);
  const bootstrap = await attempt('bootstrap', () => scheduled('reconcile'));
  if (bootstrap !== undefined) return outcome(bootstrap);
  for (const [index, step] of steps.entries()) {
    if (step.kind !== 'command') now += step.after;
    const failure =
      step.kind === 'command'
        ? await attempt(`step ${index} ${step.command.kind}`, () => runCommand(env.state, authority, step.command, now))
        : await attempt(`step ${index} ${step.kind}`, () => scheduled(step.kind));
    if (failure !== undefined) return outcome(failure);
  }
  await crash.disarm();
  return outcome(await settle());

  /** Resumes a paused authority, then runs scans until it is quiet and every leaf is from its CA. */
  async function settle(): Promise<string | undefined> {
    await attempt('resume', () => runCommand(env.state, authority, { kind: 'resume', requestId: `chaos-${seed}-final-resume`, reason: 'chaos end' }, now));
    for (let run = 0; run < MAX_SETTLING_RUNS; run++) {
      const state = (await env.state.readState(authority))?.state;
      if (isQuiet(state) && state !== undefined) {
        const generations = [...(await leafGenerations(observer, config, authority)).values()];
        if (generations.every((generation) => generation === state.generation)) return undefined;
      }
      now += run % 12 === 11 ? 6 * HOUR : 5 * MINUTE;
      const failure = await attempt(`settling run ${run}`, () => scheduled(run % 24 === 23 ? 'reconcile' : 'scan'));
      if (failure !== undefined) return failure;
    }
    const state = (await env.state.readState(authority))?.state;
    return `not quiet after ${MAX_SETTLING_RUNS} runs (${Math.round((now - T0) / DAY)} days): phase ${state?.phase}, generation ${state?.generation}, target ${state?.target}, paused ${state?.paused}`;
  }
}
