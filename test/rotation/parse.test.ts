import { describe, expect, it } from 'vitest';
import { StoredDataError } from '../../lib/errors.js';
import { applyCommand, parseRotationState } from '../../lib/rotation/index.js';
import { T0, stableOn1 } from './fixtures.js';

/** A state as it comes back from storage: plain JSON. */
const stored = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('parseRotationState', () => {
  it('accepts the states the core writes, and keeps fields it does not know', () => {
    const rotating = applyCommand(stableOn1(), { kind: 'rotate-ca', requestId: 'r-1', reason: 'planned', emergency: false }, T0);
    expect(parseRotationState(stored(rotating))).toEqual(rotating);
    expect(parseRotationState(stored({ ...stableOn1(), addedLater: { x: 1 } }))).toMatchObject({ addedLater: { x: 1 } });
  });

  it('names every field that is wrong, as a StoredDataError', () => {
    const bad = stored({ ...stableOn1(), phase: 'Stabel', generation: -1, retired: [1, 'two'], history: [{ from: 'Stable', to: 'Nowhere', at: T0, why: 'x', by: { kind: 'cron' } }] });
    expect(() => parseRotationState(bad)).toThrow(StoredDataError);
    expect(() => parseRotationState(bad)).toThrow(/phase: expected one of Stable, Prepared, TrustExpanded, LeavesMigrated, got the string "Stabel"/);
    expect(() => parseRotationState(bad)).toThrow(/generation: must be at least 0/);
    expect(() => parseRotationState(bad)).toThrow(/retired\[1\]: expected a number/);
    expect(() => parseRotationState(bad)).toThrow(/history\[0\]\.to: expected one of/);
    expect(() => parseRotationState(bad)).toThrow(/history\[0\]\.by\.kind: expected one of schedule, command/);
  });

  it('refuses a rotating phase without the generation it rotates to, and anything that is not an object', () => {
    expect(() => parseRotationState(stored({ ...stableOn1(), phase: 'TrustExpanded' }))).toThrow(/target: required in phase TrustExpanded/);
    expect(() => parseRotationState([])).toThrow(/not a JSON object/);
    expect(() => parseRotationState(null)).toThrow(StoredDataError);
  });
});
