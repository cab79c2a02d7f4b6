/**
 * The certrotate CLI as an operator uses it: a child process against a sandbox started here (a
 * temporary directory, an hour of simulated time per second), every command, its exit code, its
 * --json shape, its refusals; a forced rotation walking to Stable on CA 2; a restart resuming (the
 * KMS-held CA keys too: renewal and rotation still sign).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../lib/local/kit/aws-error.js';
import { cli, eventually, json, startSandbox, type CliRun, type RunningSandbox } from './support.js';

const CONFIG = {
  renewal: { renewBeforeHours: 24, jitterMinutes: 60 },
  authorities: [
    { name: 'fast', algorithm: 'p256', caKeyStore: 'kms', caLifetimeDays: 365, rotationLeadDays: 30, soakHours: { trustExpanded: 1, leavesMigrated: 1 } },
    { name: 'slow', algorithm: 'p256', caLifetimeDays: 365, rotationLeadDays: 60, soakHours: { trustExpanded: 700, leavesMigrated: 700 } },
  ],
  leaves: [
    { authority: 'fast', id: 'api', subject: 'CN=api', dnsNames: ['api.internal'], usage: 'server', lifetimeDays: 20, consumers: ['client'] },
    { authority: 'fast', id: 'client', subject: 'CN=client', usage: 'client', lifetimeDays: 20 },
    { authority: 'slow', id: 'db', subject: 'CN=db', dnsNames: ['db.internal'], usage: 'both', lifetimeDays: 20 },
  ],
};

const dir = mkdtempSync(join(tmpdir(), 'certrotate-cli-'));
const configFile = join(dir, 'config.json');
const sandboxDir = join(dir, 'sandbox');
let sandbox: RunningSandbox;
const run = (...args: string[]): Promise<CliRun> => cli(args, { CERTROTATE_ENDPOINT: sandbox.endpoint });
const statusOf = async (authority: string) => {
  const answer = json(await run('status', authority, '--json'));
  return (answer.authorities as Record<string, unknown>[])[0] ?? {};
};

/** One line on stderr, no stack trace. */
function oneLine(result: CliRun): string {
  const lines = result.stderr.split('\n').filter((line) => line !== '' && !/Warning|^\(|node >=22|^$|upgrade|receiving updates|more information|version/i.test(line));
  expect(lines).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return lines[0] ?? '';
}

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(CONFIG));
  sandbox = await startSandbox(['--dir', sandboxDir, '--speed', '3600', '--config', configFile]);
  await sandbox.waitFor(/slow: Stable -> Stable \(bootstrapped/, 60_000);
}, 90_000);

