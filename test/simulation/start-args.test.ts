import { describe, expect, it } from 'vitest';
import { HELP, MIN_LEAVES, parseStartArgs } from '../../lib/simulation/args.js';
import type { SimulationResult } from '../../lib/simulation/run.js';
import { slowAlgorithmWarning, succeeded, summaryJson, summaryTable, summaryText } from '../../lib/simulation/summary.js';

function error(argv: string[]): string {
  const parsed = parseStartArgs(argv);
  if (parsed.kind !== 'error') throw new Error(`expected a refusal of ${argv.join(' ')}, got ${parsed.kind}`);
  return parsed.message;
}

function options(argv: string[]) {
  const parsed = parseStartArgs(argv);
  if (parsed.kind !== 'run') throw new Error(`expected a run for ${argv.join(' ')}, got ${JSON.stringify(parsed)}`);
  return parsed.options;
}

describe('npm start arguments', () => {
  it('defaults to 400 days, 30 leaves, p256, seed 1 and a forced rotation on day 200', () => {
    expect(options([])).toEqual({ days: 400, leaves: 30, algorithm: 'p256', seed: 1, forceRotationAt: 200, quiet: false, json: false, everySlot: false, broken: false, adoptCa: 'front-proxy' });
    expect(options(['--adopt-ca', 'none']).adoptCa).toBeUndefined();
    expect(error(['--adopt-ca', 'kube'])).toBe('--adopt-ca must be cluster, etcd, front-proxy or none, got "kube"');
    expect(options(['--days', '100']).forceRotationAt).toBe(50);
  });

  it('lists every flag with its default in --help', () => {
    const parsed = parseStartArgs(['--help']);
    expect(parsed).toEqual({ kind: 'help', text: HELP });
    for (const flag of ['--days', '--leaves', '--algorithm', '--seed', '--force-rotation-at', '--quiet', '--json', '--out', '--every-slot', '--broken-drop-old-ca-early', '--adopt-ca']) {
      const line = HELP.split('\n').find((candidate) => candidate.trimStart().startsWith(flag));
      expect(line, flag).toBeDefined();
      // The default sits on the flag's line or the one wrapped after it.
      const index = HELP.split('\n').indexOf(line ?? '');
      expect(`${line ?? ''} ${HELP.split('\n')[index + 1] ?? ''}`, flag).toMatch(/default/);
    }
    expect(HELP).toMatch(/--days N .*default 400/);
    expect(HELP).toMatch(/--leaves N .*default 30/);
    expect(HELP).toMatch(/npm start -- --days 100/);
  });

  it('answers a negative number with its own message, not node:util wording', () => {
    for (const [flag, min] of [['--days', 1], ['--leaves', MIN_LEAVES], ['--seed', 0], ['--force-rotation-at', 0]] as const) {
      const message = error([flag, '-5']);
      expect(message).toContain(`${flag} must be at least ${min}`);
      expect(message).toContain('got -5');
      expect(message).not.toMatch(/ambiguous|Unknown option/);
      expect(error([`${flag}=-5`])).toBe(message);
    }
  });

  it('explains a forced rotation outside the run', () => {
    expect(error(['--days', '100', '--force-rotation-at', '100'])).toBe(
      '--force-rotation-at 100 is past the last day of a 100-day run, so the forced rotation would never happen: pick a day from 0 to 99, or run longer with --days',
    );
    expect(error(['--force-rotation-at', '500'])).toMatch(/past the last day of a 400-day run/);
    expect(options(['--days', '100', '--force-rotation-at', '99']).forceRotationAt).toBe(99);
    expect(options(['--force-rotation-at', '0']).forceRotationAt).toBe(0);
  });

  it('explains why --leaves has a minimum', () => {
    const message = error(['--leaves', '11']);
    expect(message).toMatch(/^--leaves must be at least 12 \(the demo control plane has fixed roles: .*etcd.*\), got 11$/);
    expect(options(['--leaves', '12']).leaves).toBe(12);
  });

  it('refuses fractions, words, unknown flags and algorithms with one line each', () => {
    expect(error(['--days', '1.5'])).toBe('--days must be a whole number, got "1.5"');
    expect(error(['--seed', 'abc'])).toBe('--seed must be a whole number, got "abc"');
    expect(error(['--algorithm', 'ed25519'])).toBe('--algorithm must be one of p256, p384, rsa2048, rsa3072, rsa4096, got "ed25519"');
    expect(error(['--dayz', '3'])).toMatch(/Unknown option '--dayz'/);
  });

  it('keeps --json apart from --quiet: progress still goes to stderr', () => {
    expect(options(['--json'])).toMatchObject({ json: true, quiet: false });
  });
});

