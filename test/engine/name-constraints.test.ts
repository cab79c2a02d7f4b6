import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { runCommand } from '../../lib/engine/commands.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { NAME_CONSTRAINTS_OID, caNameConstraints, type NameConstraints } from '../../lib/pki/index.js';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { HOUR, T0 } from '../support/pki.js';
import { invariantChecker, leafGenerations } from '../support/fleet.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

function configWith(nameConstraints: NameConstraints, extraLeaves: Array<{ id: string; dnsName: string }> = []) {
  const leaf = (id: string, dnsName: string, usage: string) => ({ authority: 'cluster', id, subject: `CN=${id}`, dnsNames: [dnsName], usage, lifetimeDays: 14 });
  return parseConfig({
    authorities: [{ name: 'cluster', caLifetimeDays: 90, rotationLeadDays: 30, soakHours: { trustExpanded: 1, leavesMigrated: 1 }, nameConstraints }],
    leaves: [leaf('api', 'api.a.local', 'server'), leaf('worker', 'worker.a.local', 'both'), ...extraLeaves.map((extra) => leaf(extra.id, extra.dnsName, 'both'))],
  });
}

async function constraintsOfCa(generation: number): Promise<NameConstraints | undefined> {
  const stored = await env?.certificates.readCa('cluster', generation);
  if (stored === undefined) return undefined;
  const certificate = new x509.X509Certificate(stored.certificatePem);
  expect(certificate.getExtension(NAME_CONSTRAINTS_OID)?.critical).toBe(true);
  return caNameConstraints(AsnConvert.parse(certificate.rawData, asn1X509.Certificate).tbsCertificate.extensions);
}

describe('name constraints through the tick', () => {
  it('go into each new CA generation; a widened configuration waits for the next CA, the leaf it allows is reported until then', { timeout: 240_000 }, async () => {
    env = await startLocalEnvironment();
    const narrow = configWith({ permitted: { dnsDomains: ['a.local'] } });
    await tick(env.deps(narrow), { now: T0, owner: 'bootstrap', mode: 'scan' });
    expect(await constraintsOfCa(1)).toEqual({ permitted: { dnsDomains: ['a.local'] } });

    // The operator permits b.local too and adds a leaf there: CA 1 cannot sign it.
    const wide = configWith({ permitted: { dnsDomains: ['a.local', 'b.local'] } }, [{ id: 'extra', dnsName: 'extra.b.local' }]);
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = env.deps(wide, { emit: (event) => events.push(event) });
    // A new leaf has no inventory row yet: the daily reconcile finds it.
    await tick(deps, { now: T0 + HOUR, owner: 'reconcile-1', mode: 'reconcile' });
    expect(events).toContainEqual({
      type: 'leaf-unissuable',
      authority: 'cluster',
      detail: { leaf: 'extra', path: 'config.leaves[2]', problem: expect.stringMatching(/DNS name "extra\.b\.local" is outside the permitted DNS domains \(a\.local\).*next CA generation/) as unknown },
    });

    // A forced rotation makes CA 2 with the configuration's constraints, and the leaf is issued from it.
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'widen', reason: 'widen name constraints', emergency: false }, T0 + 2 * HOUR);
    const check = invariantChecker(env, wide);
    let now = T0 + 2 * HOUR;
    for (; now < T0 + 24 * HOUR; now += 10 * 60_000) {
      await tick(deps, { now, owner: `advance-${now}`, mode: 'scan' });
      expect(await check('cluster', now), `invariant at ${new Date(now).toISOString()}`).toEqual([]);
      const state = (await env.state.readState('cluster'))?.state;
      if (state?.phase === 'Stable' && state.generation === 2) break;
    }
    expect((await env.state.readState('cluster'))?.state).toMatchObject({ phase: 'Stable', generation: 2 });
    expect(await constraintsOfCa(2)).toEqual({ permitted: { dnsDomains: ['a.local', 'b.local'] } });
    expect(await constraintsOfCa(1)).toEqual({ permitted: { dnsDomains: ['a.local'] } });
    expect(Object.fromEntries(await leafGenerations(env, wide, 'cluster'))).toEqual({ api: 2, worker: 2, extra: 2 });
  });
});
