/**
 * `npm run bench`: prints tables on stderr; `npm run bench -- --json` also prints the results as
 * JSON on stdout (and nothing else there), for comparing runs. Name benchmarks to run only those,
 * e.g. `npm run bench -- scale --json` (the full run takes a long while):
 * pki, kmsIssuance, engine (= scan10k and rotation1000), mainJob, functions, scale, scaleParallel, reconcile100k.
 */
import 'reflect-metadata';
import { benchEngine } from './engine.js';
import { benchFunctions } from './functions.js';
import { benchKms } from './kms.js';
import { benchMainJob } from './main-job.js';
import { printTable } from './harness.js';
import { benchPki } from './pki.js';
import { reconcileFleet } from './reconcile.js';
import { printScale, scaleParallel, scaleRotation } from './scale.js';

const BENCHMARKS = ['pki', 'kmsIssuance', 'engine', 'scan10k', 'rotation1000', 'mainJob', 'functions', 'scale', 'scaleParallel', 'reconcile100k'] as const;
type Benchmark = (typeof BENCHMARKS)[number];

const json = process.argv.includes('--json');
const named = process.argv.slice(2).filter((arg, i, all) => !arg.startsWith('--') && all[i - 1] !== '--reconcile-leaves');
const unknown = named.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; choose from ${BENCHMARKS.join(', ')}\n`);
  process.exit(2);
}
const wanted = (name: Benchmark): boolean => named.length === 0 || named.includes(name);
const progress = (line: string): void => {
  process.stderr.write(`… ${line}\n`);
};

const result: Record<string, unknown> = { node: process.version };
if (wanted('pki')) {
  const pki = await benchPki(progress);
  result.pki = { algorithms: pki.algorithms, rawWebCryptoP256KeyPairAndSignPerSecond: pki.rawWebCryptoP256KeyPairAndSignPerSecond };
  result.ratios = { p256LeafIssuanceVsRawWebCrypto: pki.p256LeafIssuanceVsRawWebCrypto };
}
if (wanted('kmsIssuance')) result.kmsIssuance = await benchKms(progress);
if (wanted('engine') || wanted('scan10k') || wanted('rotation1000')) {
  Object.assign(result, await benchEngine(progress, { scan10k: wanted('engine') || wanted('scan10k'), rotation1000: wanted('engine') || wanted('rotation1000') }));
}
if (wanted('mainJob')) result.mainJob = await benchMainJob(progress);
if (wanted('functions')) {
  const functions = await benchFunctions(progress);
  printTable(
    `Lambda bundles: minified size and cold module load on ${process.version} (targets <= 700 KB, <= 75 ms; empty module ${functions.emptyModuleLoadMs.toFixed(1)} ms)`,
    ['function', 'KB', 'load ms'],
    functions.functions.map((f) => [f.name, f.bytes / 1000, f.loadMs]),
  );
  result.functions = functions.functions;
  result.emptyModuleLoadMs = functions.emptyModuleLoadMs;
}
if (wanted('scale')) {
  const scale = await scaleRotation(progress);
  printScale('scale', scale);
  result.scale = scale;
}
if (wanted('scaleParallel')) {
  const parallel = await scaleParallel(progress);
  printScale('scaleParallel', parallel);
  result.scaleParallel = parallel;
}
if (wanted('reconcile100k')) {
  // --reconcile-leaves N: a smaller fleet (the result says how many leaves it had).
  const at = process.argv.indexOf('--reconcile-leaves');
  result.reconcile100k = await reconcileFleet(progress, at < 0 ? 100_000 : Number(process.argv[at + 1]));
}
if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
