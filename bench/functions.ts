/**
 * The Lambda bundles as deployed: each function bundled with the construct's esbuild options
 * (minified ESM, ESM builds preferred, SDK bundled), its size, and its cold module load time on
 * this Node in a fresh process (median of several runs), next to an empty module's measured in
 * the same run. Targets: at most 700 KB and 75 ms each.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { ESBUILD_OPTIONS, FUNCTION_NAMES, functionEntry } from '../infra/bundling.js';

export interface FunctionBundleResult {
  name: string;
  bytes: number;
  /** Median time to import the bundle in a fresh Node process, in ms. */
  loadMs: number;
}

export interface FunctionsBenchResult {
  functions: FunctionBundleResult[];
  emptyModuleLoadMs: number;
}

const RUNS = 9;
const run = promisify(execFile);

/** Import time of one module in a fresh process, measured inside it. */
async function loadOnce(file: string): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  const ms = Number(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`loading ${file} printed ${JSON.stringify(stdout)}`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export async function benchFunctions(progress: (line: string) => void): Promise<FunctionsBenchResult> {
  const directory = mkdtempSync(join(tmpdir(), 'certrotate-bench-functions-'));
  try {
    const empty = join(directory, 'empty.mjs');
    writeFileSync(empty, 'export {};\n');
    const bundles: { name: string; file: string; bytes: number }[] = [];
    for (const name of FUNCTION_NAMES) {
      progress(`functions: bundling ${name}`);
      const file = join(directory, `${name}.mjs`);
      await build({
        entryPoints: [functionEntry(name)],
        outfile: file,
        bundle: ESBUILD_OPTIONS.bundle,
        platform: ESBUILD_OPTIONS.platform,
        target: ESBUILD_OPTIONS.target,
        format: ESBUILD_OPTIONS.format,
        minify: ESBUILD_OPTIONS.minify,
        sourcemap: ESBUILD_OPTIONS.sourcemap,
        mainFields: [...ESBUILD_OPTIONS.mainFields],
        banner: { js: ESBUILD_OPTIONS.banner },
        external: [...ESBUILD_OPTIONS.external],
        logLevel: 'silent',
      });
      bundles.push({ name, file, bytes: statSync(file).size });
    }
    // Interleave the runs, so that machine noise falls on every module alike.
    const samples = new Map<string, number[]>([['empty', []], ...bundles.map((bundle): [string, number[]] => [bundle.name, []])]);
    for (let i = 0; i < RUNS; i++) {
      progress(`functions: cold load, run ${i + 1}/${RUNS}`);
      samples.get('empty')?.push(await loadOnce(empty));
      for (const bundle of bundles) samples.get(bundle.name)?.push(await loadOnce(bundle.file));
    }
    const round = (ms: number) => Math.round(ms * 10) / 10;
    return {
      functions: bundles.map((bundle) => ({ name: bundle.name, bytes: bundle.bytes, loadMs: round(median(samples.get(bundle.name) ?? [])) })),
      emptyModuleLoadMs: round(median(samples.get('empty') ?? [])),
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
