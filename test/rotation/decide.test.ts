import { describe, expect, it } from 'vitest';
import { decide, initialRotationState, plan, type RotationState } from '../../lib/rotation/index.js';
import { DAY, HOUR, T0, ca, config, observed, rotating, schedule, stableOn1 } from './fixtures.js';
import { World } from './world.js';

const SOAK = config.soakMs.trustExpanded;

describe('bootstrap', () => {
  const fresh = initialRotationState('cluster', T0);

  it('generates CA 1 when nothing is stored', () => {
    const { step, state } = decide(fresh, observed([], { a: [] }, {}), config, T0, schedule);
    expect(step).toEqual({ kind: 'generate-ca', generation: 1 });
    expect(state).toMatchObject({ generation: 0, target: 1, highestGeneration: 1 });
  });

  it('publishes [1] to every consumer once CA 1 is stored, even if the record of generating it was lost', () => {
    const { step } = decide(fresh, observed([1], { a: [], b: undefined }, {}), config, T0, schedule);
    expect(step).toEqual({ kind: 'publish-bundle', generations: [1], consumers: ['a', 'b'] });
  });

  it('becomes Stable on CA 1 once every consumer holds [1]', () => {
    const published = { ...fresh, target: 1, highestGeneration: 1, lastPublish: { generations: [1], at: T0 } };
    const { step, state } = decide(published, observed([1], { a: [1], b: [1] }, {}), config, T0 + 1, schedule);
    expect(step).toEqual({ kind: 'none' });
    expect(state).toMatchObject({ generation: 1, phase: 'Stable', target: undefined, highestGeneration: 1 });
    expect(state.history).toEqual([
      expect.objectContaining({ from: 'Stable', to: 'Stable', by: schedule, generation: 0, target: 1, at: T0 + 1 }),
    ]);
  });
});

describe('Stable', () => {
  const dueAt = T0 + 365 * DAY - config.rotationLeadMs;

  it('does nothing until the CA expires within the lead time', () => {
    const { step, state } = decide(stableOn1(), observed([1], { a: [1] }, { x: 1 }), config, dueAt - 1, schedule);
    expect(step).toEqual({ kind: 'none' });
    expect(state.phase).toBe('Stable');
  });

  it('starts a rotation to the next unused generation as soon as it is due, and generates that CA', () => {
    const { step, state } = decide(stableOn1(), observed([1], { a: [1] }, { x: 1 }), config, dueAt, schedule);
    expect(step).toEqual({ kind: 'generate-ca', generation: 2 });
    expect(state).toMatchObject({ phase: 'Prepared', target: 2, highestGeneration: 2, phaseSince: dueAt });
    expect(state.history.at(-1)).toMatchObject({ from: 'Stable', to: 'Prepared', by: schedule, target: 2 });
    expect(state.history.at(-1)?.why).toMatch(/CA 1 expires at .* within the rotation lead time of 30d/);
  });

  it('never reuses an abandoned generation number', () => {
    const afterRollback = { ...stableOn1(), highestGeneration: 2, abandoned: [2] };
    const { step, state } = decide(afterRollback, observed([1, 2], { a: [1] }, {}), config, dueAt, schedule);
    expect(step).toEqual({ kind: 'generate-ca', generation: 3 });
    expect(state.target).toBe(3);
  });

  it('re-sends [N] only to a consumer holding something else, and only after the republish interval', () => {
    const obs = observed([1], { a: [1], b: [1, 2] }, {});
    const early = decide(stableOn1(), obs, config, T0 + config.republishAfterMs - 1, schedule);
    expect(early.step).toMatchObject({ kind: 'wait', until: T0 + config.republishAfterMs });
    const later = decide(stableOn1(), obs, config, T0 + config.republishAfterMs, schedule);
    expect(later.step).toEqual({ kind: 'publish-bundle', generations: [1], consumers: ['b'] });
  });

  it('says so when its CA is missing from the store instead of doing nothing silently', () => {
    const { step } = decide(stableOn1(), observed([], { a: [1] }, {}), config, T0, schedule);
    expect(step.kind).toBe('wait');
    expect(step.kind === 'wait' ? step.reason : '').toContain('CA 1 is not in the store');
  });
});

