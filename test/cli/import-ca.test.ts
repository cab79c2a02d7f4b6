/**
 * Adopting an existing CA as a user would: a CA and key made with openssl, a sandbox whose
 * configuration has an authority with no CA yet (`--adopt`: the schedule leaves it alone until the
 * import), `certrotate import-ca`, then `status` on generation 1 and `rotate-ca` away from it to a
 * CA certrotate generated. The key is never printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opensslCa } from '../../lib/simulation/openssl.js';
import { cli, json, startSandbox, type CliRun, type RunningSandbox } from './support.js';

const DAY = 86_400_000;
const CONFIG = {
  renewal: { renewBeforeHours: 24, jitterMinutes: 60 },
  authorities: [{ name: 'adopted', algorithm: 'p256', caLifetimeDays: 365, rotationLeadDays: 30, soakHours: { trustExpanded: 1, leavesMigrated: 1 } }],
  leaves: [{ authority: 'adopted', id: 'web', subject: 'CN=web', dnsNames: ['web.internal'], usage: 'server', lifetimeDays: 20 }],
};

const dir = mkdtempSync(join(tmpdir(), 'certrotate-cli-import-'));
const configFile = join(dir, 'config.json');
let sandbox: RunningSandbox;
let keyBody = '';
const outputs: CliRun[] = [];
const run = async (...args: string[]): Promise<CliRun> => {
  const result = await cli(args, { CERTROTATE_ENDPOINT: sandbox.endpoint });
  outputs.push(result);
  return result;
};
const statusOf = async () => (json(await run('status', 'adopted', '--json')).authorities as Record<string, unknown>[])[0] ?? {};

beforeAll(async () => {
  writeFileSync(configFile, JSON.stringify(CONFIG));
  sandbox = await startSandbox(['--dir', join(dir, 'sandbox'), '--speed', '3600', '--config', configFile, '--adopt', 'adopted']);
}, 90_000);

afterAll(async () => {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('certrotate import-ca against a sandbox', () => {
  it('adopts an openssl-made CA as generation 1, and rotate-ca moves away from it; the key is never printed', async () => {
    const ca = await opensslCa({ subject: 'CN=kubernetes', at: Date.now() - 30 * DAY, days: 3650, key: 'p256' });
    keyBody = ca.privateKeyPem.split('\n').find((line) => line.length > 40) ?? ca.privateKeyPem;
    writeFileSync(join(dir, 'ca.crt'), ca.certificatePem);
    writeFileSync(join(dir, 'ca.key'), ca.privateKeyPem, { mode: 0o600 });
    // The schedule has left it alone: no CA was generated for it.
    expect(sandbox.lines.join('\n')).not.toMatch(/adopted: .*bootstrapped/);

    const imported = await run('import-ca', '--authority', 'adopted', '--cert', join(dir, 'ca.crt'), '--key', join(dir, 'ca.key'), '--json');
    expect(imported.code).toBe(0);
    expect(json(imported)).toMatchObject({ ok: true, action: 'import-ca', authority: 'adopted', generation: 1, fingerprintSha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
    const again = await run('import-ca', '--authority', 'adopted', '--cert', join(dir, 'ca.crt'), '--key', join(dir, 'ca.key'));
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/adopted: imported CA as generation 1/);

    expect(await statusOf()).toMatchObject({ generation: 1, phase: 'Stable', bundle: [1], signer: 1 });
    const history = await run('history', 'adopted', '--json');
    expect(json(history).entries).toEqual(expect.arrayContaining([expect.objectContaining({ by: expect.stringMatching(/import-ca/) as unknown })]));

    const from = sandbox.lines.length;
    expect((await run('rotate-ca', 'adopted', '--reason', 'move off the kubeadm CA')).code).toBe(0);
    await sandbox.waitFor(/adopted: LeavesMigrated -> Stable/, 60_000, from);
    expect(await statusOf()).toMatchObject({ generation: 2, phase: 'Stable', bundle: [2], signer: 2, leaves: { total: 1, fromSigner: 1 } });
    const rows = json(await run('check-expiration', 'adopted', '--json')).rows as Record<string, unknown>[];
    expect(rows.filter((row) => row.kind === 'ca').map((row) => [row.name, row.state])).toEqual([['CA 1', 'retired'], ['CA 2', 'ok']]);

    for (const result of outputs) expect(result.stdout + result.stderr).not.toMatch(/PRIVATE KEY/);
    for (const result of outputs) expect(result.stdout + result.stderr).not.toContain(keyBody);
    expect(sandbox.lines.join('\n')).not.toContain(keyBody);
  }, 120_000);
});
