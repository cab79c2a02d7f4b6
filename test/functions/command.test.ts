import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fleetConfig } from '../support/fleet.js';
import { HOUR, T0 } from '../support/pki.js';
import { captureOutput, fixture, lambdaContext, startHarness, type Harness, like } from './support.js';

const MINUTE = 60_000;
let h: Harness;
let output: ReturnType<typeof captureOutput>;

beforeAll(async () => {
  h = await startHarness(fleetConfig({ leaves: 4, caKeyStore: 'secret' }), T0);
  await h.scan(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
});
afterAll(async () => {
  await h.stop();
});
beforeEach(() => {
  output = captureOutput();
  return () => output.restore();
});

async function command(event: unknown): Promise<Record<string, unknown>> {
  const response: unknown = await h.command(event, lambdaContext('certrotate-command'));
  if (typeof response !== 'object' || response === null) throw new Error('the command function answered with no object');
  return { ...response };
}

/** Everything a command could change: the rotation state, the ledger, and every secret write. */
async function snapshot() {
  const record = await h.env.state.readState('cluster');
  const calls = h.env.secretsManager.calls();
  return { version: record?.version, state: record?.state, writes: (calls.PutSecretValue ?? 0) + (calls.CreateSecret ?? 0), keys: h.keys.size };
}

describe('the command function, with the v1 event fixtures against the local endpoints', () => {
  const bad: [string, string, RegExp][] = [
    ['command.bad.missing-authority.v1.json', 'ValidationError', /event\.authority: required/],
    ['command.bad.unknown-action.v1.json', 'ValidationError', /event\.action: expected one of rotate-ca, status, plan, history, pause, resume, rollback, renew, check-expiration, inspect, got the string "rotate"/],
    ['command.bad.wrong-types.v1.json', 'ValidationError', /event\.requestId: expected a string, got number 42[\s\S]*event\.emergency: expected true or false/],
    ['command.bad.unknown-key.v1.json', 'ValidationError', /event\.force: unknown key/],
    ['command.bad.key-of-other-action.v1.json', 'ValidationError', /the pause command is invalid:[\s\S]*event\.emergency: unknown key \(allowed: action, authority, requestId, reason\)/],
    ['command.bad.unknown-authority.v1.json', 'NotFoundError', /no authority named "etcd" in the configuration \(configured: cluster\)/],
    ['command.bad.unknown-leaf.v1.json', 'NotFoundError', /authority "cluster" has no leaf "no-such-leaf"/],
    ['command.bad.not-an-object.v1.json', 'ValidationError', /event: expected an object, got the string "rotate-ca cluster"/],
    ['command.bad.missing-action.v1.json', 'ValidationError', /event\.action: required/],
  ];
  it.each(bad)('refuses %s with a clear %s and changes nothing', async (name, type, message) => {
    const before = await snapshot();
    const response = await command(fixture(name));
    expect(response).toEqual({ ok: false, error: { type, message: like.text(message), statusCode: type === 'NotFoundError' ? 404 : 400 } });
    expect(await snapshot()).toEqual(before);
  });

  it('never echoes a private key or a huge value from a bad event into its answer or its log', async () => {
    const key = `-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg${'A'.repeat(200)}\n-----END PRIVATE KEY-----`;
    const before = await snapshot();
    const pasted = await command({ action: 'pause', authority: 'cluster', requestId: key });
    expect(pasted).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/event\.requestId: a value that looks like key material \(not shown\)/) } });
    expect(JSON.stringify(pasted) + output.text()).not.toContain('MIGHAgEAMBMG');
    const inReason = await command({ action: 'pause', authority: 'cluster', requestId: 'pem-reason', reason: `key was ${key}` });
    expect(inReason).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/event\.reason: a value that looks like key material \(not shown\) holds a PEM block: a reason must hold no key material/) } });
    expect(JSON.stringify(inReason) + output.text()).not.toContain('MIGHAgEAMBMG');
    const huge = await command({ action: 'pause', authority: 'cluster', requestId: 'x'.repeat(1_000_000), ['y'.repeat(100_000)]: 1 });
    expect(huge).toMatchObject({ ok: false, error: { type: 'ValidationError' } });
    expect(JSON.stringify(huge).length).toBeLessThan(2_000);
    expect(output.text().length).toBeLessThan(20_000);
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['a spaced PEM header', `----- BEGIN PRIVATE KEY -----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ3x9\n----- END PRIVATE KEY -----`],
    ['a lower-case PEM header', `-----begin private key-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ3x9\n-----end private key-----`],
    ['a key body without its header', 'rotating because MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ3x9 leaked'],
  ])('refuses %s in a reason, echoing none of it, and changes nothing', async (_name, reason) => {
    const before = await snapshot();
    const response = await command({ action: 'rotate-ca', authority: 'cluster', requestId: 'leaked-key', reason });
    expect(response).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/event\.reason: a value that looks like key material \(not shown\)/) } });
    expect(JSON.stringify(response) + output.text()).not.toContain('MIGHAgEAMBMG');
    expect(await snapshot()).toEqual(before);
  });

  it('answers an event with 100,000 unknown keys in a few lines: the first problems and a count', async () => {
    const event: Record<string, unknown> = { action: 'status' };
    for (let i = 0; i < 100_000; i++) event[`k${i}`] = i;
    const response = await command(event);
    expect(response).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/and 99980 more problems$/) } });
    expect(JSON.stringify(response).length).toBeLessThan(4_000);
    expect(output.text().length).toBeLessThan(20_000);
  });

  it('answers status from the inventory by default: leaf counts from DynamoDB, no secret counted as a consumer', async () => {
    const response = await command(fixture('command.status.all.v1.json'));
    expect(response).toMatchObject({
      ok: true,
      action: 'status',
      authorities: [
        {
          authority: 'cluster',
          status: like.text(/^cluster: CA generation 1, phase Stable: bundle \[1\], signer 1, leaves 4\/4 from 1 per the inventory, next: nothing to do/),
          leaves: { total: 4, fromSigner: 4, missingOrUnreadable: 0 },
          consumers: { total: 0, holdingBundle: 0, unreadable: 0 },
          earliestExpiry: { what: 'leaf svc-0', days: 7 },
          source: 'inventory',
        },
      ],
    });
  });

  it('refuses a deep that is not a boolean, and deep on a command that has none', async () => {
    expect(await command({ action: 'plan', deep: 'yes' })).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/event\.deep/) } });
    expect(await command({ action: 'history', authority: 'cluster', deep: true })).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/deep/) } });
  });

  it('reads the status of every authority from every secret when deep: the GKE-style line and its fields', async () => {
    const response = await command(fixture('command.status.deep.v1.json'));
    expect(response).toMatchObject({
      ok: true,
      action: 'status',
      authorities: [
        {
          authority: 'cluster',
          status: like.text(/^cluster: CA generation 1, phase Stable: bundle \[1\], signer 1, leaves 4\/4 from 1, consumers 5\/5 hold \[1\], next: nothing to do/),
          generation: 1,
          phase: 'Stable',
          bundle: [1],
          signer: 1,
          leaves: { total: 4, fromSigner: 4, missingOrUnreadable: 0 },
          consumers: { total: 5, holdingBundle: 5, unreadable: 0 },
          earliestExpiry: { what: 'leaf svc-0', days: 7 },
          source: 'secrets',
        },
      ],
    });
  });

  it('renews one leaf once per request id: a retried request replays its result and reissues nothing', async () => {
    h.clock.advance(MINUTE);
    const first = await command(fixture('command.renew.leaf.v1.json'));
    expect(first).toMatchObject({ ok: true, applied: true, renewed: ['svc-1'], generation: 1 });
    const after = await snapshot();
    h.clock.advance(MINUTE);
    const retry = await command(fixture('command.renew.leaf.v1.json'));
    expect(retry).toMatchObject({ ok: true, applied: false, renewed: ['svc-1'] });
    expect(await snapshot()).toEqual(after);
    const reused = await command({ ...(fixture('command.renew.all.v1.json') as object), requestId: 'renew-svc-1' });
    expect(reused).toMatchObject({ ok: false, error: { type: 'CommandRefusedError', message: like.text('was already used for "renew leaf svc-1"') } });
  });

  it('answers a slow duplicate of a renew with the first answer, which stays the answer of every retry', async () => {
    const { createHandler } = await import('../../functions/command.js');
    const ledger = h.deps.ledger;
    let duplicateHasRead!: () => void;
    const duplicateRead = new Promise<void>((resolve) => (duplicateHasRead = resolve));
    let firstHasFinished!: () => void;
    const firstFinished = new Promise<void>((resolve) => (firstHasFinished = resolve));
    // The first finishes only after the duplicate read the (unfinished) entry; the duplicate then waits for it.
    const first = createHandler({ clock: h.clock, deps: () => ({ ...h.deps, ledger: { ...ledger, begin: (entry) => ledger.begin(entry), find: (a, r) => ledger.find(a, r), complete: async (a, r, result) => { await duplicateRead; return ledger.complete(a, r, result); } } }) });
    const duplicate = createHandler({ clock: h.clock, deps: () => ({ ...h.deps, ledger: { begin: async (entry) => { const begun = await ledger.begin(entry); duplicateHasRead(); await firstFinished; return begun; }, find: (a, r) => ledger.find(a, r), complete: (a, r, result) => ledger.complete(a, r, result) } }) });
    const event = { action: 'renew', authority: 'cluster', requestId: 'renew-slow', leaf: 'svc-1' };
    h.clock.advance(MINUTE);
    const firstAnswer = (first(event, lambdaContext('certrotate-command')) as Promise<Record<string, unknown>>).then((answer) => {
      firstHasFinished();
      return answer;
    });
    const [a, b] = await Promise.all([firstAnswer, duplicate(event, lambdaContext('certrotate-command')) as Promise<Record<string, unknown>>]);
    expect(a).toMatchObject({ ok: true, applied: true, renewed: ['svc-1'] });
    expect(b).toMatchObject({ ok: true, applied: false, renewed: ['svc-1'] });
    expect(await command(event)).toMatchObject({ ok: true, applied: false, renewed: ['svc-1'] });
  });

  it('renews every leaf of an authority', async () => {
    const response = await command(fixture('command.renew.all.v1.json'));
    expect(response).toMatchObject({ ok: true, applied: true, renewed: ['svc-0', 'svc-1', 'svc-2', 'svc-3'] });
  });

  it('forces a rotation once per request id, refuses a second one while it runs, and pauses, resumes and rolls it back', async () => {
    h.clock.advance(HOUR);
    const started = await command(fixture('command.rotate-ca.v1.json'));
    expect(started).toMatchObject({ ok: true, applied: true, phase: 'Prepared (1/4)', generation: 1, target: 2, transition: { by: 'rotate-ca (request rotate-cluster-2026-01)' } });
    const version = (await snapshot()).version;
    expect(await command(fixture('command.rotate-ca.v1.json'))).toMatchObject({ ok: true, applied: false, phase: 'Prepared (1/4)' });
    expect((await snapshot()).version).toBe(version);
    const second = await command({ ...(fixture('command.rotate-ca.v1.json') as object), requestId: 'another' });
    expect(second).toMatchObject({ ok: false, error: { type: 'CommandRefusedError', statusCode: 409, message: like.text(/^rotation already in progress at phase Prepared \(1\/4\)/) } });

    expect(await command(fixture('command.pause.v1.json'))).toMatchObject({ ok: true, applied: true, paused: true });
    expect(await command(fixture('command.plan.v1.json'))).toMatchObject({ ok: true, authorities: [{ authority: 'cluster', description: 'nothing until resumed (leaf renewal continues)' }] });
    expect(await command(fixture('command.resume.v1.json'))).toMatchObject({ ok: true, applied: true, paused: false });
    expect(await command(fixture('command.plan.v1.json'))).toMatchObject({ ok: true, authorities: [{ step: { kind: 'generate-ca', generation: 2 } }] });
    expect(await command(fixture('command.rollback.v1.json'))).toMatchObject({ ok: true, applied: true, phase: 'Stable', generation: 1 });
    const status = await command(fixture('command.status.v1.json'));
    expect(status).toMatchObject({ authorities: [{ phase: 'Stable', generation: 1, recentHistory: like.arrayContaining([like.objectContaining({ why: 'rolled back before CA 2 was trusted; CA 2 abandoned' })]) }] });

    const history = await command({ action: 'history', authority: 'cluster' });
    expect(history).toMatchObject({ ok: true, action: 'history', authority: 'cluster' });
    const entries = (history as { entries: { by: string; from: string; to: string }[] }).entries;
    expect(entries[0]).toMatchObject({ by: 'schedule', to: 'Stable' });
    expect(entries.filter((entry) => entry.by !== 'schedule').map((entry) => entry.by.replace(/ \(request .*\)$/, ''))).toEqual(['rotate-ca', 'pause', 'resume', 'rollback']);
    expect(await command({ action: 'history' })).toMatchObject({ ok: false, error: { type: 'ValidationError', message: like.text(/event\.authority: required/) } });
  });

  it('refuses a request id already used by another kind of command, renew included, and changes nothing', async () => {
    h.clock.advance(MINUTE);
    expect(await command({ action: 'renew', authority: 'cluster', requestId: 'shared-1', leaf: 'svc-0' })).toMatchObject({ ok: true, applied: true });
    const afterRenew = await snapshot();
    expect(await command({ action: 'pause', authority: 'cluster', requestId: 'shared-1' })).toMatchObject({
      ok: false,
      error: { type: 'CommandRefusedError', statusCode: 409, message: like.text(/request shared-1 was already used for "renew leaf svc-0"/) },
    });
    expect(await snapshot()).toEqual(afterRenew);
    expect(await command({ action: 'pause', authority: 'cluster', requestId: 'shared-2' })).toMatchObject({ ok: true, applied: true });
    const afterPause = await snapshot();
    expect(await command({ action: 'renew', authority: 'cluster', requestId: 'shared-2' })).toMatchObject({
      ok: false,
      error: { type: 'CommandRefusedError', statusCode: 409, message: like.text(/request shared-2 was already used for a pause command/) },
    });
    expect(await snapshot()).toEqual(afterPause);
    expect(await command({ action: 'resume', authority: 'cluster', requestId: 'shared-3' })).toMatchObject({ ok: true, applied: true });
  });

  it('answers applied: true to exactly one of identical commands sent at once, and counts one rotation', async () => {
    h.clock.advance(HOUR);
    const event = { action: 'rotate-ca', authority: 'cluster', requestId: 'rotate-at-once', reason: 'sent three times' };
    const answers = await Promise.all([command(event), command(event), command(event)]);
    expect(answers.map((answer) => answer.ok)).toEqual([true, true, true]);
    expect(answers.filter((answer) => answer.applied === true)).toHaveLength(1);
    const started = output.lines().filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && '_aws' in line && 'CaRotationsStarted' in line);
    expect(started).toHaveLength(1);
  });

  it('answers an internal failure with a generic error, logs it in full, and counts it', async () => {
    const broken = { ...h.deps, state: { ...h.deps.state, readState: () => Promise.reject(new Error('socket hang up')) } };
    const { createHandler } = await import('../../functions/command.js');
    const handler = createHandler({ clock: h.clock, deps: () => broken });
    const context = lambdaContext('certrotate-command');
    const response = await handler(fixture('command.status.v1.json'), context);
    expect(response).toEqual({ ok: false, error: { type: 'InternalError', statusCode: 500, message: `certrotate failed internally; see the function's logs for request ${context.awsRequestId}` } });
    const text = output.text();
    expect(text).toContain('socket hang up');
    expect(text).toMatch(/"Failures":1/);
  });
});

