import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;

/** Every package a module reaches through its static imports (type-only imports left out: they load nothing). */
function packagesReachedFrom(entry: string): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const seen = new Set<string>();
  const visit = (file: string, trail: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(IMPORT)) {
      const statement = match[0];
      const specifier = match[1] ?? match[2];
      if (specifier === undefined || /^\s*(import|export)\s+type\s/.test(statement.trimStart())) continue;
      const here = [...trail, path.relative(ROOT, file)];
      if (specifier.startsWith('.')) visit(path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts'), here);
      else if (!reached.has(specifier)) reached.set(specifier, here);
    }
  };
  visit(entry, []);
  return reached;
}

describe('layering', () => {
  it('the CDK app, the construct and its parts never load an AWS SDK client, however indirectly', () => {
    const infraFiles = readdirSync(path.join(ROOT, 'infra'), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));
    expect(infraFiles).toContain(path.join('parts', 'functions.ts'));
    expect(infraFiles.length).toBeGreaterThan(0);
    for (const name of infraFiles) {
      const sdk = [...packagesReachedFrom(path.join(ROOT, 'infra', name))].filter(([specifier]) => specifier.startsWith('@aws-sdk/'));
      expect(sdk.map(([specifier, trail]) => `${specifier} via ${trail.join(' -> ')}`), name).toEqual([]);
    }
  });

  it('sees an SDK import that a module reaches through another (the check can fail)', () => {
    const reached = packagesReachedFrom(path.join(ROOT, 'lib/handlers/compose.ts'));
    expect([...reached.keys()].some((specifier) => specifier.startsWith('@aws-sdk/'))).toBe(true);
  });
});
