import { afterEach, describe, expect, it } from 'vitest';
import type { CertrotateConfig } from '../../lib/config/index.js';
import { runCommand } from '../../lib/engine/commands.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

/**
 * A configuration whose leaf svc-1 issuance refuses. parseConfig applies issuance's own rules, so
 * this can only come from somewhere that skipped it (an older file, a hand-built object): the
 * engine must still keep it from taking the other leaves down.
 */
function withUnissuableLeaf(): CertrotateConfig {
  const config = fleetConfig({ leaves: 4 });
  return { ...config, leaves: config.leaves.map((leaf) => (leaf.id === 'svc-1' ? { ...leaf, dnsNames: ['bad name.local'] } : leaf)) };
}

describe('a leaf that cannot be issued', () => {
  it('is reported every run by id and configuration path, while every other leaf is issued, renewed and rotated with no handshake broken', { timeout: 240_000 }, async () => {
    env = await startLocalEnvironment();
    const config = withUnissuableLeaf();
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = env.deps(config, { emit: (event) => events.push(event) });
    const check = invariantChecker(env, config);
    let now = T0;
    const run = async (owner: string) => {
      const [report] = await tick(deps, { now, owner, mode: 'scan' });
      expect(await check('cluster', now), `invariant at ${new Date(now).toISOString()}`).toEqual([]);
      return report;
    };

    await run('bootstrap');
    expect(events).toContainEqual({ type: 'leaf-unissuable', authority: 'cluster', detail: { leaf: 'svc-1', path: 'config.leaves[1]', problem: expect.stringMatching(/DNS SAN "bad name.local"/) as unknown } });
    const issued = await leafGenerations(env, config, 'cluster');
    expect([...issued.keys()].sort()).toEqual(['svc-0', 'svc-2', 'svc-3']);

    // 40 days of hourly scans with a forced rotation in the middle: the good leaves renew and move
    // to CA 2; the rotation waits at its gate for the bad one, which is reported on every run.
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'r-1', reason: 'test', emergency: false }, T0 + 20 * DAY);
    for (now = T0 + HOUR; now <= T0 + 40 * DAY; now += 6 * HOUR) {
      events.length = 0;
      await run(`scan-${now}`);
      expect(events.some((event) => event.type === 'leaf-unissuable'), `reported at ${new Date(now).toISOString()}`).toBe(true);
    }
    const generations = await leafGenerations(env, config, 'cluster');
    expect(Object.fromEntries(generations)).toEqual({ 'svc-0': 2, 'svc-2': 2, 'svc-3': 2 });
    const state = (await env.state.readState('cluster'))?.state;
    expect(state).toMatchObject({ phase: 'LeavesMigrated', generation: 1, target: 2 });
  });
});