describe('the command function: check-expiration and inspect', () => {
  /** No stored private key (every one the stores saw: h.keys), in whole or by its body, in `text`. */
  function holdsNoKey(text: string): void {
    expect(text).not.toMatch(/PRIVATE KEY|tls\.key|privateKey/);
    for (const key of h.keys) {
      const body = key.split('\n').find((line) => line.length >= 40);
      if (body !== undefined) expect(text).not.toContain(body);
    }
  }

  it('lists every CA generation and leaf with its expiry, for every authority or one, and never a key', async () => {
    const before = await snapshot();
    const all = await command({ action: 'check-expiration' });
    const one = await command({ action: 'check-expiration', authority: 'cluster' });
    expect(all).toMatchObject({ ok: true, action: 'check-expiration' });
    const rows = all.rows as Record<string, unknown>[];
    expect(rows.filter((row) => row.kind === 'leaf').map((row) => row.name).sort()).toEqual(['svc-0', 'svc-1', 'svc-2', 'svc-3']);
    expect(rows.some((row) => row.kind === 'ca' && row.state === 'ok')).toBe(true);
    for (const row of rows) {
      expect(row).toMatchObject({ authority: 'cluster', notAfter: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown, residualMs: expect.any(Number) as unknown });
    }
    expect(one.rows).toEqual(all.rows);
    holdsNoKey(JSON.stringify([all, one]) + output.text());
    expect(await snapshot()).toEqual(before);
  });

  it('inspects one leaf: subject, SANs, issuer generation, validity, fingerprints; never the key', async () => {
    const before = await snapshot();
    const answer = await command({ action: 'inspect', authority: 'cluster', leaf: 'svc-1' });
    expect(answer).toMatchObject({
      ok: true, action: 'inspect', authority: 'cluster', leaf: 'svc-1', issuerGeneration: expect.any(Number) as unknown,
      serialHex: expect.stringMatching(/^[0-9a-f]+$/) as unknown, fingerprints: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, sha1: expect.stringMatching(/^[0-9a-f]{40}$/) as unknown },
      problem: null,
    });
    expect(Date.parse(String(answer.notAfter))).toBeGreaterThan(Date.parse(String(answer.notBefore)));
    holdsNoKey(JSON.stringify(answer) + output.text());
    expect(await snapshot()).toEqual(before);
  });

  const refused: [string, Record<string, unknown>, string, RegExp][] = [
    ['an unknown authority', { action: 'check-expiration', authority: 'etcd' }, 'NotFoundError', /no authority named "etcd"/],
    ['a bad authority name', { action: 'check-expiration', authority: 'Not A Name' }, 'ValidationError', /event\.authority: "Not A Name" must be an authority name/],
    ['a key check-expiration has none of', { action: 'check-expiration', leaf: 'svc-1' }, 'ValidationError', /event\.leaf: unknown key/],
    ['inspect without a leaf', { action: 'inspect', authority: 'cluster' }, 'ValidationError', /event\.leaf: required/],
    ['inspect without an authority', { action: 'inspect', leaf: 'svc-1' }, 'ValidationError', /event\.authority: required/],
    ['inspect of an unknown leaf', { action: 'inspect', authority: 'cluster', leaf: 'no-such-leaf' }, 'NotFoundError', /authority "cluster" has no leaf "no-such-leaf"/],
    ['inspect with a leaf that is not a string', { action: 'inspect', authority: 'cluster', leaf: 7 }, 'ValidationError', /event\.leaf: expected a string, got number 7/],
    ['inspect with a requestId it has no use for', { action: 'inspect', authority: 'cluster', leaf: 'svc-1', requestId: 'r-1' }, 'ValidationError', /event\.requestId: unknown key/],
  ];
  it.each(refused)('refuses %s with a clear error and changes nothing', async (_name, event, type, message) => {
    const before = await snapshot();
    const response = await command(event);
    expect(response).toEqual({ ok: false, error: { type, message: like.text(message), statusCode: type === 'NotFoundError' ? 404 : 400 } });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses key material pasted as a leaf name without echoing it', async () => {
    const leaf = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ3x9\n-----END PRIVATE KEY-----';
    const response = await command({ action: 'inspect', authority: 'cluster', leaf });
    expect(response).toMatchObject({ ok: false, error: { type: 'ValidationError' } });
    expect(JSON.stringify(response) + output.text()).not.toContain('MIGHAgEAMBMG');
  });
});
