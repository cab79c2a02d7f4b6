import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { parseConfig } from '../../lib/config/index.js';
import { T0 } from '../support/pki.js';
import { captureOutput, fixture, lambdaContext, like, startHarness, type Harness } from './support.js';

/** Two authorities; etcd's CA secret is then overwritten with something that is no certificate. */
const config = parseConfig({
  authorities: ['cluster', 'etcd'].map((name) => ({ name, caKeyStore: 'secret', caLifetimeDays: 180, rotationLeadDays: 30 })),
  leaves: ['cluster', 'etcd'].map((authority) => ({ authority, id: `${authority}-0`, subject: `CN=${authority}-0`, dnsNames: [`${authority}-0.local`], usage: 'both', lifetimeDays: 7 })),
});

let h: Harness;
let output: ReturnType<typeof captureOutput>;
beforeAll(async () => {
  h = await startHarness(config, T0);
  await h.scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
  await h.env.clients.secretsManager.send(
    new PutSecretValueCommand({ SecretId: h.env.secrets.caSecretName('etcd', 1), SecretString: JSON.stringify({ 'ca.crt': 'garbage', 'ca.key': 'garbage' }) }),
  );
});
afterAll(async () => {
  await h.stop();
});
beforeEach(() => {
  output = captureOutput();
  return () => output.restore();
});

async function command(event: unknown): Promise<Record<string, unknown>> {
  return { ...((await h.command(event, lambdaContext('certrotate-command'))) as object) };
}

/** The sum of every Failures data point published (EMF gives several as an array). */
function failuresCounted(): number {
  return output
    .lines()
    .filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && '_aws' in line)
    .flatMap((line) => [line.Failures].flat())
    .reduce((sum: number, value) => sum + (typeof value === 'number' ? value : 0), 0);
}

it('answers the status of every authority when one is broken: the broken one as an error naming what to restore, counted as a failure', async () => {
  const response = await command({ action: 'status' });
  expect(response).toMatchObject({
    ok: true,
    authorities: [
      { authority: 'cluster', phase: 'Stable', status: like.text(/^cluster: CA generation 1, phase Stable/) },
      { authority: 'etcd', error: { type: 'StoredDataError', statusCode: 500, message: like.text(/CA generation 1 of authority etcd .*cannot be read.*restore/) } },
    ],
  });
  expect(failuresCounted()).toBe(1);
});

it('answers a status asked of the broken authority alone with that error, not as the caller\'s mistake', async () => {
  expect(await command({ action: 'status', authority: 'etcd' })).toEqual({
    ok: false,
    error: { type: 'StoredDataError', statusCode: 500, message: like.text(/CA generation 1 of authority etcd/) },
  });
  expect(failuresCounted()).toBe(1);
});

it('plans for every authority when one is broken', async () => {
  expect(await command({ action: 'plan' })).toMatchObject({
    ok: true,
    authorities: [{ authority: 'cluster', description: like.string() }, { authority: 'etcd', error: { type: 'StoredDataError' } }],
  });
});
