import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../../lib/errors.js';
import {
  defaultRenewalPolicy,
  dueLeaves,
  fnv1a32,
  jitterOf,
  renewAt,
  validateRenewalPolicy,
  type LeafCondition,
} from '../../lib/renewal/index.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2030, 0, 1);
const policy = defaultRenewalPolicy;

describe('renewAt', () => {
  it('is a day before notAfter, minus the jitter of the leaf', () => {
    const notAfter = NOW + 10 * DAY;
    expect(renewAt('web-1', notAfter, policy)).toBe(notAfter - DAY - jitterOf('web-1', HOUR));
  });

  it('uses a jitter that is the same every time and within the window', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 7 * DAY }), (id, window) => {
        const jitter = jitterOf(id, window);
        expect(jitter).toBe(jitterOf(id, window));
        expect(Number.isInteger(jitter)).toBe(true);
        expect(jitter).toBeGreaterThanOrEqual(0);
        expect(jitter).toBeLessThan(window);
      }),
    );
  });

  it('spreads leaves across the window instead of renewing them in the same second', () => {
    const jitters = new Set(Array.from({ length: 1000 }, (_, i) => Math.floor(jitterOf(`leaf-${i}`, HOUR) / 60_000)));
    expect(jitters.size).toBeGreaterThan(50);
  });

  it('has no jitter with a zero window', () => {
    expect(renewAt('a', NOW, { renewBeforeMs: DAY, jitterWindowMs: 0 })).toBe(NOW - DAY);
  });

  it('hashes with FNV-1a (known vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });
});

describe('dueLeaves', () => {
  const notAfter = NOW + 2 * DAY;
  const at = renewAt('web-1', notAfter, policy);
  const leaf: LeafCondition = { id: 'web-1', notAfter, generation: 1 };

  it('is not due a millisecond before renewAt', () => {
    expect(dueLeaves([leaf], [1], policy, at - 1)).toEqual([]);
  });

  it('is due as expiring at renewAt and after', () => {
    expect(dueLeaves([leaf], [1], policy, at)).toEqual([{ id: 'web-1', reason: 'expiring', renewAt: at }]);
    expect(dueLeaves([leaf], [1], policy, notAfter + DAY)).toEqual([{ id: 'web-1', reason: 'expiring', renewAt: at }]);
  });

  it.each(['missing', 'unparsable', 'key-mismatch', 'untrusted-issuer'] as const)(
    'reports a %s leaf as due now, however far its expiry',
    (problem) => {
      expect(dueLeaves([{ ...leaf, notAfter: NOW + 300 * DAY, problem }], [1], policy, NOW)).toEqual([
        { id: 'web-1', reason: problem },
      ]);
    },
  );

  it('reports a leaf from a generation outside the current bundle as an untrusted issuer', () => {
    const far = { ...leaf, notAfter: NOW + 300 * DAY };
    expect(dueLeaves([far], [2], policy, NOW)).toEqual([{ id: 'web-1', reason: 'untrusted-issuer' }]);
    expect(dueLeaves([far], [1, 2], policy, NOW)).toEqual([]);
    expect(dueLeaves([{ id: 'x', notAfter: NOW + 300 * DAY }], [1], policy, NOW)).toEqual([
      { id: 'x', reason: 'untrusted-issuer' },
    ]);
  });

  it('reports a leaf without an expiry as unparsable rather than skipping it', () => {
    expect(dueLeaves([{ id: 'x', generation: 1 }], [1], policy, NOW)).toEqual([{ id: 'x', reason: 'unparsable' }]);
  });

  it('lists problems first, then the earliest due', () => {
    const leaves: LeafCondition[] = [
      { id: 'late', notAfter: NOW + DAY - HOUR * 0.5, generation: 1 },
      { id: 'early', notAfter: NOW - DAY, generation: 1 },
      { id: 'gone', problem: 'missing' },
      { id: 'fine', notAfter: NOW + 300 * DAY, generation: 1 },
    ];
    expect(dueLeaves(leaves, [1], policy, NOW).map((d) => d.id)).toEqual(['gone', 'early', 'late']);
  });
});

describe('validateRenewalPolicy', () => {
  it('accepts the default: a day before expiry, within an hour of jitter', () => {
    expect(defaultRenewalPolicy).toEqual({ renewBeforeMs: DAY, jitterWindowMs: HOUR });
    expect(() => validateRenewalPolicy(defaultRenewalPolicy)).not.toThrow();
  });

  it('rejects a non-positive renewBefore and a negative jitter window', () => {
    expect(() => validateRenewalPolicy({ renewBeforeMs: 0, jitterWindowMs: HOUR })).toThrow(ValidationError);
    expect(() => validateRenewalPolicy({ renewBeforeMs: DAY, jitterWindowMs: -1 })).toThrow(ValidationError);
  });
});