describe('Prepared', () => {
  it('generates CA N+1 while it is not stored', () => {
    const state = rotating('Prepared');
    const next = decide(state, observed([1], { a: [1] }, { x: 1 }), config, T0, schedule);
    expect(next.step).toEqual({ kind: 'generate-ca', generation: 2 });
    expect(next.state).toEqual(state);
  });

  it('expands trust once CA N+1 is stored: TrustExpanded, and [1 2] sent to every consumer', () => {
    const next = decide(rotating('Prepared'), observed([1, 2], { a: [1], b: [1] }, { x: 1 }), config, T0, schedule);
    expect(next.state.phase).toBe('TrustExpanded');
    expect(next.step).toEqual({ kind: 'publish-bundle', generations: [1, 2], consumers: ['a', 'b'] });
    expect(next.state.lastPublish).toEqual({ generations: [1, 2], at: T0 });
  });
});

describe('TrustExpanded', () => {
  const cas = [1, 2];

  it('does not switch the signer while one consumer still holds only [N]', () => {
    const next = decide(rotating('TrustExpanded'), observed(cas, { a: [1, 2], b: [1] }, { x: 1 }), config, T0 + DAY, schedule);
    expect(next.state.phase).toBe('TrustExpanded');
    expect(next.step).toEqual({ kind: 'publish-bundle', generations: [1, 2], consumers: ['b'] });
  });

  it('does not switch the signer while a consumer is unreadable', () => {
    const next = decide(rotating('TrustExpanded'), observed(cas, { a: [1, 2], b: undefined }, {}), config, T0 + 1, schedule);
    expect(next.state.phase).toBe('TrustExpanded');
    expect(next.step).toMatchObject({ kind: 'wait' });
  });

  it('counts the soak from when every consumer was first seen holding [N N+1], not from phase entry', () => {
    const enteredLongAgo = rotating('TrustExpanded', { phaseSince: T0 - 10 * DAY });
    const obs = observed(cas, { a: [2, 1], b: [1, 2] }, { x: 1 });
    const first = decide(enteredLongAgo, obs, config, T0, schedule);
    expect(first.step).toEqual({ kind: 'wait', reason: 'switch the signer to CA 2 after soak', until: T0 + SOAK });
    expect(first.state.gateMetAt).toBe(T0);
    const almost = decide(first.state, obs, config, T0 + SOAK - 1, schedule);
    expect(almost.state.phase).toBe('TrustExpanded');
    expect(almost.state.gateMetAt).toBe(T0);
  });

  it('switches the signer to N+1 after the soak and starts reissuing leaves from it', () => {
    const soaking = rotating('TrustExpanded', { gateMetAt: T0 });
    const obs = observed(cas, { a: [1, 2] }, { x: 1, y: 1 });
    const next = decide(soaking, obs, config, T0 + SOAK, schedule);
    expect(next.state).toMatchObject({ phase: 'LeavesMigrated', gateMetAt: undefined, phaseSince: T0 + SOAK });
    expect(next.step).toEqual({ kind: 'reissue-leaves', generation: 2, leafIds: ['x', 'y'] });
    expect(next.state.history.at(-1)).toMatchObject({ from: 'TrustExpanded', to: 'LeavesMigrated' });
  });

  it('restarts the soak when a consumer falls back to [N] during it', () => {
    const soaking = rotating('TrustExpanded', { gateMetAt: T0, lastPublish: { generations: [1, 2], at: T0 + HOUR } });
    const lagging = decide(soaking, observed(cas, { a: [1] }, {}), config, T0 + HOUR, schedule);
    expect(lagging.state.gateMetAt).toBeUndefined();
    const again = decide(lagging.state, observed(cas, { a: [1, 2] }, {}), config, T0 + SOAK, schedule);
    expect(again.step).toMatchObject({ kind: 'wait', until: T0 + 2 * SOAK });
  });

  it('in an emergency skips the soak but still waits for every consumer', () => {
    const emergency = rotating('TrustExpanded', { emergency: true });
    const waiting = decide(emergency, observed(cas, { a: [1, 2], b: [1] }, { x: 1 }), config, T0 + 1, schedule);
    expect(waiting.state.phase).toBe('TrustExpanded');
    const next = decide(emergency, observed(cas, { a: [1, 2], b: [1, 2] }, { x: 1 }), config, T0 + 1, schedule);
    expect(next.state.phase).toBe('LeavesMigrated');
    expect(next.state.history.at(-1)?.emergency).toBe(true);
    expect(next.state.history.at(-1)?.why).toContain('EMERGENCY: soak skipped');
  });
});

