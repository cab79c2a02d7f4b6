/**
 * `leafStore: s3` through the engine: an s3 authority's leaves live in the leaf bucket and nowhere
 * else, its CA and bundle stay secrets; and changing an authority's leafStore migrates each leaf at
 * its next write, reading the others from the old store meanwhile, with no leaf lost or reissued early.
 */
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbRequestLedger } from '../../lib/aws/dynamodb-request-ledger.js';
import { renewLeaves } from '../../lib/engine/renew.js';
import { authorityStatus } from '../../lib/engine/status.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { StoredLeaf } from '../../lib/ports.js';
import { fleetConfig, invariantChecker } from '../support/fleet.js';
import { HOUR, T0 } from '../support/pki.js';

const AUTHORITY = 'cluster';
const environments: LocalEnvironment[] = [];
afterEach(async () => {
  await Promise.all(environments.splice(0).map((env) => env.stop()));
});

async function environment(): Promise<LocalEnvironment & { leafBucket: NonNullable<LocalEnvironment['leafBucket']> }> {
  const env = await startLocalEnvironment({ leafBucket: true });
  environments.push(env);
  const { leafBucket } = env;
  if (leafBucket === undefined) throw new Error('no leaf bucket started');
  return { ...env, leafBucket };
}

const certificates = (leaves: readonly StoredLeaf[]) => leaves.map((leaf) => [leaf.id, leaf.certificatePem]);

describe('leafStore s3', () => {
  it('keeps an s3 authority\'s leaves as objects only, and its CAs and bundle as secrets', async () => {
    const env = await environment();
    const config = fleetConfig({ leaves: 3, leafStore: 's3' });
    const ids = config.leaves.map((leaf) => leaf.id);
    const [report] = await tick(env.deps(config), { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    expect(report?.state).toMatchObject({ phase: 'Stable', generation: 1 });
    expect(await env.leafBucket.store.listLeafIds(AUTHORITY)).toEqual([...ids].sort());
    expect(await env.secrets.listLeafIds(AUTHORITY)).toEqual([]);
    expect(await env.secrets.listCaGenerations(AUTHORITY)).toEqual([1]);
    expect(await env.secrets.readBundle(AUTHORITY)).toBeDefined();
    const { leaves, unreadable } = await env.certificates.readLeaves(AUTHORITY, ids);
    expect(unreadable).toEqual([]);
    expect(leaves.map((leaf) => leaf.id)).toEqual(ids);
    expect(await invariantChecker(env, config)(AUTHORITY, T0)).toEqual([]);
    // A scan an hour later finds every leaf where it is: nothing is reissued.
    const puts = env.leafBucket.s3.calls().PutObject ?? 0;
    const [scan] = await tick(env.deps(config), { now: T0 + HOUR, owner: 'scan', mode: 'reconcile' });
    expect(scan?.steps.filter((step) => step.kind !== 'wait' && step.kind !== 'none')).toEqual([]);
    expect(env.leafBucket.s3.calls().PutObject ?? 0).toBe(puts);
  });

  it('migrates an authority moved from secretsmanager to s3 at each leaf\'s next write, reading the rest from Secrets Manager meanwhile', async () => {
    const env = await environment();
    const before = fleetConfig({ leaves: 3 });
    const ids = before.leaves.map((leaf) => leaf.id);
    await tick(env.deps(before), { now: T0, owner: 'bootstrap', mode: 'reconcile' });
    const inSecrets = (await env.secrets.readLeaves(AUTHORITY, ids)).leaves;
    expect(inSecrets).toHaveLength(3);

    const after = fleetConfig({ leaves: 3, leafStore: 's3' });
    const deps = env.deps(after);
    // The operator changed the file: the next scan finds every leaf (in Secrets Manager) and reissues none.
    const [scan] = await tick(deps, { now: T0 + HOUR, owner: 'scan', mode: 'reconcile' });
    expect(scan?.steps.filter((step) => step.kind !== 'wait' && step.kind !== 'none')).toEqual([]);
    expect(await env.leafBucket.store.listLeafIds(AUTHORITY)).toEqual([]);
    expect(certificates((await env.certificates.readLeaves(AUTHORITY, ids)).leaves)).toEqual(certificates(inSecrets));
    expect(await env.certificates.listLeafIds(AUTHORITY)).toEqual([...ids].sort());

    // One leaf renewed: it moves to the bucket; the others are still read from their secrets.
    const ledger = new DynamoDbRequestLedger({ client: env.clients.dynamodb, tableName: env.tableName });
    const authority = after.authorities[0];
    if (authority === undefined) throw new Error('no authority');
    await renewLeaves(deps, ledger, { authority, requestId: 'renew-one', leaf: 'svc-1', owner: 'operator' }, T0 + 2 * HOUR);
    expect(await env.leafBucket.store.listLeafIds(AUTHORITY)).toEqual(['svc-1']);
    const mixed = (await env.certificates.readLeaves(AUTHORITY, ids)).leaves;
    expect(mixed.map((leaf) => leaf.id)).toEqual(ids);
    const renewed = mixed.find((leaf) => leaf.id === 'svc-1');
    expect(renewed?.certificatePem).not.toBe(inSecrets.find((leaf) => leaf.id === 'svc-1')?.certificatePem);
    // The secret keeps its old copy (a workload may still read it until it is pointed at the object).
    expect(certificates((await env.secrets.readLeaves(AUTHORITY, ids)).leaves)).toEqual(certificates(inSecrets));
    // `status --deep` names it: it is no longer written, so it will expire. Without --deep, nothing is listed.
    const deep = await authorityStatus(deps, authority, T0 + 2 * HOUR, { deep: true });
    expect(deep.staleCopies).toEqual({ store: 'secretsmanager', count: 1, ids: ['svc-1'] });
    expect(deep.status).toContain('1 leaf keeps an old copy in secretsmanager that is no longer written and will expire (svc-1)');
    expect((await authorityStatus(deps, authority, T0 + 2 * HOUR)).staleCopies).toBeUndefined();

    await renewLeaves(deps, ledger, { authority, requestId: 'renew-all', owner: 'operator' }, T0 + 3 * HOUR);
    expect(await env.leafBucket.store.listLeafIds(AUTHORITY)).toEqual([...ids].sort());
    expect(await invariantChecker(env, after)(AUTHORITY, T0 + 3 * HOUR)).toEqual([]);
    const [quiet] = await tick(deps, { now: T0 + 4 * HOUR, owner: 'scan-2', mode: 'reconcile' });
    expect(quiet?.steps.filter((step) => step.kind !== 'wait' && step.kind !== 'none')).toEqual([]);
    const all = await authorityStatus(deps, authority, T0 + 4 * HOUR, { deep: true });
    expect(all.staleCopies).toEqual({ store: 'secretsmanager', count: 3, ids: [...ids].sort() });
    expect(all.status).toContain('3 leaves keep an old copy in secretsmanager');
    // The operator deletes the old copies once the workloads read the objects: none are reported.
    for (const id of ids) await env.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: env.secrets.leafSecretName(AUTHORITY, id), ForceDeleteWithoutRecovery: true }));
    const cleaned = await authorityStatus(deps, authority, T0 + 4 * HOUR, { deep: true });
    expect(cleaned.staleCopies).toBeUndefined();
    expect(cleaned.status).not.toContain('old copy');
  });
});
