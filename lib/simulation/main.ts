/**
 * `npm start`: years of leaf renewals and CA rotations on the embedded default, with real mutual
 * TLS between the workloads, in well under a minute. `npm start -- --help` lists the flags.
 */
import 'reflect-metadata';
import { parseStartArgs, USAGE } from './args.js';
import { simulate } from './run.js';
import { slowAlgorithmWarning, succeeded, summaryJson, summaryText } from './summary.js';

const parsed = parseStartArgs(process.argv.slice(2));
if (parsed.kind === 'help') {
  process.stdout.write(`${parsed.text}\n`);
  process.exit(0);
}
if (parsed.kind === 'error') {
  process.stderr.write(`${parsed.message}\n${USAGE}\n(npm start -- --help lists every flag with its default)\n`);
  process.exit(2);
}
const options = parsed.options;
const warning = slowAlgorithmWarning(options);
// Progress and warnings go to stderr, always: with --json, stdout is only the JSON.
if (warning !== undefined) process.stderr.write(`${warning}\n`);
const started = performance.now();

const result = await simulate({
  days: options.days,
  leaves: options.leaves,
  algorithm: options.algorithm,
  seed: options.seed,
  forceRotationAt: options.forceRotationAt,
  everySlot: options.everySlot,
  broken: options.broken,
  ...(options.outDir === undefined ? {} : { outDir: options.outDir }),
  ...(options.adoptCa === undefined ? {} : { adoptCa: options.adoptCa }),
  ...(options.quiet ? {} : { onProgress: (line: string) => process.stderr.write(`${line}\n`) }),
}).catch((error: unknown) => {
  if (!(error instanceof Error) || error.name !== 'OpensslMissingError') throw error;
  process.stderr.write(`${error.message}; or run without adopting a CA: npm start -- --adopt-ca none\n`);
  process.exit(1);
});

process.stdout.write(options.json ? summaryJson(result) : summaryText(result, (performance.now() - started) / 1000));
process.exitCode = succeeded(result) ? 0 : 1;
