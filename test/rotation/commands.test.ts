import { describe, expect, it } from 'vitest';
import { CommandRefusedError, ValidationError } from '../../lib/errors.js';
import {
  applyCommand,
  bundleOf,
  decide,
  initialRotationState,
  signerOf,
  type RotationCommand,
  type RotationState,
} from '../../lib/rotation/index.js';
import { DAY, HOUR, T0, config, rotating, stableOn1 } from './fixtures.js';
import { World } from './world.js';

const rotate = (requestId = 'r1', emergency = false): RotationCommand => ({
  kind: 'rotate-ca',
  requestId,
  reason: 'key compromise drill',
  emergency,
});
const rollback: RotationCommand = { kind: 'rollback', requestId: 'rb1', reason: 'clients failing' };

describe('rotate-ca', () => {
  it('starts a rotation from Stable to the next unused generation, recording who asked and why', () => {
    const state = applyCommand(stableOn1(), rotate(), T0);
    expect(state).toMatchObject({
      phase: 'Prepared',
      target: 2,
      highestGeneration: 2,
      emergency: false,
      forced: { requestId: 'r1', reason: 'key compromise drill', at: T0 },
    });
    expect(state.history.at(-1)).toEqual({
      from: 'Stable',
      to: 'Prepared',
      at: T0,
      why: 'rotation to CA 2 forced: key compromise drill',
      by: { kind: 'command', command: 'rotate-ca', requestId: 'r1', reason: 'key compromise drill' },
      generation: 1,
      target: 2,
    });
  });

  it('records an emergency rotation as such, in the state and the history', () => {
    const state = applyCommand(stableOn1(), rotate('r1', true), T0);
    expect(state.emergency).toBe(true);
    expect(state.history.at(-1)?.emergency).toBe(true);
    expect(state.history.at(-1)?.why).toMatch(/^EMERGENCY rotation to CA 2 forced \(soak times skipped\)/);
  });

  it.each(['Prepared', 'TrustExpanded', 'LeavesMigrated'] as const)('is refused while a rotation is at %s', (phase) => {
    expect(() => applyCommand(rotating(phase), rotate('r9'), T0)).toThrow(CommandRefusedError);
    expect(() => applyCommand(rotating(phase), rotate('r9'), T0)).toThrow(`rotation already in progress at phase ${phase}`);
  });

  it('is refused before the authority has a CA, and while paused', () => {
    expect(() => applyCommand(initialRotationState('cluster', T0), rotate(), T0)).toThrow(/has no CA yet/);
    expect(() => applyCommand({ ...stableOn1(), paused: true }, rotate(), T0)).toThrow(/paused: resume it/);
  });

  it('rejects an empty request id or reason as bad input', () => {
    expect(() => applyCommand(stableOn1(), { ...rotate(), requestId: ' ' }, T0)).toThrow(ValidationError);
    expect(() => applyCommand(stableOn1(), { ...rotate(), reason: '' }, T0)).toThrow(ValidationError);
  });
});

describe('idempotency by requestId', () => {
  it('returns the state unchanged when the same request is applied again', () => {
    const once = applyCommand(stableOn1(), rotate(), T0);
    expect(applyCommand(once, rotate(), T0 + HOUR)).toBe(once);
    const paused = applyCommand(once, { kind: 'pause', requestId: 'p1' }, T0);
    expect(applyCommand(paused, { kind: 'pause', requestId: 'p1' }, T0 + 1)).toBe(paused);
  });

  it('refuses a request id already used for another command', () => {
    const once = applyCommand(stableOn1(), rotate('same'), T0);
    expect(() => applyCommand(once, { kind: 'rollback', requestId: 'same' }, T0)).toThrow(
      /request same was already used for a rotate-ca command/,
    );
  });
});

describe('pause and resume', () => {
  it('pauses in any phase, recording it without changing the phase', () => {
    const state = applyCommand(rotating('TrustExpanded'), { kind: 'pause', requestId: 'p1', reason: 'investigating' }, T0);
    expect(state).toMatchObject({ paused: true, phase: 'TrustExpanded', phaseSince: T0 });
    expect(state.history.at(-1)).toMatchObject({ from: 'TrustExpanded', to: 'TrustExpanded', by: { command: 'pause' } });
  });

  it('refuses to pause twice or to resume what is not paused', () => {
    const paused = applyCommand(stableOn1(), { kind: 'pause', requestId: 'p1' }, T0);
    expect(() => applyCommand(paused, { kind: 'pause', requestId: 'p2' }, T0)).toThrow(/already paused/);
    expect(() => applyCommand(stableOn1(), { kind: 'resume', requestId: 'r1' }, T0)).toThrow(/is not paused/);
  });

  it('restarts the soak on resume: what was seen before the pause is stale', () => {
    const soaking = rotating('TrustExpanded', { gateMetAt: T0, paused: true });
    const resumed = applyCommand(soaking, { kind: 'resume', requestId: 'r1' }, T0 + DAY);
    expect(resumed).toMatchObject({ paused: false, gateMetAt: undefined });
  });
});

