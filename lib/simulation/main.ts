/**
 * `npm start`: years of leaf renewals and CA rotations on the embedded default, with real mutual
 * TLS between the workloads, in well under a minute. See README.md for the flags.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { KEY_ALGORITHMS, isKeyAlgorithm } from '../pki/index.js';
import { simulate, type SimulationResult } from './run.js';

const USAGE = `usage: npm start -- [--days N] [--leaves N] [--algorithm ${KEY_ALGORITHMS.join('|')}] [--seed N]
                 [--force-rotation-at DAY] [--quiet] [--json] [--out DIR] [--every-slot]
                 [--broken-drop-old-ca-early]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function integer(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) fail(`--${name} must be a whole number of at least ${min}, got "${value}"`);
  return parsed;
}

let args;
try {
  args = parseArgs({
    options: {
      days: { type: 'string' },
      leaves: { type: 'string' },
      algorithm: { type: 'string' },
      seed: { type: 'string' },
      'force-rotation-at': { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      'every-slot': { type: 'boolean' },
      'broken-drop-old-ca-early': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
if (args.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const algorithm = args.algorithm ?? 'p256';
if (!isKeyAlgorithm(algorithm)) fail(`--algorithm must be one of ${KEY_ALGORITHMS.join(', ')}, got "${algorithm}"`);
const days = integer(args.days, 'days', 400, 1);
const forceDefault = Math.floor(days / 2);
const quiet = args.quiet === true || args.json === true;
const started = performance.now();

const result = await simulate({
  days,
  leaves: integer(args.leaves, 'leaves', 30, 12),
  algorithm,
  seed: integer(args.seed, 'seed', 1, 0),
  forceRotationAt: integer(args['force-rotation-at'], 'force-rotation-at', forceDefault, 0),
  everySlot: args['every-slot'] === true,
  broken: args['broken-drop-old-ca-early'] === true,
  ...(args.out === undefined ? {} : { outDir: args.out }),
  ...(quiet ? {} : { onProgress: (line: string) => process.stderr.write(`${line}\n`) }),
});

function table(result: SimulationResult): string {
  const header = ['authority', 'CA generations', 'rotations (scheduled+forced)', 'leaves renewed', 'handshakes', 'failed handshakes', 'expired served'];
  const rows = result.authorities.map((a) => [a.name, String(a.caGenerations), `${a.rotations} (${a.scheduledRotations}+${a.forcedRotations})`, String(a.leavesRenewed), String(a.handshakes), String(a.failedHandshakes), String(a.expiredServed)]);
  const t = result.totals;
  rows.push(['total', '', String(t.rotations), String(t.leavesRenewed), String(t.handshakes), String(t.failedHandshakes), String(t.expiredServed)]);
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.slice(0, -1).map(line), widths.map((width) => '-'.repeat(width)).join('  '), line(rows.at(-1) ?? [])].join('\n');
}

const consumers = Object.entries(result.consumers ?? {});
const ok = result.totals.failedHandshakes === 0 && result.totals.expiredServed === 0 && consumers.every(([, counts]) => counts.failedHandshakes === 0);
if (args.json === true) {
  const { days: d, seed, authorities, totals } = result;
  process.stdout.write(
    `${JSON.stringify({ days: d, seed, authorities: authorities.map(({ name, caGenerations, rotations, leavesRenewed, handshakes, failedHandshakes, expiredServed }) => ({ name, caGenerations, rotations, leavesRenewed, handshakes, failedHandshakes, expiredServed })), totals, ...(result.consumers === undefined ? {} : { consumers: result.consumers }) }, null, 2)}\n`,
  );
} else {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`\n${result.days} simulated days, seed ${result.seed}, ${result.ticks} ticks, ${seconds} s\n\n${table(result)}\n\n`);
  for (const [kind, counts] of consumers) process.stdout.write(`${kind}: ${counts.targets} target(s), ${counts.handshakes} handshakes, ${counts.failedHandshakes} failed\n`);
  if (consumers.length > 0) process.stdout.write('\n');
  if (ok) {
    process.stdout.write('every handshake completed and no expired certificate was served\n');
  } else {
    process.stdout.write(`FAILURES (first ${result.failures.length}):\n${result.failures.map((failure) => `  ${failure}`).join('\n')}\n`);
  }
}
process.exitCode = ok ? 0 : 1;
