/**
 * The default `npm start` run, timed as a user runs it: a fresh process (Node 22 through tsx),
 * from launch to exit. Target: at most 30 s on 2 cores.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { printTable } from './harness.js';

const run = promisify(execFile);

export interface MainJobBenchResult {
  ms: number;
  days: number;
  handshakes: number;
  failedHandshakes: number;
}

export async function benchMainJob(progress: (line: string) => void): Promise<MainJobBenchResult> {
  progress('main job: the default npm start run');
  const start = performance.now();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'lib/simulation/main.ts', '--json'], { maxBuffer: 1 << 20 });
  const ms = performance.now() - start;
  const summary = JSON.parse(stdout) as { days: number; totals: { handshakes: number; failedHandshakes: number } };
  const result = { ms, days: summary.days, handshakes: summary.totals.handshakes, failedHandshakes: summary.totals.failedHandshakes };
  printTable('Default npm start run (target <= 30 s)', ['days', 'handshakes', 'failed', 'seconds'], [[result.days, result.handshakes, result.failedHandshakes, ms / 1000]]);
  return result;
}