describe('rollback', () => {
  it('is refused in Stable: a retired CA is never trusted again', () => {
    expect(() => applyCommand(stableOn1(), rollback, T0)).toThrow(/nothing to roll back/);
  });

  it('is refused when already rolling back', () => {
    const rolling = applyCommand(rotating('TrustExpanded'), rollback, T0);
    expect(() => applyCommand(rolling, { ...rollback, requestId: 'rb2' }, T0)).toThrow(/already rolling back to CA 1/);
  });

  it('from Prepared abandons N+1 at once', () => {
    const state = applyCommand(rotating('Prepared'), rollback, T0);
    expect(state).toMatchObject({ phase: 'Stable', generation: 1, target: undefined, abandoned: [2], highestGeneration: 2 });
    expect(state.history.at(-1)).toMatchObject({ from: 'Prepared', to: 'Stable', by: { command: 'rollback', reason: 'clients failing' } });
  });

  it('from TrustExpanded keeps signer N and bundle [N N+1] until the walk drops N+1', () => {
    const state = applyCommand(rotating('TrustExpanded'), rollback, T0);
    expect(state).toMatchObject({ phase: 'TrustExpanded', rollingBack: true });
    expect(signerOf(state)).toBe(1);
    expect(bundleOf(state)).toEqual([1, 2]);
  });

  it('from LeavesMigrated re-sends [N N+1] to every consumer before the signer returns to N', () => {
    const state = applyCommand(rotating('LeavesMigrated'), rollback, T0);
    expect(state).toMatchObject({ phase: 'LeavesMigrated', rollingBack: true, lastPublish: undefined });
    expect(signerOf(state)).toBe(2);
    const next = decide(state, {
      caGenerations: [],
      consumers: [{ id: 'a', holds: [1, 2] }, { id: 'b', holds: [2] }],
      leaves: [],
    }, config, T0, { kind: 'schedule' });
    expect(next.step).toEqual({ kind: 'publish-bundle', generations: [1, 2], consumers: ['a', 'b'] });
  });

  it('is allowed while paused, and the walk waits for resume', () => {
    const paused = rotating('TrustExpanded', { paused: true });
    const state = applyCommand(paused, rollback, T0);
    expect(state).toMatchObject({ rollingBack: true, paused: true });
    expect(decide(state, { caGenerations: [], consumers: [], leaves: [] }, config, T0, { kind: 'schedule' }).step).toEqual({
      kind: 'wait',
      reason: 'paused',
    });
  });
});

describe('rollback walked to the end', () => {
  type Start = 'Prepared' | 'TrustExpanded' | 'LeavesMigrated' | 'LeavesMigrated (contracting)';

  /** Rotates 1 -> 2 in a world with lagging consumers, rolls back at `start`, and ticks to rest. */
  function rollBackFrom(start: Start): World {
    let lag = 0;
    const world = new World(config, { renewBeforeMs: DAY, jitterWindowMs: HOUR }, {
      consumers: 3,
      leaves: 5,
      leafLifetimeMs: 7 * DAY,
      caLifetimeMs: config.caLifetimeMs,
      lag: () => (lag = (lag + 17 * 60_000) % (90 * 60_000)),
    });
    const settle = (until: (s: RotationState) => boolean): void => {
      for (let i = 0; i < 200 && !until(world.state); i++) {
        world.tick();
        if (!until(world.state)) world.advance(15 * 60_000);
      }
      expect(until(world.state)).toBe(true);
    };
    settle(() => world.isSettled());
    expect(world.command(rotate())).toBe(true);
    const reached: Record<Start, (s: RotationState) => boolean> = {
      Prepared: (s) => s.phase === 'Prepared',
      TrustExpanded: (s) => s.phase === 'TrustExpanded',
      LeavesMigrated: (s) => s.phase === 'LeavesMigrated' && world.leaves.some((l) => l.generation === 2),
      'LeavesMigrated (contracting)': (s) => s.contracting && world.consumers.some((c) => c.holds.length === 1),
    };
    settle(reached[start]);
    expect(world.command(rollback)).toBe(true);
    settle(() => world.isSettled());
    return world;
  }

  it.each<Start>(['Prepared', 'TrustExpanded', 'LeavesMigrated', 'LeavesMigrated (contracting)'])(
    'from %s ends Stable on N with N+1 abandoned, the invariant kept, and the next rotation targeting N+2',
    (start) => {
      const world = rollBackFrom(start);
      expect(world.violations).toEqual([]);
      expect(world.state).toMatchObject({ phase: 'Stable', generation: 1, abandoned: [2], retired: [], rollingBack: false });
      expect(world.leaves.every((l) => l.generation === 1)).toBe(true);
      expect(world.consumers.every((c) => c.holds.join() === '1')).toBe(true);
      const backwards = world.state.history.filter((t) => t.by.kind === 'schedule' && /roll/.test(t.why));
      expect(backwards.every((t) => t.target === 2)).toBe(true);
      const again = applyCommand(world.state, rotate('r2'), world.now);
      expect(again.target).toBe(3);
    },
  );

  it('survives a contraction written but never recorded before the rollback', () => {
    const world = new World(config, { renewBeforeMs: DAY, jitterWindowMs: HOUR }, {
      consumers: 2,
      leaves: 3,
      leafLifetimeMs: 7 * DAY,
      caLifetimeMs: config.caLifetimeMs,
      lag: () => 30 * 60_000,
    });
    for (let i = 0; i < 20 && !world.isSettled(); i++) {
      world.tick();
      world.advance(HOUR);
    }
    world.command(rotate());
    // Drive to the moment the next decision contracts the bundle to [2].
    for (let i = 0; i < 100; i++) {
      const d = decide(world.state, world.observe(), config, world.now, { kind: 'schedule' });
      if (d.state.contracting) {
        world.perform(d.step); // written, then the tick dies before recording
        break;
      }
      world.tick();
      world.advance(15 * 60_000);
    }
    expect(world.consumers.every((c) => c.pending?.bundle.join() === '2')).toBe(true);
    expect(world.state.contracting).toBe(false);
    expect(world.command(rollback)).toBe(true);
    for (let i = 0; i < 200 && !world.isSettled(); i++) {
      world.tick();
      world.advance(10 * 60_000);
    }
    expect(world.violations).toEqual([]);
    expect(world.state).toMatchObject({ phase: 'Stable', generation: 1, abandoned: [2] });
  });
});

