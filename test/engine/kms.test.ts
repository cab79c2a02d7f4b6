/**
 * Authorities whose CA keys live in KMS (caKeyStore `kms`), end to end on the local environment:
 * the real adapters against the local Secrets Manager, DynamoDB and KMS endpoints.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import type { CertrotateConfig } from '../../lib/config/index.js';
import { runCommand } from '../../lib/engine/commands.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { bundleGenerations, fleetConfig, invariantChecker, leafGenerations } from '../support/fleet.js';
import { caSecret, keyState, keysOfGeneration } from '../support/kms.js';

const MINUTE = 60_000;
const AUTHORITY = 'cluster';

const environments: LocalEnvironment[] = [];
afterEach(async () => {
  await Promise.all(environments.splice(0).map((env) => env.stop()));
});

async function kmsEnvironment(): Promise<LocalEnvironment> {
  const env = await startLocalEnvironment();
  environments.push(env);
  return env;
}

function finishedOn(generation: number) {
  return (report: AuthorityReport | undefined) => report?.state?.phase === 'Stable' && report.state.generation === generation && report.state.retiring === undefined;
}

/** Ticks until `done`, checking the zero-downtime invariant after every tick; returns the clock. */
async function driveUntil(env: LocalEnvironment, deps: EngineDeps, config: CertrotateConfig, start: number, done: (report: AuthorityReport | undefined) => boolean): Promise<number> {
  const check = invariantChecker(env, config);
  let now = start;
  for (let i = 1; i <= 40; i++) {
    const [report] = await tick(deps, { now, owner: `tick-${now}`, mode: 'scan', leaseMs: MINUTE });
    expect(await check(AUTHORITY, now), `handshakes at tick ${i}`).toEqual([]);
    if (done(report)) return now;
    const last = report?.steps.at(-1);
    now = last?.kind === 'wait' && last.until !== undefined && last.until > now ? last.until : now + 5 * MINUTE;
  }
  throw new Error('the rotation did not finish in 40 ticks');
}

