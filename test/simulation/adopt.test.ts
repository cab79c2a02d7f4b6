import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { simulate } from '../../lib/simulation/run.js';

const run = promisify(execFile);
const DAY = 86_400_000;
const START = Date.UTC(2027, 0, 1);

describe('the simulation adopting front-proxy from a CA made with openssl', { timeout: 240_000 }, () => {
  it('keeps every handshake working from the adopted CA through the scheduled rotation away from it', async () => {
    const progress: string[] = [];
    const result = await simulate({ days: 40, leaves: 12, algorithm: 'p256', seed: 7, forceRotationAt: 10, caLifetimeDays: 45, adoptCa: 'front-proxy', onProgress: (line) => progress.push(line) });
    expect(result.failures).toEqual([]);
    expect(result.totals.failedHandshakes).toBe(0);
    expect(result.totals.expiredServed).toBe(0);
    expect(result.authorities.map((authority) => [authority.name, authority.adoptedCa])).toEqual([['cluster', false], ['etcd', false], ['front-proxy', true]]);
    const frontProxy = result.authorities.find((authority) => authority.name === 'front-proxy');
    expect(frontProxy?.scheduledRotations).toBe(1);
    expect(frontProxy?.caGenerations).toBe(2);
    expect(frontProxy?.handshakes).toBeGreaterThan(0);
    expect(progress.some((line) => /front-proxy: adopted CA "CN=front-proxy-ca" made with openssl .* with (\d+)\/\1 leaves in the field/.test(line))).toBe(true);
    // Its history starts with the import, not a bootstrap; the rotation away starts 20 days later
    // (the CA lives 20 days past the rotation lead) and ends Stable on certrotate's CA 2.
    const history = result.history['front-proxy'] ?? [];
    expect(history[0]).toMatchObject({ by: { kind: 'command', command: 'import-ca' }, generation: 1, at: START });
    const rotation = history.find((transition) => transition.to === 'Prepared');
    expect(rotation?.by.kind).toBe('schedule');
    expect(rotation?.at).toBe(START + 20 * DAY);
    expect(history.at(-1)).toMatchObject({ from: 'LeavesMigrated', to: 'Stable', target: 2 });
  });

  it('npm start stops with one clear line, not a stack trace, when openssl cannot be run', async () => {
    const cli = ['--import', 'tsx', 'lib/simulation/main.ts', '--days', '3', '--leaves', '12', '--quiet'];
    const failed: unknown = await run(process.execPath, cli, { env: { ...process.env, PATH: '/nonexistent' } }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    const stderr = String((failed as { stderr?: string }).stderr);
    expect(stderr).toMatch(/needs the `openssl` command, which cannot be run here .*apt-get install openssl.*npm start -- --adopt-ca none/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr).not.toMatch(/faketime/);
  });

  it('npm start adopts with nothing but openssl on the PATH (no faketime: openssl ca dates the certificates itself)', async () => {
    const { stdout: opensslPath } = await run('sh', ['-c', 'command -v openssl']);
    const bin = await mkdtemp(join(tmpdir(), 'certrotate-only-openssl-'));
    try {
      await symlink(opensslPath.trim(), join(bin, 'openssl'));
      const cli = ['--import', 'tsx', 'lib/simulation/main.ts', '--days', '3', '--leaves', '12'];
      const { stdout, stderr } = await run(process.execPath, cli, { env: { ...process.env, PATH: bin } });
      expect(stderr).toMatch(/front-proxy: adopted CA "CN=front-proxy-ca" made with openssl .* with (\d+)\/\1 leaves in the field/);
      expect(stdout).toMatch(/every handshake completed and no expired certificate was served/);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });
});