describe('a rollback that cannot finish before CA N expires', () => {
  const soakMs = config.soakMs;
  const caOneEnds = T0 + 100 * DAY;

  it.each(['TrustExpanded', 'LeavesMigrated'] as const)('is refused at %s once CA N has expired, saying why and what to do', (phase) => {
    const state = rotating(phase);
    expect(() => applyCommand(state, rollback, caOneEnds + 1, undefined, { currentCaNotAfter: caOneEnds, soakMs })).toThrow(
      /cannot roll back authority cluster to CA 1: it expired .*Let the rotation to CA 2 finish/,
    );
  });

  it('is refused when CA N would expire before the soaks of the walk back are over, and accepted with time to spare', () => {
    const state = rotating('LeavesMigrated');
    const walk = soakMs.trustExpanded + soakMs.leavesMigrated;
    expect(() => applyCommand(state, rollback, caOneEnds - walk, undefined, { currentCaNotAfter: caOneEnds, soakMs })).toThrow(/expires in/);
    const accepted = applyCommand(state, rollback, caOneEnds - walk - 2 * HOUR, undefined, { currentCaNotAfter: caOneEnds, soakMs });
    expect(accepted).toMatchObject({ rollingBack: true });
  });

  it.each([
    ['rollback-restore-trust', rotating('LeavesMigrated', { rollingBack: true, rollbackFrom: 'leaves-migrated' }), 'LeavesMigrated'],
    ['rollback-reissue', rotating('TrustExpanded', { rollingBack: true, rollbackFrom: 'trust-expanded' }), 'LeavesMigrated'],
    ['rollback-drop', rotating('Prepared', { rollingBack: true, rollbackFrom: 'trust-expanded' }), 'Prepared'],
  ] as const)('stuck at %s: a forced rotation supersedes it and goes forward to CA N+1', (_stage, state, to) => {
    const context = { currentCaNotAfter: caOneEnds, soakMs };
    expect(() => applyCommand(state, rollback, caOneEnds + 1, undefined, context)).toThrow(/already rolling back/);
    const forward = applyCommand(state, rotate('way-out', true), caOneEnds + 1, undefined, context);
    expect(forward).toMatchObject({ phase: to, rollingBack: false, target: 2, emergency: true });
    expect(signerOf(forward)).toBe(to === 'LeavesMigrated' ? 2 : 1);
    expect(forward.history.at(-1)?.why).toMatch(/forced over a rollback that cannot complete before CA 1 expires/);
  });

  it('a forced rotation is still refused during a rollback that can complete', () => {
    const state = rotating('LeavesMigrated', { rollingBack: true, rollbackFrom: 'leaves-migrated' });
    expect(() => applyCommand(state, rotate(), T0 + DAY, undefined, { currentCaNotAfter: caOneEnds, soakMs })).toThrow(/already in progress/);
  });
});
