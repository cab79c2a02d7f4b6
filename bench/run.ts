/**
 * `npm run bench`: prints tables on stderr; `npm run bench -- --json` also prints the results as
 * JSON on stdout (and nothing else there), for comparing runs.
 */
import 'reflect-metadata';
import { benchEngine } from './engine.js';
import { benchFunctions } from './functions.js';
import { benchKms } from './kms.js';
import { benchMainJob } from './main-job.js';
import { printTable } from './harness.js';
import { benchPki } from './pki.js';

const json = process.argv.includes('--json');
const progress = (line: string): void => {
  process.stderr.write(`… ${line}\n`);
};

const pki = await benchPki(progress);
const kms = await benchKms(progress);
const engine = await benchEngine(progress);
const mainJob = await benchMainJob(progress);
const functions = await benchFunctions(progress);
printTable(
  `Lambda bundles: minified size and cold module load on ${process.version} (targets <= 700 KB, <= 75 ms; empty module ${functions.emptyModuleLoadMs.toFixed(1)} ms)`,
  ['function', 'KB', 'load ms'],
  functions.functions.map((f) => [f.name, f.bytes / 1000, f.loadMs]),
);
const result = {
  node: process.version,
  mainJob,
  functions: functions.functions,
  emptyModuleLoadMs: functions.emptyModuleLoadMs,
  pki: { algorithms: pki.algorithms, rawWebCryptoP256KeyPairAndSignPerSecond: pki.rawWebCryptoP256KeyPairAndSignPerSecond },
  kmsIssuance: kms,
  scan10k: engine.scan10k,
  rotation1000: engine.rotation1000,
  ratios: {
    p256LeafIssuanceVsRawWebCrypto: pki.p256LeafIssuanceVsRawWebCrypto,
    rotation1000VsIssuance: engine.rotation1000VsIssuance,
  },
};
if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