describe('once CA N has expired', () => {
  const expiry = T0 + 30 * DAY;
  const cas = [ca(1, expiry), ca(2)];
  const after = expiry + HOUR;

  it('counts consumers holding only CA N+1 as holding the bundle, and skips the soak: every leaf from N is dead already', () => {
    const { step, state } = decide(rotating('TrustExpanded'), { ...observed([], { a: [2], b: [2] }, { x: 1 }), caGenerations: cas }, config, after, schedule);
    expect(state.phase).toBe('LeavesMigrated');
    expect(step).toEqual({ kind: 'reissue-leaves', generation: 2, leafIds: ['x'] });
  });

  it('still wants CA N in the bundle before it expires', () => {
    const { step } = decide(rotating('TrustExpanded'), { ...observed([], { a: [2], b: [1, 2] }, { x: 1 }), caGenerations: cas }, config, expiry - HOUR, schedule);
    expect(step.kind).toBe('publish-bundle');
  });
});

describe('LeavesMigrated', () => {
  const cas = [1, 2];

  it('reissues from N+1 every leaf not from it, missing ones included', () => {
    const next = decide(rotating('LeavesMigrated'), observed(cas, { a: [1, 2] }, { x: 2, y: 1, z: undefined }), config, T0, schedule);
    expect(next.step).toEqual({ kind: 'reissue-leaves', generation: 2, leafIds: ['y', 'z'] });
  });

  it('keeps N in the bundle while one leaf is still from N, however long it has been', () => {
    const soaked = rotating('LeavesMigrated', { gateMetAt: T0 });
    const next = decide(soaked, observed(cas, { a: [1, 2] }, { x: 2, y: 1 }), config, T0 + 30 * DAY, schedule);
    expect(next.state.contracting).toBe(false);
    expect(next.step).toMatchObject({ kind: 'reissue-leaves' });
  });

  it('drops N from the bundle only after every leaf has been from N+1 for the soak', () => {
    const obs = observed(cas, { a: [1, 2], b: [2, 1] }, { x: 2, y: 2 });
    const first = decide(rotating('LeavesMigrated'), obs, config, T0, schedule);
    expect(first.step).toEqual({ kind: 'wait', reason: 'drop CA 1 from the bundle after soak', until: T0 + SOAK });
    const next = decide(first.state, obs, config, T0 + SOAK, schedule);
    expect(next.state).toMatchObject({ phase: 'LeavesMigrated', contracting: true });
    expect(next.step).toEqual({ kind: 'publish-bundle', generations: [2], consumers: ['a', 'b'] });
  });

  it('does not retire N while a consumer still holds [N N+1]', () => {
    const contracting = rotating('LeavesMigrated', { contracting: true, lastPublish: { generations: [2], at: T0 } });
    const next = decide(contracting, observed(cas, { a: [2], b: [1, 2] }, { x: 2 }), config, T0 + 1, schedule);
    expect(next.state.phase).toBe('LeavesMigrated');
    expect(next.step).toMatchObject({ kind: 'wait' });
  });

  it('records Stable on N+1 with N retired first, then retires CA N on the next decision', () => {
    const contracting = rotating('LeavesMigrated', { contracting: true, lastPublish: { generations: [2], at: T0 } });
    const obs = observed(cas, { a: [2], b: [2] }, { x: 2 });
    const done = decide(contracting, obs, config, T0 + 1, schedule);
    expect(done.state).toMatchObject({ phase: 'Stable', generation: 2, target: undefined, retired: [1], retiring: 1 });
    expect(done.step).toMatchObject({ kind: 'wait', until: T0 + 1 });
    expect(done.state.history.at(-1)).toMatchObject({ from: 'LeavesMigrated', to: 'Stable', generation: 1, target: 2 });
    const retire = decide(done.state, obs, config, T0 + 2, schedule);
    expect(retire.step).toEqual({ kind: 'retire-ca', generation: 1 });
    expect(retire.state.retiring).toBeUndefined();
    expect(decide(retire.state, obs, config, T0 + 3, schedule).step).toEqual({ kind: 'none' });
  });

  it('still retires the old CA when a new rotation was forced before the retirement was carried out', () => {
    const forcedAgain = { ...rotating('Prepared'), generation: 2, target: 3, highestGeneration: 3, retired: [1], retiring: 1 };
    const next = decide(forcedAgain, observed([1, 2], { a: [2] }, {}), config, T0, schedule);
    expect(next.step).toEqual({ kind: 'retire-ca', generation: 1 });
    expect(next.state).toMatchObject({ phase: 'Prepared', retiring: undefined });
  });
});

