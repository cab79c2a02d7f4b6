import { describe, expect, it } from 'vitest';
import { MAX_LISTED, renewOutcome } from '../../lib/engine/renew.js';

describe('the answer of a renew', () => {
  it('stays small whatever the fleet: 100,000 leaves with 128-character ids make an answer (and ledger item) far below 400 KB', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `${'x'.repeat(120)}-${String(i).padStart(7, '0')}`);
    const outcome = renewOutcome({ authority: 'cluster', requestId: 'renew-all', generation: 2, renewed: ids.slice(0, 60_000), alreadyRenewed: ids.slice(60_000) });
    expect(JSON.stringify(outcome).length).toBeLessThan(40_000);
    expect(outcome).toMatchObject({ renewedCount: 60_000, alreadyRenewedCount: 40_000 });
    expect(outcome.renewed).toEqual(ids.slice(0, MAX_LISTED));
    expect(outcome.alreadyRenewed).toEqual(ids.slice(60_000, 60_000 + MAX_LISTED));
  });

  it('lists every id of a small fleet', () => {
    const outcome = renewOutcome({ authority: 'cluster', requestId: 'r', generation: 1, renewed: ['a', 'b'], alreadyRenewed: [] });
    expect(outcome).toEqual({ authority: 'cluster', requestId: 'r', applied: true, generation: 1, renewed: ['a', 'b'], renewedCount: 2, alreadyRenewed: [], alreadyRenewedCount: 0 });
  });
});
