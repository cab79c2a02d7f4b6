/**
 * What `npm start` prints: the warning before a slow run, the summary table for people, and the
 * summary JSON for machines (the same facts).
 */
import type { KeyAlgorithm } from '../pki/index.js';
import type { SimulationResult } from './run.js';
import type { StartOptions } from './args.js';

/** Leaf issuances per second by algorithm on a 2-core machine (README, lib/pki benchmark). */
const SLOW_ISSUANCE_PER_SECOND: Partial<Record<KeyAlgorithm, number>> = { rsa3072: 5.2, rsa4096: 2.6 };
/** The default run (30 leaves, 400 days) reissues about this many leaves. */
const DEFAULT_REISSUES = 1123;

/** For a slow algorithm, a line that says so, with a rough length, before the run starts. */
export function slowAlgorithmWarning(options: Pick<StartOptions, 'algorithm' | 'days' | 'leaves'>): string | undefined {
  const rate = SLOW_ISSUANCE_PER_SECOND[options.algorithm];
  if (rate === undefined) return undefined;
  const reissues = DEFAULT_REISSUES * (options.leaves / 30) * (options.days / 400);
  const minutes = Math.max(1, Math.round(reissues / rate / 60));
  return `--algorithm ${options.algorithm} is slow: ${options.algorithm.toUpperCase()} keys take about ${Math.round(1000 / rate)} ms each to make, so this run will take roughly ${minutes} minute${minutes === 1 ? '' : 's'} or more (p256 takes well under a minute)`;
}

/** True when nothing failed: every handshake completed, every daily check passed, nothing expired was served. */
export function succeeded(result: SimulationResult): boolean {
  const t = result.totals;
  const fronts = Object.values(result.consumers ?? {});
  return t.failedHandshakes === 0 && t.expiredServed === 0 && t.failedDailyChecks === 0 && fronts.every((counts) => counts.failedHandshakes === 0);
}

export function summaryTable(result: SimulationResult): string {
  const header = ['authority', 'CA keys', 'leaves in', 'CA generations', 'rotations (scheduled+forced)', 'leaves renewed', 'handshakes', 'failed handshakes', 'failed daily checks', 'expired served'];
  const rows = result.authorities.map((a) => [
    a.name,
    a.caKeyStore,
    a.leafStore,
    String(a.caGenerations),
    `${a.rotations} (${a.scheduledRotations}+${a.forcedRotations})`,
    String(a.leavesRenewed),
    String(a.handshakes),
    String(a.failedHandshakes),
    String(a.failedDailyChecks),
    String(a.expiredServed),
  ]);
  const t = result.totals;
  const total = ['total', '', '', '', String(t.rotations), String(t.leavesRenewed), String(t.handshakes), String(t.failedHandshakes), String(t.failedDailyChecks), String(t.expiredServed)];
  const widths = header.map((_, column) => Math.max(...[header, ...rows, total].map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...rows.map(line), rule, line(total)].join('\n');
}

/** The `--json` document: only these fields, in this order. */
export function summaryJson(result: SimulationResult): string {
  const { days, seed, authorities, totals } = result;
  const rows = authorities.map(({ name, adoptedCa, caKeyStore, leafStore, caGenerations, rotations, leavesRenewed, handshakes, failedHandshakes, expiredServed, failedDailyChecks }) => ({
    name,
    adoptedCa,
    caKeyStore,
    leafStore,
    caGenerations,
    rotations,
    leavesRenewed,
    handshakes,
    failedHandshakes,
    expiredServed,
    failedDailyChecks,
  }));
  const consumers = result.consumers === undefined ? {} : { consumers: result.consumers };
  return `${JSON.stringify({ days, seed, authorities: rows, totals, ...consumers }, null, 2)}\n`;
}

/** The human summary after a run: header line, table, verdict (with the first failures). */
export function summaryText(result: SimulationResult, seconds: number): string {
  const adoption = result.authorities
    .filter((authority) => authority.adoptedCa)
    .map((adopted) => {
      const away = adopted.rotations > 0 ? 'then rotated away from it to CAs certrotate generated' : 'not rotated away from it yet (run more days)';
      return `${adopted.name} started from a CA and leaves made with openssl, adopted as generation 1 (import-ca), ${away}\n`;
    })
    .join('');
  // The load balancer and API Gateway domain in front of `cluster` (aws-trust.ts).
  const fronts = Object.entries(result.consumers ?? {}).map(([kind, counts]) => `${kind}: ${counts.targets} target(s), ${counts.handshakes} handshakes, ${counts.failedHandshakes} failed\n`);
  const head = `\n${result.days} simulated days, seed ${result.seed}, ${result.ticks} ticks, ${seconds.toFixed(1)} s\n\n${summaryTable(result)}\n\n${fronts.join('')}${fronts.length > 0 ? '\n' : ''}${adoption}`;
  if (succeeded(result)) return `${head}every handshake completed and no expired certificate was served\n`;
  return `${head}FAILURES (first ${result.failures.length}):\n${result.failures.map((failure) => `  ${failure}`).join('\n')}\n`;
}
