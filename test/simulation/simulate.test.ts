import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { simulate, type SimulationResult } from '../../lib/simulation/run.js';

const run = promisify(execFile);
const short = { days: 40, leaves: 12, algorithm: 'p256', seed: 7, forceRotationAt: 10, caLifetimeDays: 45 } as const;

/**
 * Whole simulated runs and child processes: CPU-bound, so they get time for a machine that is busy
 * with other work too (CI on 2 cores beside other processes), not a tighter budget that only an
 * idle machine meets. How fast they are is the benchmarks' business.
 */
const E2E_TIMEOUT_MS = 240_000;

function summary(result: SimulationResult) {
  return { authorities: result.authorities, totals: result.totals };
}

describe('the simulation behind npm start', { timeout: E2E_TIMEOUT_MS }, () => {
  it('runs a single day: the rotation forced on day 0 comes once the authorities are bootstrapped, and no pair fails', async () => {
    const progress: string[] = [];
    const result = await simulate({ ...short, days: 1, forceRotationAt: 0, onProgress: (line) => progress.push(line) });
    expect(result.failures).toEqual([]);
    expect(result.totals.failedHandshakes).toBe(0);
    expect(result.authorities.find((a) => a.name === 'cluster')?.forcedRotations).toBe(1);
    expect(result.authorities.every((a) => a.handshakes > 0)).toBe(true);
    // The bootstrap at midnight, the forced rotation and the EKS outage an hour later.
    expect(progress.filter((line) => line.includes('forces a rotation') || line.includes('becomes unreachable'))).toEqual([
      '2027-01-01T01:00 EKS cluster prod-eu becomes unreachable for 24h',
      'day 0: operator forces a rotation of cluster',
    ]);
  });

  it('carries every authority through its rotations, scheduled and forced, with no failed handshake and nothing expired served', async () => {
    const progress: string[] = [];
    const result = await simulate({ ...short, onProgress: (line) => progress.push(line) });
    expect(result.failures).toEqual([]);
    expect(result.totals.failedHandshakes).toBe(0);
    expect(result.totals.expiredServed).toBe(0);
    for (const authority of result.authorities) {
      // 45-day CAs rotated 30 days before expiry (etcd: its longest leaf lifetime): every
      // authority rotates at least once in 40 days, and cluster is also forced on day 10.
      expect(authority.rotations, authority.name).toBeGreaterThanOrEqual(1);
      expect(authority.caGenerations).toBe(authority.rotations + 1);
      expect(authority.handshakes).toBeGreaterThan(0);
    }
    expect(result.authorities.find((a) => a.name === 'cluster')?.forcedRotations).toBe(1);
    for (const history of Object.values(result.history)) expect(history.at(-1)?.to).toBe('Stable');
    // The forced rotation of cluster meets an EKS cluster that is down for a day: the rotation
    // waits at its gate, the status names the cluster, and it moves on only once it is back.
    const down = Date.UTC(2027, 0, 1) + short.forceRotationAt * 86_400_000;
    const back = down + 86_400_000;
    expect(progress.some((line) => /cluster: .*prod-eu kube-system\/cluster-ca unreachable/.test(line))).toBe(true);
    const forced = result.history.cluster?.filter((t) => t.at >= down && t.at < down + 5 * 86_400_000) ?? [];
    expect(forced.find((t) => t.from === 'TrustExpanded')?.at).toBeGreaterThanOrEqual(back);
    // The day it waits costs the jumping run no ticks of its own (144 ten-minute advances if it
    // ticked each one): no tick can meet a gate that waits on a cluster that is down.
    expect(result.ticks).toBeLessThan(72);
  });

  it('gives the same summary for the same seed, and the same history whether it ticks every slot or jumps', async () => {
    const days = { ...short, days: 20 };
    const jumping = await simulate(days);
    const again = await simulate(days);
    const everySlot = await simulate({ ...days, everySlot: true });
    expect(summary(again)).toEqual(summary(jumping));
    expect(summary(everySlot)).toEqual(summary(jumping));
    const transitions = (result: SimulationResult) =>
      Object.fromEntries(Object.entries(result.history).map(([authority, history]) => [authority, history.map(({ from, to, at, by }) => ({ from, to, at, by }))]));
    expect(transitions(everySlot)).toEqual(transitions(jumping));
    expect(everySlot.ticks).toBeGreaterThan(jumping.ticks * 3);
    // Three runs, one of them at every five-minute slot, with two local EKS clusters each.
  }, 3 * E2E_TIMEOUT_MS);

  it('reports failed handshakes when a broken deployment drops the old CA from bundles early', async () => {
    const result = await simulate({ ...short, days: 15, broken: true });
    expect(result.totals.failedHandshakes).toBeGreaterThan(0);
    // The daily checks are counted apart: never more failed handshakes than handshakes.
    for (const authority of result.authorities) expect(authority.failedHandshakes).toBeLessThanOrEqual(authority.handshakes);
    expect(result.totals.failedHandshakes).toBeLessThanOrEqual(result.totals.handshakes);
    expect(result.failures.join('\n')).toMatch(/cluster: .*(no CA in the bundle issued|unable to get|self-signed|not signed)/i);
  });
});

