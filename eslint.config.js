// @ts-check
import tseslint from 'typescript-eslint';

/**
 * The layering of ../shared/DESIGN.md as lint rules: an import across a boundary fails the build.
 * Each entry names the folders a layer must not reach; `regex` matches the import specifier as
 * written (relative paths like `../aws/x.js`, or a package name).
 */
const folder = (...names) => `(^|/)(${names.join('|')})/`;
const SDK = '^@aws-sdk/';

/** @param {string[]} files @param {{ regex: string, message: string }[]} patterns */
const forbid = (files, patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: patterns.map((p) => ({ regex: p.regex, message: p.message })) }] },
});

const CORE = ['lib/pki/**', 'lib/rotation/**', 'lib/renewal/**', 'lib/config/**'];

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'coverage/', '.certrotate-sandbox/', 'bin/'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['lib/**/*.ts', 'functions/**/*.ts', 'infra/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 500 }],
      'max-lines-per-function': ['error', { max: 80 }],
    },
  },
  forbid(CORE, [
    { regex: folder('engine', 'aws', 'local', 'handlers', 'simulation', 'consumers', 'cli', 'infra'), message: 'the pure core (pki, rotation, renewal, config) imports only itself' },
    { regex: SDK, message: 'the pure core never loads an AWS SDK client' },
    { regex: '(^|/)ports\\.js$', message: 'the pure core does not know the ports; the engine does' },
  ]),
  forbid(['lib/engine/**'], [
    { regex: folder('aws', 'local', 'handlers', 'simulation', 'consumers', 'cli', 'infra'), message: 'the engine sees the outside only through lib/ports.ts; adapters are wired in composition roots' },
    { regex: SDK, message: 'the engine never loads an AWS SDK client; an adapter in lib/aws does' },
  ]),
  forbid(['lib/aws/**'], [
    { regex: folder('local', 'engine', 'handlers', 'simulation', 'consumers', 'cli', 'infra'), message: 'an AWS adapter implements a port and knows nothing of the layers above it' },
  ]),
  forbid(['lib/consumers/**'], [
    { regex: folder('local', 'engine', 'handlers', 'simulation', 'cli', 'infra'), message: 'a consumer kind implements the consumer port; it is registered in a composition root' },
  ]),
  forbid(['functions/**'], [
    { regex: folder('local', 'infra', 'simulation'), message: 'a Lambda handler never loads the local endpoints or the CDK app' },
  ]),
  forbid(['infra/**'], [
    { regex: folder('aws', 'local', 'engine', 'consumers', 'simulation', 'cli'), message: 'infra must not load a module that loads an AWS SDK client; import SDK-free names (lib/table-schema.ts, lib/config)' },
    { regex: '(^|/)handlers/(?!env\\.js$|names\\.js$)', message: 'infra may read only the SDK-free handler names (env.js, names.js)' },
    { regex: SDK, message: 'infra must not load an AWS SDK client' },
  ]),
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
