/**
 * `npm run fuzz [-- --runs N] [--seed S] [--target NAME]`: every fuzz target (test/fuzz/targets.ts)
 * with fast-check. Progress goes to stderr; the last line on stdout is `fuzz: N inputs, F failures`
 * and the exit code is non-zero when F > 0.
 */
import { parseArgs } from 'node:util';
import { FULL_RUNS, FuzzSession, TARGET_NAMES, runTarget, type TargetName, type TargetResult } from './targets.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' }, target: { type: 'string' } } });
const runs = values.runs === undefined ? undefined : Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) usage(`--runs must be a positive whole number, got ${values.runs}`);
if (!Number.isInteger(seed)) usage(`--seed must be a whole number, got ${values.seed}`);
const targets = values.target === undefined ? [...TARGET_NAMES] : [values.target as TargetName];
if (!targets.every((target) => TARGET_NAMES.includes(target))) usage(`--target must be one of ${TARGET_NAMES.join(', ')}, got ${values.target}`);

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: npm run fuzz -- [--runs N] [--seed S] [--target ${TARGET_NAMES.join('|')}]\n`);
  process.exit(2);
}

// The handlers' logs are captured per input by monkey-patching process.stderr.write: keep our own.
const stderr = process.stderr.write.bind(process.stderr);
const stdout = process.stdout.write.bind(process.stdout);
const say = (line: string) => stderr(`${line}\n`);

let current: TargetName | undefined;
let finished = false;
// A run that ends without its last line (an await that never settles with nothing left to keep the
// event loop alive ends the process with code 0: seen when the generator threw and the session's
// stop never settled) must not pass: say so and fail.
process.on('exit', () => {
  if (finished) return;
  say(`fuzz: ended during ${current ?? 'setup'} before its last line`);
  process.exitCode = 3;
});
const crashes: string[] = [];
process.on('unhandledRejection', (reason) => crashes.push(`unhandled rejection during ${current ?? 'setup'}: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
process.on('uncaughtException', (error) => crashes.push(`uncaught exception during ${current ?? 'setup'}: ${error.stack ?? error.message}`));

const started = Date.now();
say(`fuzz: seed ${seed}, targets ${targets.map((target) => `${target} (${runs ?? FULL_RUNS[target]})`).join(', ')}`);
const session = new FuzzSession();
const results: TargetResult[] = [];
try {
  for (const target of targets) {
    current = target;
    const total = runs ?? FULL_RUNS[target];
    let last = 0;
    const result = await runTarget(session, target, {
      runs: total,
      seed,
      progress: (done) => {
        if (Date.now() - last < 2_000 && done < total) return;
        last = Date.now();
        say(`  ${target}: ${done}/${total} inputs, ${Math.round((Date.now() - started) / 1000)} s`);
      },
    });
    results.push(result);
    say(`  ${target}: ${result.inputs} inputs, ${result.failures} failures, ${(result.ms / 1000).toFixed(1)} s`);
  }
} catch (error) {
  // Said before stopping the session, in case its stop never settles.
  say(`fuzz: ${current ?? 'setup'} stopped: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  throw error;
} finally {
  await session.stop();
}
current = undefined;

for (const result of results) {
  for (const report of result.reports) {
    stdout(
      [
        `FAIL ${report.target} (seed ${seed}): ${report.kind}, ${report.count} input${report.count === 1 ? '' : 's'}`,
        `  reproduce: npm run fuzz -- --target ${report.target} --seed ${seed} --runs ${runs ?? FULL_RUNS[report.target]}`,
        `  counterexample: ${report.counterexample}`,
        `  error: ${report.detail.replaceAll('\n', '\n    ')}`,
        '',
      ].join('\n'),
    );
  }
}
for (const crash of crashes) stdout(`FAIL crash (seed ${seed}): ${crash}\n`);
const inputs = results.reduce((sum, result) => sum + result.inputs, 0);
const failures = results.reduce((sum, result) => sum + result.failures, 0) + crashes.length;
say(`fuzz: ${((Date.now() - started) / 1000).toFixed(1)} s`);
stdout(`fuzz: ${inputs} inputs, ${failures} failures\n`);
finished = true;
process.exitCode = failures > 0 ? 1 : 0;
