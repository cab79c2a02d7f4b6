import { describe, expect, it } from 'vitest';
import { compactHistory, firstHistorySequence, nextHistorySequence, type RotationState, type Transition } from '../../lib/rotation/index.js';
import { T0, stableOn1 } from './fixtures.js';

/** Fixed-width numbers: every entry has the same size. */
const id = (i: number) => String(i).padStart(4, '0');

function entry(i: number, reason = 'operator pause'): Transition {
  return { from: 'Stable', to: 'Stable', at: T0 + i, why: `entry ${id(i)}`, by: { kind: 'command', command: 'pause', requestId: `r-${id(i)}`, reason }, generation: 1 };
}

function withHistory(count: number, archivedHistory?: number): RotationState {
  return { ...stableOn1(), history: Array.from({ length: count }, (_, i) => entry((archivedHistory ?? 0) + i)), ...(archivedHistory === undefined ? {} : { archivedHistory }) };
}

const bytes = (entries: readonly Transition[]) => entries.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)), 0);

describe('compactHistory', () => {
  it('leaves a state alone while its history is within the high mark', () => {
    const state = withHistory(10);
    expect(compactHistory(state, state.history.length, { highBytes: bytes(state.history), lowBytes: 100 })).toBeUndefined();
  });

  it('moves the oldest entries out until the rest is within the low mark, numbering them on from the archive', () => {
    const state = withHistory(40, 7);
    const one = bytes([entry(0)]);
    const compacted = compactHistory(state, state.history.length, { highBytes: 30 * one, lowBytes: 10 * one });
    if (compacted === undefined) throw new Error('expected the history to be compacted');
    expect(compacted.firstSequence).toBe(7);
    expect(compacted.archived.map((e) => e.by.kind === 'command' && e.by.requestId)).toEqual(Array.from({ length: 30 }, (_, i) => `r-${id(7 + i)}`));
    expect(compacted.state.history).toEqual(state.history.slice(30));
    expect(bytes(compacted.state.history)).toBeLessThanOrEqual(10 * one);
    expect(firstHistorySequence(compacted.state)).toBe(37);
    // Nothing is lost or renumbered: the next entry is numbered as if nothing had moved.
    expect(nextHistorySequence(compacted.state)).toBe(nextHistorySequence(state));
  });

  it('keeps the newest entry even when it alone is over the budget', () => {
    const state = { ...withHistory(3), history: [entry(0), entry(1), entry(2, 'x'.repeat(1024))] };
    const compacted = compactHistory(state, state.history.length, { highBytes: 500, lowBytes: 100 });
    expect(compacted?.state.history).toEqual([entry(2, 'x'.repeat(1024))]);
    expect(compacted?.state.archivedHistory).toBe(2);
  });

  it('never moves an entry that is not yet in the stored state, whatever the budget', () => {
    const stored = withHistory(4);
    const next = { ...stored, history: [...stored.history, entry(4), entry(5), entry(6)] };
    const compacted = compactHistory(next, stored.history.length, { highBytes: 10, lowBytes: 1 });
    expect(compacted?.archived).toEqual(stored.history);
    expect(compacted?.state.history).toEqual([entry(4), entry(5), entry(6)]);
    expect(compactHistory(next, 0, { highBytes: 10, lowBytes: 1 })).toBeUndefined();
  });

  it('refuses a budget whose low mark is above its high mark', () => {
    expect(() => compactHistory(withHistory(3), 3, { highBytes: 10, lowBytes: 20 })).toThrow(RangeError);
  });
});