afterAll(async () => {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('certrotate CLI', () => {
  it('prints help with defaults and an example for every command, and answers bad usage with exit 2', async () => {
    const [overview, statusHelp, sandboxHelp, unknown, badOption, noSlash, noReason, nowhere] = await Promise.all([
      cli(['--help']), cli(['status', '--help']), cli(['sandbox', '--help']), cli(['frobnicate']), run('status', '--colour'),
      run('inspect', 'fast'), run('rotate-ca', 'fast'), cli(['status'], { CERTROTATE_ENDPOINT: undefined }),
    ]);
    expect(overview.code).toBe(0);
    for (const command of ['status', 'plan', 'history', 'rotate-ca', 'pause', 'resume', 'rollback', 'renew', 'check-expiration', 'inspect', 'validate-config', 'import-ca', 'sandbox']) {
      expect(overview.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect(statusHelp.code).toBe(0);
    expect(statusHelp.stdout).toMatch(/--stuck-hours HOURS .*\(default: 24\)/);
    expect(statusHelp.stdout).toMatch(/example:\n  certrotate status/);
    expect(sandboxHelp.stdout).toMatch(/--speed N .*\(default: 3600\)/);
    expect(sandboxHelp.stdout).toMatch(/--dir DIR .*\(default: \.certrotate-sandbox\)/);
    for (const result of [unknown, badOption, noSlash, noReason, nowhere]) expect(result.code).toBe(2);
    expect(oneLine(unknown)).toMatch(/unknown command "frobnicate"/);
    expect(oneLine(badOption)).toMatch(/--colour/);
    expect(oneLine(noSlash)).toMatch(/<authority>\/<leaf>/);
    expect(oneLine(noReason)).toMatch(/--reason/);
    expect(oneLine(nowhere)).toMatch(/--stack NAME, --function NAME, or --endpoint URL/);
  }, 60_000);

  it('validates a configuration file, naming every bad path', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ authorities: [{ name: 'x', colour: 'red' }], leaves: [{ authority: 'y', id: 'a', subject: 'CN=a', usage: 'server', lifetimeDays: 1 }] }));
    const [good, invalid] = await Promise.all([cli(['validate-config', configFile, '--json']), cli(['validate-config', bad])]);
    expect(good.code).toBe(0);
    expect(json(good)).toMatchObject({ valid: true, authorities: ['fast', 'slow'], leaves: 3 });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/config\.authorities\[0\]\.colour: unknown key/);
    expect(invalid.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('reads status, plan, history, check-expiration and inspect from the sandbox, never a key', async () => {
    const [status, plan, history, expiration, table, inspect, inspectJson] = await Promise.all([
      run('status', '--json'), run('plan', 'fast', '--json'), run('history', 'fast', '--json'), run('check-expiration', '--json'),
      run('check-expiration'), run('inspect', 'fast/api'), run('inspect', 'fast/api', '--json'),
    ]);
    for (const result of [status, plan, history, expiration, table, inspect, inspectJson]) expect(result.code).toBe(0);
    const authorities = json(status).authorities as Record<string, unknown>[];
    expect(authorities.map((a) => a.authority)).toEqual(['fast', 'slow']);
    expect(authorities[0]).toMatchObject({ generation: 1, phase: 'Stable', bundle: [1], signer: 1, leaves: { total: 2, fromSigner: 2 }, attention: { needed: false } });
    expect(json(status)).toMatchObject({ attention: false, exitCode: 0 });
    expect(json(plan)).toMatchObject({ action: 'plan', authorities: [{ authority: 'fast', step: { kind: 'none' } }] });
    expect(json(history).entries).toEqual(expect.arrayContaining([expect.objectContaining({ to: 'Stable', by: 'schedule' })]));
    const rows = json(expiration).rows as Record<string, unknown>[];
    expect(rows.map((row) => `${String(row.authority)} ${String(row.name)} ${String(row.kind)}`)).toEqual(['fast CA 1 ca', 'fast api leaf', 'fast client leaf', 'slow CA 1 ca', 'slow db leaf']);
    expect(rows.every((row) => row.state === 'ok' && row.generation === 1 && typeof row.residualMs === 'number')).toBe(true);
    expect(table.stdout).toMatch(/^AUTHORITY +NAME +KIND +GEN +EXPIRES +RESIDUAL TIME +RENEWS\/ROTATES AT +STATE$/m);
    expect(table.stdout).toMatch(/^fast +api +leaf +1 +\w{3} \d\d, \d{4} \d\d:\d\d UTC +\d+d /m);
    expect(json(inspectJson)).toMatchObject({ authority: 'fast', leaf: 'api', subject: 'CN=api', issuerGeneration: 1, subjectAltNames: { dns: ['api.internal'] }, keyAlgorithm: 'p256', bundle: [1] });
    expect(inspect.stdout).toMatch(/^SHA-256: +[0-9a-f]{64}$/m);
    for (const result of [inspect, inspectJson, status, expiration]) expect(result.stdout).not.toMatch(/PRIVATE KEY/);
  }, 60_000);

  it('refuses an unknown authority, leaf or a command the state does not allow with exit 1 and one line', async () => {
    const [authority, leaf, rollback, renewUnknown] = await Promise.all([run('status', 'nope'), run('inspect', 'fast/nope'), run('rollback', 'fast'), run('renew', 'fast', 'nope', '--json')]);
    for (const result of [authority, leaf, rollback, renewUnknown]) expect(result.code).toBe(1);
    expect(oneLine(authority)).toMatch(/no authority named "nope"/);
    expect(oneLine(leaf)).toMatch(/no leaf "nope"/);
    expect(oneLine(rollback)).toMatch(/nothing to roll back: authority fast is Stable/);
    expect(json(renewUnknown)).toMatchObject({ ok: false, exitCode: 1 });
  }, 60_000);

  it('walks a forced rotation to Stable on CA 2, printing the request id; history and check-expiration follow', async () => {
    const from = sandbox.lines.length;
    const rotate = await run('rotate-ca', 'fast', '--reason', 'drill');
    expect(rotate.code).toBe(0);
    const requestId = /^request id: (cli-\S+)$/m.exec(rotate.stdout)?.[1];
    expect(requestId).toBeDefined();
    expect(rotate.stdout).toMatch(/fast: rotate-ca applied: Stable -> Prepared/);
    await sandbox.waitFor(/fast: LeavesMigrated -> Stable/, 60_000, from);
    for (const phase of ['Prepared -> TrustExpanded', 'TrustExpanded -> LeavesMigrated']) expect(sandbox.lines.slice(from).join('\n')).toContain(`fast: ${phase}`);
    expect(await statusOf('fast')).toMatchObject({ generation: 2, phase: 'Stable', bundle: [2], signer: 2, leaves: { total: 2, fromSigner: 2 } });
    const [history, expiration] = await Promise.all([run('history', 'fast'), run('check-expiration', 'fast', '--json')]);
    expect(history.stdout).toContain(`rotate-ca (request ${requestId ?? ''})`);
    const rows = json(expiration).rows as Record<string, unknown>[];
    expect(rows.filter((row) => row.kind === 'ca').map((row) => [row.name, row.state])).toEqual([['CA 1', 'retired'], ['CA 2', 'ok']]);
    expect(rows.filter((row) => row.kind === 'leaf').every((row) => row.generation === 2)).toBe(true);
  }, 90_000);

  it('pauses, resumes and rolls back a rotation in progress; a retried request id changes nothing', async () => {
    expect((await run('rotate-ca', 'slow', '--reason', 'planned', '--request-id', 'slow-1')).code).toBe(0);
    const paused = await run('pause', 'slow', '--reason', 'freeze', '--json');
    expect(paused.code).toBe(0);
    expect(json(paused)).toMatchObject({ authority: 'slow', applied: true, paused: true, requestId: expect.stringMatching(/^cli-/) as unknown });
    expect(await statusOf('slow')).toMatchObject({ paused: true, generation: 1, target: 2 });
    const again = await run('rotate-ca', 'slow', '--reason', 'planned', '--request-id', 'slow-1');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already applied by request slow-1; nothing changed/);
    expect((await run('resume', 'slow')).code).toBe(0);
    const rollback = await run('rollback', 'slow', '--reason', 'changed our minds', '--json');
    expect(rollback.code).toBe(0);
    expect(json(rollback)).toMatchObject({ applied: true, rollingBack: true, paused: false });
    // The walk back skips no gate but waits for no soak: it ends Stable on CA 1, CA 2 dropped.
    await eventually(() => statusOf('slow'), (status) => status.phase === 'Stable', 30_000);
    expect(await statusOf('slow')).toMatchObject({ phase: 'Stable', rollingBack: false, bundle: [1], signer: 1 });
  }, 90_000);

  it('renews one leaf on request, and a retry with the same request id reissues nothing', async () => {
    const before = json(await run('inspect', 'fast/api', '--json'));
    const first = await run('renew', 'fast', 'api', '--request-id', 'renew-api-1', '--json');
    expect(first.code).toBe(0);
    expect(json(first)).toMatchObject({ applied: true, renewed: ['api'], renewedCount: 1, requestId: 'renew-api-1' });
    const after = json(await run('inspect', 'fast/api', '--json'));
    expect(after.serialHex).not.toBe(before.serialHex);
    const retry = await run('renew', 'fast', 'api', '--request-id', 'renew-api-1');
    expect(retry.code).toBe(0);
    expect(retry.stdout).toMatch(/request renew-api-1 had already completed; nothing reissued/);
  }, 60_000);

  it('exits 3 when a leaf secret is broken out of band, until the daily reconcile reissues it', async () => {
    const described = (await (await fetch(sandbox.endpoint)).json()) as { region: string; endpoints: { secretsManager: string } };
    const secrets = new SecretsManagerClient({ region: described.region, endpoint: described.endpoints.secretsManager, credentials: LOCAL_CREDENTIALS });
    const results = await eventually(async () => {
      await secrets.send(new PutSecretValueCommand({ SecretId: 'certrotate/fast/leaf/client', SecretString: JSON.stringify({ 'tls.crt': 'garbage', 'tls.key': 'garbage', 'ca.crt': 'garbage' }) }));
      // status reads the DynamoDB inventory by default, which still records the good leaf: --deep reads the secret.
      return Promise.all([run('check-expiration', 'fast', '--json'), run('status', 'fast', '--deep', '--json')]);
    }, ([expiration, status]) => expiration.code === 3 && status.code === 3, 60_000);
    secrets.destroy();
    const [expiration, status] = results;
    expect(json(expiration)).toMatchObject({ attention: true, exitCode: 3 });
    expect((json(expiration).rows as Record<string, unknown>[]).find((row) => row.name === 'client')).toMatchObject({ state: 'unreadable', attention: true });
    expect(json(status)).toMatchObject({ attention: true, exitCode: 3, authorities: [{ attention: { needed: true, lagging: true } }] });
    await eventually(() => run('check-expiration', 'fast'), (result) => result.code === 0, 60_000);
  }, 150_000);

  it('import-ca reads the files here and answers a refusal in one line, never echoing the key', async () => {
    const cert = join(dir, 'not-a-ca.crt');
    const key = join(dir, 'ca.key');
    writeFileSync(cert, 'not a certificate');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n');
    const [refused, noKey, missingFile] = await Promise.all([
      run('import-ca', '--authority', 'fast', '--cert', cert, '--key', key, '--json'),
      run('import-ca', '--authority', 'fast', '--cert', cert),
      run('import-ca', '--authority', 'fast', '--cert', join(dir, 'absent.crt'), '--key', key),
    ]);
    expect(refused.code).toBe(1);
    expect(oneLine(refused)).toMatch(/^certrotate: import-ca refused: /);
    expect(json(refused)).toMatchObject({ ok: false, exitCode: 1 });
    expect(noKey.code).toBe(2);
    expect(oneLine(noKey)).toMatch(/--key FILE/);
    expect(missingFile.code).toBe(1);
    expect(oneLine(missingFile)).toMatch(/cannot read --cert/);
    for (const result of [refused, noKey, missingFile]) expect(result.stdout + result.stderr).not.toMatch(/PRIVATE KEY|MIGHAgEA/);
  }, 60_000);

  it('watches the status until interrupted', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('./support.js');
    const child = spawn(process.execPath, [BIN, 'status', 'fast', '--watch', '--interval', '0.5'], { env: { ...process.env, CERTROTATE_ENDPOINT: sandbox.endpoint } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await eventually(() => Promise.resolve(stdout), (text) => /fast: CA generation 2, phase Stable/.test(text), 30_000);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
  }, 60_000);

  it('resumes where it stopped after a restart', async () => {
    const [status, second, badSpeed] = await Promise.all([run('status', '--json'), cli(['sandbox', '--dir', sandboxDir, '--config', configFile]), cli(['sandbox', '--speed=0'])]);
    const before = json(status).authorities as Record<string, unknown>[];
    expect(second.code).toBe(1);
    expect(oneLine(second)).toMatch(/is in use by another sandbox \(pid \d+\)/);
    expect(badSpeed.code).toBe(2);
    expect(oneLine(badSpeed)).toMatch(/--speed must be a number from 1/);
    const { code, stderr } = await sandbox.stop();
    expect(code).toBe(0);
    expect(stderr).toContain(`state kept in ${sandboxDir}`);
    sandbox = await startSandbox(['--dir', sandboxDir, '--speed', '3600', '--config', configFile]);
    const after = json(await run('status', '--json')).authorities as Record<string, unknown>[];
    expect(after.map((a) => [a.authority, a.generation])).toEqual(before.map((a) => [a.authority, a.generation]));
    expect(after[0]).toMatchObject({ generation: 2, phase: 'Stable', leaves: { fromSigner: 2 } });
    expect(sandbox.lines.join('\n')).not.toMatch(/bootstrapped/);
    expect((json(await run('history', 'fast', '--json')).entries as unknown[]).length).toBeGreaterThan(3);
    // fast keeps its CA keys in the local KMS, whose keys the sandbox kept (owner-only) across the restart.
    expect(statSync(join(sandboxDir, 'kms.json')).mode & 0o777).toBe(0o600);
    const renewed = await run('renew', 'fast', 'api', '--json');
    expect(json(renewed)).toMatchObject({ applied: true, renewed: ['api'] });
    const from = sandbox.lines.length;
    expect((await run('rotate-ca', 'fast', '--reason', 'after restart')).code).toBe(0);
    await sandbox.waitFor(/fast: LeavesMigrated -> Stable/, 60_000, from);
    expect(await statusOf('fast')).toMatchObject({ generation: 3, phase: 'Stable', bundle: [3], leaves: { total: 2, fromSigner: 2 } });
  }, 150_000);
});