describe('the slow-algorithm warning', () => {
  it('says rsa4096 is slow, with a rough duration, before the run starts', () => {
    const warning = slowAlgorithmWarning({ algorithm: 'rsa4096', days: 400, leaves: 30 });
    expect(warning).toMatch(/^--algorithm rsa4096 is slow: .* roughly 7 minutes or more/);
    expect(slowAlgorithmWarning({ algorithm: 'rsa4096', days: 10, leaves: 12 })).toMatch(/roughly 1 minute or more/);
    expect(slowAlgorithmWarning({ algorithm: 'rsa3072', days: 400, leaves: 30 })).toMatch(/rsa3072 is slow/);
  });

  it('stays silent for the fast algorithms', () => {
    for (const algorithm of ['p256', 'p384', 'rsa2048'] as const) expect(slowAlgorithmWarning({ algorithm, days: 400, leaves: 30 })).toBeUndefined();
  });
});

function result(overrides: Partial<SimulationResult['totals']> = {}): SimulationResult {
  const totals = { rotations: 2, leavesRenewed: 40, handshakes: 100, failedHandshakes: 0, expiredServed: 0, failedDailyChecks: 0, ...overrides };
  const authority = { name: 'cluster', adoptedCa: false, caKeyStore: 'secret' as const, leafStore: 's3' as const, caGenerations: 3, rotations: 2, scheduledRotations: 1, forcedRotations: 1, leavesRenewed: 40, handshakes: 100, failedHandshakes: totals.failedHandshakes, expiredServed: totals.expiredServed, failedDailyChecks: totals.failedDailyChecks };
  return { days: 10, seed: 1, authorities: [authority], totals, history: {}, failures: totals.failedDailyChecks > 0 ? ['cluster: daily check a -> b: no CA in the bundle issued it'] : [], ticks: 5 };
}

describe('the summary', () => {
  it('counts failed daily checks apart from failed handshakes, and fails the run on them', () => {
    const broken = result({ failedDailyChecks: 4 });
    expect(succeeded(broken)).toBe(false);
    expect(summaryText(broken, 1)).toMatch(/FAILURES \(first 1\):\n  cluster: daily check/);
    const table = summaryTable(broken).split('\n');
    expect(table[0]).toMatch(/handshakes {2}failed handshakes {2}failed daily checks {2}expired served$/);
    expect(table[2]).toMatch(/100 +0 +4 +0$/);
    expect(table[0]).toMatch(/^authority +CA keys +leaves in +CA generations/);
    expect(table[2]).toMatch(/^cluster +secret +s3 +3 /);
    expect(succeeded(result())).toBe(true);
    expect(summaryText(result(), 1)).toMatch(/every handshake completed and no expired certificate was served\n$/);
  });

  it('prints exactly the documented fields as JSON', () => {
    const parsed = JSON.parse(summaryJson(result())) as { authorities: object[]; totals: object };
    expect(Object.keys(parsed)).toEqual(['days', 'seed', 'authorities', 'totals']);
    expect(parsed.authorities.map((a) => Object.keys(a))).toEqual([['name', 'adoptedCa', 'caKeyStore', 'leafStore', 'caGenerations', 'rotations', 'leavesRenewed', 'handshakes', 'failedHandshakes', 'expiredServed', 'failedDailyChecks']]);
  });
});