describe('npm start', { timeout: E2E_TIMEOUT_MS }, () => {
  // What `npm start` runs: the simulation built by esbuild, its traffic thread included.
  const cli = ['bin/start.mjs'];

  it('prints only the summary JSON on stdout with --json and exits 0 when all is well', async () => {
    const { stdout, stderr } = await run(process.execPath, [...cli, '--days', '12', '--leaves', '12', '--seed', '5', '--force-rotation-at', '3', '--json']);
    // Progress stays on stderr with --json.
    expect(stderr).toMatch(/day 3: operator forces a rotation of cluster/);
    const parsed = JSON.parse(stdout) as {
      days: number;
      seed: number;
      authorities: { name: string; adoptedCa: boolean; caKeyStore: string; leafStore: string }[];
      totals: Record<string, number>;
      consumers: Record<string, Record<string, number>>;
    };
    expect(Object.keys(parsed)).toEqual(['days', 'seed', 'authorities', 'totals', 'consumers']);
    expect(Object.keys(parsed.consumers)).toEqual(['elbv2TrustStore', 'apiGatewayDomain', 'acmCertificate']);
    for (const counts of Object.values(parsed.consumers)) expect(Object.keys(counts)).toEqual(['targets', 'handshakes', 'failedHandshakes']);
    expect(parsed.days).toBe(12);
    expect(parsed.authorities.map((a) => Object.keys(a))).toEqual(
      Array(3).fill(['name', 'adoptedCa', 'caKeyStore', 'leafStore', 'caGenerations', 'rotations', 'leavesRenewed', 'handshakes', 'failedHandshakes', 'expiredServed', 'failedDailyChecks']),
    );
    // Two authorities sign through the local KMS, one with the key in its secrets.
    expect(parsed.authorities.map((a) => [a.name, a.caKeyStore, a.leafStore])).toEqual([['cluster', 'kms', 'secretsmanager'], ['etcd', 'kms', 'secretsmanager'], ['front-proxy', 'secret', 's3']]);
    expect(Object.keys(parsed.totals)).toEqual(['rotations', 'leavesRenewed', 'handshakes', 'failedHandshakes', 'expiredServed', 'failedDailyChecks']);
    expect(parsed.totals.failedHandshakes).toBe(0);
    // npm start adopts front-proxy from a CA made with openssl.
    expect(parsed.authorities.map((a) => [a.name, a.adoptedCa])).toEqual([['cluster', false], ['etcd', false], ['front-proxy', true]]);
  });

  it('exits non-zero when a handshake fails', async () => {
    const failed = await run(process.execPath, [...cli, '--days', '6', '--leaves', '12', '--force-rotation-at', '2', '--broken-drop-old-ca-early', '--quiet']).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect(String((failed as { stdout?: string }).stdout)).toMatch(/FAILURES/);
  });

  it('refuses an unknown flag or a bad value with usage and exit code 2', async () => {
    for (const [args, message] of [
      [['--dayz', '3'], /Unknown option '--dayz'/],
      [['--algorithm', 'ed25519'], /--algorithm must be one of/],
      [['--days', '-1'], /^--days must be at least 1, got -1\n/],
    ] as const) {
      const failed = await run(process.execPath, [...cli, ...args]).then(() => undefined, (error: unknown) => error);
      expect(failed).toMatchObject({ code: 2, stdout: '' });
      const stderr = String((failed as { stderr?: string }).stderr);
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/usage: npm start/);
      expect(stderr).not.toMatch(/\n +at /);
    }
  });

  it('lists every flag with its default on --help and exits 0 without running', async () => {
    const { stdout, stderr } = await run(process.execPath, [...cli, '--help']);
    expect(stderr).toBe('');
    for (const flag of ['--days N', '--leaves N', '--algorithm', '--seed N', '--force-rotation-at DAY', '--quiet', '--json', '--out DIR', '--every-slot', '--broken-drop-old-ca-early']) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/--days N +simulated days to run \(default 400/);
  });
});
