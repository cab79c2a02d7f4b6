import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RenewalPolicy } from '../../lib/renewal/index.js';
import { defaultRotationConfig, type RotationCommand, type RotationConfig } from '../../lib/rotation/index.js';
import { DAY, HOUR, World } from './world.js';

const config: RotationConfig = { ...defaultRotationConfig, caLifetimeMs: 40 * DAY, rotationLeadMs: 10 * DAY };
const policy: RenewalPolicy = { renewBeforeMs: DAY, jitterWindowMs: HOUR };

type Op =
  | { kind: 'advance'; ms: number }
  | { kind: 'tick'; crashAfter?: number }
  | { kind: 'race'; at: number; command: RotationCommand }
  | { kind: 'command'; command: RotationCommand };

// Mostly fresh request ids, sometimes a repeat: a retried command must change nothing.
const requestId = fc.integer({ min: 0, max: 400 }).map((i) => `req-${i}`);
const command: fc.Arbitrary<RotationCommand> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('rotate-ca' as const),
      requestId,
      reason: fc.constant('test'),
      emergency: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pause' as const), requestId }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resume' as const), requestId }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rollback' as const), requestId }) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 6 * 60 }).map((m) => ({ kind: 'advance' as const, ms: m * 60_000 })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'tick' as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 }).map((crashAfter) => ({ kind: 'tick' as const, crashAfter })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('race' as const), at: fc.integer({ min: 0, max: 3 }), command }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('command' as const), command }) },
);

/** A small deterministic generator for consumer lags, seeded by fast-check. */
function lags(seed: number, maxMs: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    // A third of publishes land at once, the rest after up to maxMs.
    return x % 3 === 0 ? 0 : x % maxMs;
  };
}

function run(seed: number, consumers: number, leaves: number, ops: Op[]): World {
  const world = new World(config, policy, {
    consumers,
    leaves,
    leafLifetimeMs: 1.5 * DAY,
    caLifetimeMs: config.caLifetimeMs,
    lag: lags(seed, 3 * HOUR),
  });
  world.tick();
  for (const o of ops) {
    switch (o.kind) {
      case 'advance':
        world.advance(o.ms);
        break;
      case 'tick':
        world.tick(o.crashAfter === undefined ? {} : { crashAfter: o.crashAfter });
        break;
      case 'race':
        world.tick({ race: { at: o.at, command: o.command } });
        break;
      case 'command':
        world.command(o.command);
        break;
    }
    if (world.violations.length > 0) return world;
  }
  // Commands stop. A paused authority stays put by design, so the operator resumes it.
  if (world.state.paused) world.command({ kind: 'resume', requestId: 'final-resume' });
  for (let i = 0; i < 1000 && !world.isSettled() && world.violations.length === 0; i++) {
    world.tick();
    if (!world.isSettled()) world.advance(15 * 60_000);
  }
  return world;
}

describe('the rotation invariant under random interleavings', () => {
  it('keeps every leaf verifiable by every consumer at every instant, and always comes to rest on Stable', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(op, { minLength: 10, maxLength: 150, size: 'max' }),
        (seed, consumers, leaves, ops) => {
          const world = run(seed, consumers, leaves, ops);
          expect(world.violations).toEqual([]);
          expect(world.isSettled()).toBe(true);
          expect(world.state.paused).toBe(false);
          expect(world.state.emergency).toBe(false);
          // Numbers are never reused: retired and abandoned generations are distinct and below N.
          const used = [...world.state.retired, ...world.state.abandoned];
          expect(new Set(used).size).toBe(used.length);
          expect(used.every((g) => g < world.state.generation || world.state.abandoned.includes(g))).toBe(true);
          expect(world.state.highestGeneration).toBeGreaterThanOrEqual(world.state.generation);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('settles on Stable with all leaves from the newest CA after a plain scheduled rotation', () => {
    const world = run(7, 3, 4, []);
    expect(world.isSettled()).toBe(true);
    expect(world.state.generation).toBe(1);
    world.advance(31 * DAY);
    world.tick();
    for (let i = 0; i < 400 && !world.isSettled(); i++) {
      world.advance(15 * 60_000);
      world.tick();
    }
    expect(world.violations).toEqual([]);
    expect(world.state.generation).toBe(2);
    expect(world.state.retired).toEqual([1]);
    expect(world.isSettled()).toBe(true);
  });
});
