/**
 * `npm run chaos [-- --runs N] [--seed S]`: randomized scenarios with a crash after a random
 * external call, each driven until quiet. Progress on stderr; the last line on stdout is
 * `chaos: N runs, F failures`, and the exit code is 1 when F > 0.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { runChaos } from './suite.js';

function positiveInteger(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1) {
    process.stderr.write(`chaos: ${flag} takes a whole number of at least 1, got "${value}"\n`);
    process.exit(2);
  }
  return parsed;
}

const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' } }, strict: true });
const runs = positiveInteger(values.runs, '--runs', 1000);
const seed = positiveInteger(values.seed, '--seed', 1);
const started = Date.now();
let reported = 0;
const tally = await runChaos(runs, seed, (done, sofar) => {
  for (const failure of sofar.failures.slice(reported)) {
    process.stderr.write(`\nchaos: seed ${failure.seed} failed: ${failure.failure}\n`);
  }
  reported = sofar.failures.length;
  if (done % 10 === 0 || done === runs) {
    process.stderr.write(`\rchaos: ${done}/${runs} runs, ${sofar.crashed} crashed mid-run, ${sofar.failures.length} failures, ${Math.round((Date.now() - started) / 1000)} s`);
  }
});
process.stderr.write('\n');
for (const failure of tally.failures.slice(0, 10)) {
  process.stdout.write(`seed ${failure.seed} (${failure.steps} steps, crash: ${failure.crashedAt ?? 'none'}): ${failure.failure}\n`);
}
process.stdout.write(`chaos: ${tally.runs} runs, ${tally.failures.length} failures\n`);
process.exitCode = tally.failures.length > 0 ? 1 : 0;
