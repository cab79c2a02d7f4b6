/**
 * The esbuild options every certrotate function is bundled with, as plain data: the construct
 * hands them to NodejsFunction, and bench/functions.ts to esbuild directly, so the numbers the
 * benchmark reports are the bundles that get deployed.
 */
import { fileURLToPath } from 'node:url';

export const FUNCTION_NAMES = ['scan', 'advance', 'command'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** The repository root (infra/..). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export function functionEntry(name: FunctionName): string {
  return fileURLToPath(new URL(`../functions/${name}.ts`, import.meta.url));
}

/** Some dependencies still ship CommonJS that calls require(); an ESM bundle needs one. */
export const REQUIRE_BANNER = "import { createRequire as __certrotateCreateRequire } from 'node:module'; const require = __certrotateCreateRequire(import.meta.url);";

export const ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: false,
  // Prefer the packages' ESM builds: 38% smaller and 32% faster to load than their CJS builds (DESIGN.md).
  mainFields: ['module', 'main'],
  banner: REQUIRE_BANNER,
  // The SDK is bundled (our pinned, tested version, tree-shaken), not taken from the runtime.
  external: [] as string[],
} as const;
