/**
 * Days to the earliest expiry (the metric behind each authority's expiry alarm) on the hourly scan,
 * from the inventory rows near the earliest renewal (read with the due rows, in one read of the
 * index) rather than from every row: the scan's cost stays O(due) at any fleet size, and the
 * number is the one every row gives.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { earliestExpiry, daysUntil } from '../../lib/engine/expiry.js';
import { runScheduled } from '../../lib/engine/scheduled.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { fleetConfig } from '../support/fleet.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { delegatingStateStore } from '../support/stores.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

describe('days to the earliest expiry', () => {
  it('on the hourly scans of a month, equals what every inventory row and trusted CA give, without reading every row', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 30, caKeyStore: 'secret' });
    const plain = env.deps(config);
    const reconcile = await runScheduled(plain, { kind: 'reconcile', now: T0, owner: randomUUID(), outOfTime: () => false });
    expect(reconcile.authorities[0]?.daysToEarliestExpiry).toBe(7);
    const state = delegatingStateStore(plain.state);
    let indexReads = 0;
    const deps = {
      ...plain,
      state: {
        ...state,
        readAllLeafRows: () => Promise.reject(new Error('the hourly scan read the whole inventory')),
        readEarliestLeafRows: (authority: string, withinMs: number, dueBy?: number) => {
          indexReads++;
          return state.readEarliestLeafRows(authority, withinMs, dueBy);
        },
      },
    };
    // Leaves of 7, 14 and 30 days, renewed a day before they expire: the earliest moves on as they are.
    for (let now = T0 + 5 * HOUR; now < T0 + 30 * DAY; now += 13 * HOUR) {
      indexReads = 0;
      const scan = await runScheduled(deps, { kind: 'scan', now, owner: randomUUID(), outOfTime: () => false });
      const outcome = scan.authorities[0];
      // One read of the due index serves the renewals and the metric.
      expect(indexReads).toBe(1);
      expect(outcome?.error).toBeUndefined();
      const stored = await env.state.readState('cluster');
      const rows = (await env.state.readAllLeafRows('cluster')).map((row) => ({ what: row.id, notAfter: row.notAfter }));
      const expected = stored === undefined ? undefined : earliestExpiry(stored.state, rows, scan.reports[0]?.cas ?? []);
      expect(outcome?.daysToEarliestExpiry).toBe(expected === undefined ? undefined : daysUntil(expected.notAfter, now));
    }
  });
});
