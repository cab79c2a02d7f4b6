import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
    const status = await authorityStatus(deps, authority, now, { deep: true });
    const planned = await authorityPlan(deps, authority, now, { deep: true });
    expect(report?.state).toMatchObject({ phase: 'TrustExpanded', paused: true });
    expect(status.consumers).toEqual({
      total: report?.consumers.total,
      holdingBundle: report?.consumers.holding,
      unreadable: 0,
      laggards: report?.consumers.laggards,
      names: expect.any(Array) as unknown,
      findings: [],
    });
    expect(status.status).toEqual(report?.status);
    expect(planned.description).toEqual(status.next);
    expect(status.earliestExpiry?.days).toBeLessThan(0);
  });
});

/** Counts the SDK commands a client sends. */
function countCommands(client: DynamoDBClient): Record<string, number> {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => (args) => {
      const name = context.commandName ?? '?';
      counts[name] = (counts[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize' },
  );
  return counts;
}

describe('status and plan answer from the inventory, not from every leaf secret', () => {
  it('reads no leaf secret (a few calls for 120 leaves) unless deep, and agrees with deep on leaf counts and the next step', async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: 120 });
    const authority = config.authorities[0];
    if (authority === undefined) throw new Error('no authority');
    const deps = env.deps(config);
    await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    // Mid-rotation: some leaves from 2, most still from 1.
    let now = T0 + 150 * DAY;
    for (let i = 0; i < 40; i++, now += 30 * MINUTE) {
      const [report] = await tick(deps, { now, owner: `r-${i}`, mode: 'scan' });
      if (report?.state?.phase === 'LeavesMigrated') break;
    }
    const dynamo = countCommands(env.clients.dynamodb);
    env.secretsManager.resetCalls();
    const shallow = await authorityStatus(deps, authority, now);
    const shallowPlan = await authorityPlan(deps, authority, now);
    const smShallow = env.secretsManager.calls();
    const dynamoShallow = { ...dynamo };
    env.secretsManager.resetCalls();
    const deep = await authorityStatus(deps, authority, now, { deep: true });
    const smDeep = env.secretsManager.calls();

    expect(shallow.source).toBe('inventory');
    expect(deep.source).toBe('secrets');
    expect(shallow.leaves).toEqual(deep.leaves);
    expect(shallow.leaves.total).toBe(120);
    expect(shallowPlan.description).toEqual(deep.next);
    expect(shallow.status).toMatch(/, leaves \d+\/120 from 2 per the inventory, next: /);
    // Shallow: no leaf secret read, a handful of calls for the two commands together.
    expect(smShallow['BatchGetSecretValue'] ?? 0).toBe(0);
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    expect(total(smShallow)).toBeLessThanOrEqual(12);
    expect(dynamoShallow['QueryCommand']).toBe(2);
    expect(dynamoShallow['GetItemCommand']).toBe(2);
    // Deep: every leaf secret, 20 to a batch.
    expect(smDeep['BatchGetSecretValue']).toBeGreaterThanOrEqual(6);
  });
});