describe('one transition per decision', () => {
  it('stops after one transition when the next gate is already met, asking to be called again at once', () => {
    // Emergency, every leaf already from CA 2 (a crashed tick reissued them): TrustExpanded could
    // run through LeavesMigrated to dropping CA 1, while the record still says signer 1.
    const emergency = rotating('TrustExpanded', { emergency: true });
    const obs = observed([1, 2], { a: [1, 2] }, { x: 2 });
    const first = decide(emergency, obs, config, T0, schedule);
    expect(first.state).toMatchObject({ phase: 'LeavesMigrated', contracting: false });
    expect(first.step).toMatchObject({ kind: 'wait', until: T0 });
    const second = decide(first.state, obs, config, T0, schedule);
    expect(second.state.contracting).toBe(true);
    expect(second.step).toEqual({ kind: 'publish-bundle', generations: [2], consumers: ['a'] });
  });
});

describe('paused', () => {
  const cases: [string, RotationState, ReturnType<typeof observed>][] = [
    ['before bootstrap', initialRotationState('cluster', T0), observed([], {}, {})],
    ['in Stable with a rotation due', stableOn1(), { ...observed([], { a: [1] }, {}), caGenerations: [ca(1, T0)] }],
    ['in Prepared with CA N+1 missing', rotating('Prepared'), observed([1], { a: [1] }, {})],
    ['in TrustExpanded with the gate met and soaked', rotating('TrustExpanded', { gateMetAt: T0 - DAY }), observed([1, 2], { a: [1, 2] }, {})],
    ['in LeavesMigrated with leaves to reissue', rotating('LeavesMigrated'), observed([1, 2], { a: [1, 2] }, { x: 1 })],
  ];
  it.each(cases)('never transitions and performs nothing %s', (_, state, obs) => {
    const paused = { ...state, paused: true };
    const next = decide(paused, obs, config, T0 + 400 * DAY, schedule);
    expect(next.step).toEqual({ kind: 'wait', reason: 'paused' });
    expect(next.state).toBe(paused);
  });
});

describe('plan', () => {
  it('shows what the next tick would do without changing the state', () => {
    const state = rotating('Prepared');
    const before = JSON.stringify(state);
    const p = plan(state, observed([1, 2], { a: [1], b: [1] }, {}), config, T0);
    expect(p.step).toEqual({ kind: 'publish-bundle', generations: [1, 2], consumers: ['a', 'b'] });
    expect(p.description).toBe('move to TrustExpanded (2/4), then publish bundle [1 2] to 2 consumers');
    expect(p.transitions).toEqual([expect.objectContaining({ from: 'Prepared', to: 'TrustExpanded' })]);
    expect(JSON.stringify(state)).toBe(before);
  });
});

describe('crash between performing a step and recording the state', () => {
  /** A forced rotation driven to rest, crashing once after the k-th step of every tick. */
  function rotateWithCrashes(crashAfter: number | undefined): World {
    const world = new World(config, { renewBeforeMs: DAY, jitterWindowMs: HOUR }, {
      consumers: 3,
      leaves: 4,
      leafLifetimeMs: 7 * DAY,
      caLifetimeMs: config.caLifetimeMs,
      lag: () => 0,
    });
    world.tick();
    world.tick();
    world.command({ kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false });
    for (let i = 0; i < 100 && !(world.isSettled() && world.state.generation === 2); i++) {
      if (crashAfter !== undefined) world.tick({ crashAfter });
      world.tick();
      world.advance(HOUR);
    }
    return world;
  }

  const reference = rotateWithCrashes(undefined);

  it.each([0, 1, 2, 3])('converges to the same end state when every tick crashes after step %i', (k) => {
    const world = rotateWithCrashes(k);
    expect(world.violations).toEqual([]);
    expect(world.isSettled()).toBe(true);
    const summary = (w: World) => ({
      generation: w.state.generation,
      retired: w.state.retired,
      abandoned: w.state.abandoned,
      stored: [...w.cas.keys()],
      path: w.state.history.map((t) => `${t.from}>${t.to}`),
    });
    expect(summary(world)).toEqual(summary(reference));
    expect(reference.state.generation).toBe(2);
  });

  it('generates CA N+1 again after a crash, and the store keeps exactly one', () => {
    const state = rotating('Prepared');
    const first = decide(state, observed([1], { a: [1] }, {}), config, T0, schedule);
    expect(first.step).toEqual({ kind: 'generate-ca', generation: 2 });
    // Performed, not recorded: the old state sees CA 2 stored and moves on.
    const again = decide(state, observed([1, 2], { a: [1] }, {}), config, T0 + 1, schedule);
    expect(again.step).toMatchObject({ kind: 'publish-bundle', generations: [1, 2] });
  });
});
