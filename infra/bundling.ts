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
  // The SDK is bundled (our pinned, tested version, tree-shaken), not taken from the runtime,
  // except the credential sources a Lambda never reaches: its credentials come from the
  // environment, the first source of the default chain, and these are only ever loaded with a
  // dynamic import() further down that chain (SSO, profiles, processes, web identity, instance
  // metadata). Left out they save ~85 KB per function; were one ever reached, the Lambda runtime's
  // own SDK provides it.
  external: [
    '@aws-sdk/credential-provider-ini',
    '@aws-sdk/credential-provider-login',
    '@aws-sdk/credential-provider-process',
    '@aws-sdk/credential-provider-sso',
    '@aws-sdk/credential-provider-web-identity',
    '@aws-sdk/nested-clients',
    '@aws-sdk/token-providers',
    '@smithy/credential-provider-imds',
    // Loaded with import() only when an EKS target names a roleArn (lib/aws/sts-assume-role.ts):
    // bundled it would add ~34 KB to every function; the runtime's SDK provides it.
    '@aws-sdk/client-sts',
    // Loaded with import() only when an EKS target is configured (lib/aws/clients.ts loadEks): ~54 KB
    // a deployment without EKS consumers would carry for nothing; the runtime's SDK provides it.
    '@aws-sdk/client-eks',
    // Loaded with import() when a run flushes its events (lib/aws/eventbridge-event-sink.ts): the
    // functions were within 20 KB of the 700 KB budget; the runtime's SDK provides it.
    '@aws-sdk/client-eventbridge',
    // Loaded with import() only when a CA key kept in KMS is used (lib/aws/kms-client.ts); the
    // runtime's SDK provides it.
    '@aws-sdk/client-kms',
    // Loaded with import() only when AWS trust targets are configured (lib/aws/aws-trust-clients.ts).
    '@aws-sdk/client-s3',
    '@aws-sdk/client-elastic-load-balancing-v2',
    '@aws-sdk/client-api-gateway',
    '@aws-sdk/client-acm',
  ] as string[],
} as const;
