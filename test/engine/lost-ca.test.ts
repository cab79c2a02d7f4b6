import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { authorityStatus } from '../../lib/engine/status.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { bundleGenerations, fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const MINUTE = 60_000;

describe('a lost current CA (its secret force-deleted)', () => {
  it('an emergency rotation is the way out: CA 1 stays trusted from the bundle, CA 2 signs, and no handshake breaks on the way', { timeout: 240_000 }, async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 3 });
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = env.deps(config, { emit: (event) => events.push(event) });
    const check = invariantChecker(env, config);
    const [bootstrap] = await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    expect(bootstrap?.state).toMatchObject({ phase: 'Stable', generation: 1 });
    await env.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: 'certrotate/cluster/ca/1', ForceDeleteWithoutRecovery: true }));

    let now = T0 + HOUR;
    const authority = config.authorities[0];
    if (authority === undefined) throw new Error('no authority');
    // Status names the real problem and the way out, instead of calling every leaf untrusted.
    await expect(authorityStatus(deps, authority, now)).rejects.toThrow(/CA 1 of authority cluster has no secret .*stays trusted.*emergency rotation/);
    // A scheduled run fails loudly for it, and reissues nothing (leaves from CA 1 are still trusted).
    await expect(tick(deps, { now, owner: 'scan-before', mode: 'scan' })).rejects.toThrow(/has no secret/);
    expect(await check('cluster', now)).toEqual([]);

    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'lost', reason: 'CA 1 secret deleted', emergency: true }, now);
    let report: AuthorityReport | undefined;
    for (let i = 0; i < 40; i++) {
      [report] = await tick(deps, { now, owner: `t-${i}`, mode: 'scan' });
      expect(await check('cluster', now), `invariant at tick ${i}`).toEqual([]);
      if (report?.state?.phase === 'Stable' && report.state.generation === 2 && report.state.retiring === undefined) break;
      now += 5 * MINUTE;
    }
    expect(report?.state).toMatchObject({ phase: 'Stable', generation: 2 });
    expect([...(await leafGenerations(env, config, 'cluster')).values()]).toEqual([2, 2, 2]);
    expect(await bundleGenerations(env, 'cluster')).toEqual([2]);
    expect(now - T0).toBeLessThan(DAY);
    expect(JSON.stringify(events)).not.toMatch(/does not trust CA 1/);
    expect(events.some((event) => event.type === 'ca-lost')).toBe(true);
  });
});
