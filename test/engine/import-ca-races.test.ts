import { afterEach, describe, expect, it } from 'vitest';
import { importCa, type ImportCaRequest } from '../../lib/engine/import-ca.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { CaImportRefusedError, parseCertificate } from '../../lib/pki/index.js';
import type { RotationState } from '../../lib/rotation/index.js';
import { opensslCa, opensslLeaf, type PemPair } from '../../lib/simulation/openssl.js';
import { fleetConfig } from '../support/fleet.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { SimulatedCrash, installCrashInjector } from '../support/crash.js';
import { delegatingStateStore } from '../support/stores.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

const config = fleetConfig({ leaves: 3 });

function request(ca: PemPair): ImportCaRequest {
  return { authority: 'cluster', certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem };
}

function importEntries(state: RotationState | undefined): number {
  return (state?.history ?? []).filter((entry) => entry.by.kind === 'command' && entry.by.command === 'import-ca').length;
}

async function storedFingerprint(local: LocalEnvironment): Promise<string | undefined> {
  const stored = await local.certificates.readCa('cluster', 1);
  return stored === undefined ? undefined : parseCertificate(stored.certificatePem).fingerprintSha256;
}

describe('import-ca under races and crashes', () => {
  it('of two different CAs imported at once, exactly one becomes CA 1; the other is refused', async () => {
    env = await startLocalEnvironment();
    const deps = env.deps(config);
    const cas = await Promise.all(['CN=first', 'CN=second', 'CN=third'].map((subject) => opensslCa({ subject, at: T0 - DAY, days: 3650 })));
    const outcomes = await Promise.allSettled(cas.map((ca) => importCa(deps, config, request(ca), T0)));
    const won = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(refused).toHaveLength(2);
    for (const error of refused) expect(error).toMatchObject({ check: 'already-has-ca' });
    for (const error of refused) expect(error).toBeInstanceOf(CaImportRefusedError);
    expect(await storedFingerprint(env)).toBe(won[0]?.fingerprintSha256);
    expect(await env.certificates.listCaGenerations('cluster')).toEqual([1]);
    expect(importEntries((await env.state.readState('cluster'))?.state)).toBe(1);
  });

  it('the same CA imported four times at once is recorded once, and every call answers the same', async () => {
    env = await startLocalEnvironment();
    const deps = env.deps(config);
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - DAY, days: 3650 });
    const results = await Promise.all(Array.from({ length: 4 }, () => importCa(deps, config, request(ca), T0)));
    expect(new Set(results.map((result) => JSON.stringify(result))).size).toBe(1);
    const record = await env.state.readState('cluster');
    expect(importEntries(record?.state)).toBe(1);
    // Once more later: the same answer, and nothing written.
    expect(await importCa(deps, config, request(ca), T0 + HOUR)).toEqual(results[0]);
    expect((await env.state.readState('cluster'))?.version).toBe(record?.version);
  });

  it('an import that crashed before recording its state converges when retried, even after a tick bootstrapped onto its CA', async () => {
    env = await startLocalEnvironment();
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - DAY, days: 3650 });
    const leaf = await opensslLeaf(ca, { subject: 'CN=svc-2', dnsNames: ['svc-2.cluster.local'], usage: 'both', at: T0 - DAY, days: 30, serialHex: '6a000000000000000000000000000001' });
    await env.certificates.writeLeaf({ authority: 'cluster', id: 'svc-2', ...leaf, bundlePem: ca.certificatePem });
    const crashing = { ...env.deps(config), state: { ...delegatingStateStore(env.state), writeState: () => Promise.reject(new Error('Lambda timed out')) } };
    await expect(importCa(crashing, config, request(ca), T0)).rejects.toThrow(/timed out/);
    // Midway: the CA secret, the adopted leaf's row and the bundle are written; no state.
    expect(await env.state.readState('cluster')).toBeUndefined();
    expect(await env.certificates.listCaGenerations('cluster')).toEqual([1]);

    // The hourly scan runs before the operator retries: it finds CA 1 stored and bootstraps onto it.
    const deps = env.deps(config);
    const [report] = await tick(deps, { now: T0 + HOUR, owner: 'scan', mode: 'scan' });
    expect(report?.state).toMatchObject({ phase: 'Stable', generation: 1 });
    const { leaves } = await env.certificates.readLeaves('cluster', ['svc-2']);
    expect(leaves[0]?.certificatePem).toBe(leaf.certificatePem);

    const result = await importCa(deps, config, request(ca), T0 + 2 * HOUR);
    // The scan issued the two missing leaves from the imported CA: every leaf in the field is now signed by it.
    expect(result).toMatchObject({ generation: 1, adoptedLeaves: ['svc-0', 'svc-1', 'svc-2'], fingerprintSha256: await storedFingerprint(env) });
    const state = (await env.state.readState('cluster'))?.state;
    expect(importEntries(state)).toBe(1);
    expect(state?.history.map((entry) => entry.why.split(':')[0])).toEqual(['bootstrapped', 'imported']);
    expect(await env.certificates.listCaGenerations('cluster')).toEqual([1]);
  });

  it('converges when retried after a crash right after any one of its calls', { timeout: 240_000 }, async () => {
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: T0 - DAY, days: 3650 });
    const leaf = await opensslLeaf(ca, { subject: 'CN=svc-2', dnsNames: ['svc-2.cluster.local'], usage: 'both', at: T0 - DAY, days: 30, serialHex: '6a000000000000000000000000000002' });
    let crashes = 0;
    for (let k = 1; k < 60; k++) {
      const local = await startLocalEnvironment();
      env = local;
      await local.certificates.writeLeaf({ authority: 'cluster', id: 'svc-2', ...leaf, bundlePem: ca.certificatePem });
      const crash = installCrashInjector(local.clients);
      crash.reset();
      crash.arm(k);
      const first = await importCa(local.deps(config), config, request(ca), T0).then(
        () => undefined,
        (error: unknown) => error,
      );
      // Past its last call: the import ran to the end without a crash.
      if (first === undefined) break;
      expect(first, `call ${k}`).toBeInstanceOf(SimulatedCrash);
      crashes++;
      await crash.disarm();
      const result = await importCa(local.deps(config), config, request(ca), T0 + 1000);
      expect(result, `call ${k}`).toMatchObject({ generation: 1, adoptedLeaves: ['svc-2'], fingerprintSha256: parseCertificate(ca.certificatePem).fingerprintSha256 });
      const state = (await local.state.readState('cluster'))?.state;
      expect(state, `call ${k}`).toMatchObject({ phase: 'Stable', generation: 1 });
      expect(importEntries(state), `call ${k}`).toBe(1);
      expect((await local.state.readAllLeafRows('cluster')).map((row) => [row.id, row.generation]), `call ${k}`).toEqual([['svc-2', 1]]);
      expect(await local.certificates.readBundle('cluster'), `call ${k}`).toBe(parseCertificate(ca.certificatePem).pem);
      await local.stop();
      env = undefined;
    }
    // Every call of an import (reads and writes) was a crash point once.
    expect(crashes).toBeGreaterThan(5);
  });
});