function opensslVerifies(bundlePem: string, leafPem: string, at: number): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'certrotate-kms-'));
  writeFileSync(join(dir, 'ca.pem'), bundlePem);
  writeFileSync(join(dir, 'leaf.pem'), leafPem);
  const result = spawnSync('openssl', ['verify', '-x509_strict', '-attime', String(Math.floor(at / 1000)), '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
  return result.status === 0;
}

describe('an authority with caKeyStore kms', () => {
  it('keeps only key ARNs in its CA secrets, issues leaves OpenSSL accepts, and retires the old key: disabled at once, deletion scheduled once its CA expired', { timeout: 60_000 }, async () => {
    const env = await kmsEnvironment();
    const config = fleetConfig({ leaves: 3, caKeyStore: 'kms' });
    const deps = env.deps(config);
    await driveUntil(env, deps, config, T0, finishedOn(1));
    const first = await caSecret(env, 1);
    expect(first.keys).toEqual(['ca.crt', 'ca.keyArn']);
    expect(await keyState(env, first.keyArn)).toBe('Enabled');
    const { leaves } = await env.certificates.readLeaves(AUTHORITY, config.leaves.map((leaf) => leaf.id));
    expect(leaves).toHaveLength(3);
    for (const leaf of leaves) expect(opensslVerifies(leaf.bundlePem, leaf.certificatePem, T0 + HOUR)).toBe(true);

    await runCommand(env.state, AUTHORITY, { kind: 'rotate-ca', requestId: 'rotate-1', reason: 'kms test', emergency: false }, T0 + HOUR);
    const stable = await driveUntil(env, deps, config, T0 + HOUR, finishedOn(2));
    const second = await caSecret(env, 2);
    expect(second.keys).toEqual(['ca.crt', 'ca.keyArn']);
    expect(second.keyArn).not.toBe(first.keyArn);
    expect(await keyState(env, second.keyArn)).toBe('Enabled');
    expect(await keyState(env, first.keyArn)).toBe('Disabled');
    expect([...(await leafGenerations(env, config, AUTHORITY)).values()]).toEqual([2, 2, 2]);

    // A daily reconcile while CA 1 is still valid leaves its key alone; after it expired, deletion is scheduled.
    await tick(deps, { now: stable + DAY, owner: 'reconcile-1', mode: 'reconcile' });
    expect(await keyState(env, first.keyArn)).toBe('Disabled');
    // Past CA 1's expiry CA 2 has expired too (same lifetime, an hour later): that tick rotates to
    // CA 3 at once, and both retired keys, their CAs expired, are scheduled for deletion.
    const [late] = await tick(deps, { now: T0 + 181 * DAY, owner: 'reconcile-2', mode: 'reconcile' });
    expect(late?.state).toMatchObject({ phase: 'Stable', generation: 3, retired: [1, 2] });
    expect(await keyState(env, first.keyArn)).toBe('PendingDeletion');
    expect(await keyState(env, second.keyArn)).toBe('PendingDeletion');
    expect(await keyState(env, (await caSecret(env, 3)).keyArn)).toBe('Enabled');
  });

  it('an emergency rotation disables the compromised key as soon as the authority is Stable on the new CA', { timeout: 60_000 }, async () => {
    const env = await kmsEnvironment();
    const config = fleetConfig({ leaves: 2, caKeyStore: 'kms' });
    const deps = env.deps(config);
    await driveUntil(env, deps, config, T0, finishedOn(1));
    const first = await caSecret(env, 1);
    await runCommand(env.state, AUTHORITY, { kind: 'rotate-ca', requestId: 'emergency-1', reason: 'key compromised', emergency: true }, T0 + HOUR);
    const [report] = await tick(deps, { now: T0 + HOUR, owner: 'emergency', mode: 'scan', leaseMs: MINUTE });
    expect(report?.state).toMatchObject({ phase: 'Stable', generation: 2 });
    expect(await keyState(env, first.keyArn)).toBe('Disabled');
  });
});

describe('a CA key disabled out of band', () => {
  it('fails the renewal run loudly, naming the key, instead of reporting every leaf as unissuable', { timeout: 60_000 }, async () => {
    const env = await kmsEnvironment();
    const config = fleetConfig({ leaves: 3, caKeyStore: 'kms' });
    const events: Array<{ type: string; detail: Record<string, unknown> }> = [];
    const deps = env.deps(config, { emit: (event) => events.push(event) });
    await driveUntil(env, deps, config, T0, finishedOn(1));
    const { keyArn } = await caSecret(env, 1);
    await env.kms.client.send(new DisableKeyCommand({ KeyId: keyArn }));
    // Day 8: the 7-day leaf is due.
    const outcome = await tick(deps, { now: T0 + 8 * DAY, owner: 'late', mode: 'scan' }).then(() => undefined, (error: unknown) => error);
    const failures = events.filter((event) => event.type === 'renewal-failed').map((event) => String(event.detail['error']));
    expect(events.filter((event) => event.type === 'leaf-unissuable')).toEqual([]);
    expect([outcome instanceof Error ? outcome.message : '', ...failures].join('\n')).toContain(`the CA key ${keyArn ?? ''} cannot sign (DisabledException)`);
  });
});

describe('rolling back a rotation of a KMS authority', () => {
  it('keeps CA 1\'s key signing throughout, and the daily reconcile disables the abandoned CA 2\'s key', { timeout: 60_000 }, async () => {
    const env = await kmsEnvironment();
    const config = fleetConfig({ leaves: 2, caKeyStore: 'kms' });
    const deps = env.deps(config);
    await driveUntil(env, deps, config, T0, finishedOn(1));
    await runCommand(env.state, AUTHORITY, { kind: 'rotate-ca', requestId: 'rotate-1', reason: 'planned', emergency: false }, T0 + HOUR);
    await tick(deps, { now: T0 + HOUR, owner: 'to-trust-expanded', mode: 'scan', leaseMs: MINUTE });
    await runCommand(env.state, AUTHORITY, { kind: 'rollback', requestId: 'back-1' }, T0 + 2 * HOUR);
    const back = await driveUntil(env, deps, config, T0 + 2 * HOUR, finishedOn(1));
    const [first, second] = [await caSecret(env, 1), await caSecret(env, 2)];
    expect(await keyState(env, first.keyArn)).toBe('Enabled');
    expect([...(await leafGenerations(env, config, AUTHORITY)).values()]).toEqual([1, 1]);
    await tick(deps, { now: back + HOUR, owner: 'reconcile', mode: 'reconcile' });
    expect(await keyState(env, second.keyArn)).toBe('Disabled');
    expect(await keyState(env, first.keyArn)).toBe('Enabled');
  });
});

describe('switching an authority from secret to kms', () => {
  // `"kms"` written out, or no caKeyStore at all: a deployment upgrading from the release whose
  // default was `secret` switches the same way.
  it.each([
    { to: '"caKeyStore": "kms"', caKeyStore: 'kms' as const },
    { to: 'no caKeyStore (the default)', caKeyStore: undefined },
  ])('to $to takes effect at the next rotation: CA 1 keeps its PEM key and signs until CA 2, a KMS key, takes over, with every handshake passing throughout', { timeout: 60_000 }, async ({ caKeyStore }) => {
    const env = await kmsEnvironment();
    const before = fleetConfig({ leaves: 3, caKeyStore: 'secret' });
    await driveUntil(env, env.deps(before), before, T0, finishedOn(1));
    expect((await caSecret(env, 1)).keys).toEqual(['ca.crt', 'ca.key']);

    const after = fleetConfig({ leaves: 3, ...(caKeyStore === undefined ? {} : { caKeyStore }) });
    const deps = env.deps(after);
    // Nothing changes until a rotation: the next scan renews from CA 1 with its PEM key, and no KMS key exists.
    await driveUntil(env, deps, after, T0 + 10 * MINUTE, finishedOn(1));
    expect(await keysOfGeneration(env, 1)).toEqual([]);
    await runCommand(env.state, AUTHORITY, { kind: 'rotate-ca', requestId: 'to-kms', reason: 'move to KMS', emergency: false }, T0 + HOUR);
    await driveUntil(env, deps, after, T0 + HOUR, finishedOn(2));
    const second = await caSecret(env, 2);
    expect(second.keys).toEqual(['ca.crt', 'ca.keyArn']);
    expect(await keysOfGeneration(env, 2)).toEqual([{ arn: second.keyArn, state: 'Enabled' }]);
    expect(await bundleGenerations(env, AUTHORITY)).toEqual([2]);
    expect((await caSecret(env, 1)).keys).toEqual(['ca.crt', 'ca.key']);
  });
});

describe('the default key store', () => {
  it('is kms: an authority that names no caKeyStore gets a KMS key for its first CA', { timeout: 60_000 }, async () => {
    const env = await kmsEnvironment();
    const config = fleetConfig({ leaves: 1 });
    expect(config.authorities[0]?.caKeyStore).toBeUndefined();
    await driveUntil(env, env.deps(config), config, T0, finishedOn(1));
    const first = await caSecret(env, 1);
    expect(first.keys).toEqual(['ca.crt', 'ca.keyArn']);
    expect(await keysOfGeneration(env, 1)).toEqual([{ arn: first.keyArn, state: 'Enabled' }]);
  });

  it('without KMS access, fails naming the authority and both fixes, and creates no CA', { timeout: 60_000 }, async () => {
    const env = await kmsEnvironment();
    const config = fleetConfig({ leaves: 1 });
    const withoutKms = { ...env.deps(config), caKeys: undefined };
    const outcome = await tick(withoutKms, { now: T0, owner: 'no-kms', mode: 'scan', leaseMs: MINUTE }).then(
      (reports) => JSON.stringify(reports),
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    // Thrown, or carried in the report (JSON, quotes escaped): the same words either way.
    const message = outcome.replaceAll('\\"', '"');
    expect(message).toContain('authority cluster keeps its CA keys in KMS (caKeyStore "kms", the default when caKeyStore is absent)');
    expect(message).toContain('no KMS access configured: give it KMS access, or set "caKeyStore": "secret" on the authority');
    expect(await env.certificates.listCaGenerations(AUTHORITY)).toEqual([]);
  });
});
