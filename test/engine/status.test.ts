import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { authorityPlan, authorityStatus } from '../../lib/engine/status.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { DAY, T0 } from '../support/pki.js';
import { fleetConfig } from '../support/fleet.js';

const MINUTE = 60_000;
let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

describe('status, plan and a run observe an authority the same way', () => {
  it('counts the consumers holding the bundle as the run does once a CA of the bundle has expired', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 3 });
    const authority = config.authorities[0];
    if (authority === undefined) throw new Error('no authority');
    const deps = env.deps(config);
    await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    // A rotation reaches TrustExpanded (bundle [1 2]) and is paused over a freeze until CA 1 expires.
    let now = T0 + 150 * DAY;
    for (let i = 0; i < 10; i++, now += 5 * MINUTE) {
      const [report] = await tick(deps, { now, owner: `before-${i}`, mode: 'scan' });
      if (report?.state?.phase === 'TrustExpanded') break;
    }
    await runCommand(env.state, 'cluster', { kind: 'pause', requestId: 'freeze', reason: 'change freeze' }, now);
    now = T0 + 182 * DAY;

    const [report] = await tick(deps, { now, owner: 'frozen', mode: 'reconcile' });
    const status = await authorityStatus(deps, authority, now);
    const planned = await authorityPlan(deps, authority, now);
    expect(report?.state).toMatchObject({ phase: 'TrustExpanded', paused: true });
    expect(status.consumers).toEqual({
      total: report?.consumers.total,
      holdingBundle: report?.consumers.holding,
      unreadable: 0,
      laggards: report?.consumers.laggards,
    });
    expect(status.status).toEqual(report?.status);
    expect(planned.description).toEqual(status.next);
    expect(status.earliestExpiry?.days).toBeLessThan(0);
  });
});
