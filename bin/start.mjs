#!/usr/bin/env node
// `npm start`: the simulation (lib/simulation/main.ts and its traffic thread) transpiled by esbuild
// into one file each under dist/ (our TypeScript only: packages stay imports), then run by plain
// node. tsx would transpile the same hundred-odd files on every start, once per thread. A fresh
// directory per run, removed at exit: two runs at once never share one.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(join(root, 'dist'), { recursive: true });
const outdir = mkdtempSync(join(root, 'dist', 'start-'));
process.on('exit', () => rmSync(outdir, { recursive: true, force: true }));
await build({
  absWorkingDir: root,
  entryPoints: { main: 'lib/simulation/main.ts', 'traffic-worker': 'lib/simulation/traffic-worker.ts' },
  outdir,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node22',
  sourcemap: true,
  logLevel: 'warning',
});
// Stack traces point into lib/, not the bundle.
process.setSourceMapsEnabled(true);
await import(pathToFileURL(join(outdir, 'main.js')).href);
