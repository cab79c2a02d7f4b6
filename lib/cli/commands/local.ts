/** The commands that run here: validate-config, sandbox, import-ca. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CertrotateConfig } from '../../config/index.js';
import { CertrotateError } from '../../errors.js';
import { LOCAL_CREDENTIALS } from '../../local/kit/aws-error.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { numberOption, stringOption, type CommandSpec, type RunContext } from '../spec.js';

export const EXAMPLE_CONFIG = fileURLToPath(new URL('../../../infra/certrotate.config.json', import.meta.url));

// Modules are loaded by the command that needs them: the SDK clients and the local endpoints take
// seconds to load, and a CLI that answers --help or a status read should not wait for them.
async function loadConfig(path: string): Promise<CertrotateConfig> {
  const { loadConfigFile } = await import('../../config/index.js');
  try {
    return loadConfigFile(path);
  } catch (error) {
    if (error instanceof CertrotateError) throw new CliError(error.message);
    throw error;
  }
}

async function validateConfig(context: RunContext): Promise<number> {
  const path = context.positionals[0] ?? '';
  const config = await loadConfig(path);
  const { eksTargetsOf } = await import('../../config/index.js');
  const summary = { file: path, valid: true, authorities: config.authorities.map((a) => a.name), leaves: config.leaves.length, eksConsumers: eksTargetsOf(config).length };
  if (context.json) context.io.out(JSON.stringify(summary, null, 2));
  else context.io.out(`${path}: valid: ${summary.authorities.length} authorities (${summary.authorities.join(', ')}), ${summary.leaves} leaves, ${summary.eksConsumers} EKS consumers`);
  return EXIT.ok;
}

async function sandbox(context: RunContext): Promise<number> {
  const speed = numberOption(context.values, 'speed', { min: 1, max: 10_000_000 });
  const port = context.values.port === undefined ? undefined : numberOption(context.values, 'port', { min: 0, max: 65_535 });
  const configPath = stringOption(context.values, 'config') ?? EXAMPLE_CONFIG;
  const dir = stringOption(context.values, 'dir') ?? '.certrotate-sandbox';
  const adopt = stringOption(context.values, 'adopt');
  const config = await loadConfig(configPath);
  // Loaded on use: the sandbox brings the local endpoints, which no remote command needs.
  const { startSandbox } = await import('../../local/sandbox/sandbox.js');
  let sandboxRun;
  try {
    sandboxRun = await startSandbox({
      dir, speed, config, configSource: configPath, out: (line) => context.io.out(line),
      ready: (endpoint) => context.io.out(`CERTROTATE_ENDPOINT=${endpoint}`),
      ...(port === undefined ? {} : { port }),
      ...(adopt === undefined ? {} : { adopt: adopt.split(',').map((name) => name.trim()).filter((name) => name !== '') }),
    });
  } catch (error) {
    if (error instanceof CertrotateError) throw new CliError(error.message);
    throw error;
  }
  context.io.err(`sandbox: ${speed}x real time, state in ${dir}, configuration ${configPath}; Ctrl-C stops (state is kept)`);
  await context.io.interrupted;
  await sandboxRun.stop();
  context.io.err(`sandbox stopped; state kept in ${dir}`);
  return EXIT.ok;
}

function readPem(path: string | undefined, what: string): string {
  if (path === undefined) throw new UsageError(`import-ca needs --${what} FILE`);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read --${what} ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

interface StoreSite {
  region: string;
  tableName: string;
  secretPrefix: string;
  kmsKeyId: string | undefined;
  /** The bucket of the `leafStore: s3` authorities' leaves (a sandbox's own, or --leaf-bucket). */
  leafBucket: string | undefined;
  endpoints: { dynamodb?: string; secretsManager?: string; s3?: string };
  credentials?: { accessKeyId: string; secretAccessKey: string };
  configPath: string;
  now: number;
}

/** Where the stores are: the sandbox describes itself; against AWS the flags name them. */
async function storeSite(context: RunContext): Promise<StoreSite> {
  const endpoint = stringOption(context.values, 'endpoint') ?? (stringOption(context.values, 'table') === undefined ? context.io.env.CERTROTATE_ENDPOINT : undefined);
  if (endpoint !== undefined) {
    let described: Record<string, unknown>;
    try {
      described = (await (await fetch(endpoint, { signal: AbortSignal.timeout(10_000) })).json()) as Record<string, unknown>;
    } catch {
      throw new CliError(`sandbox ${endpoint}: nothing answers there (is \`certrotate sandbox\` running?)`);
    }
    if (described.sandbox !== true) throw new CliError(`${endpoint} is not a certrotate sandbox`);
    return {
      region: String(described.region), tableName: String(described.tableName), secretPrefix: String(described.secretPrefix), kmsKeyId: undefined,
      leafBucket: typeof described.leafBucket === 'string' ? described.leafBucket : undefined,
      endpoints: described.endpoints as StoreSite['endpoints'], credentials: { ...LOCAL_CREDENTIALS },
      configPath: stringOption(context.values, 'config') ?? String(described.config), now: Date.parse(String(described.simulatedNow)),
    };
  }
  const tableName = stringOption(context.values, 'table');
  const configPath = stringOption(context.values, 'config');
  const region = stringOption(context.values, 'region') ?? context.io.env.AWS_REGION ?? context.io.env.AWS_DEFAULT_REGION;
  if (tableName === undefined || configPath === undefined || region === undefined) {
    throw new UsageError('import-ca against AWS needs --table NAME (the StateTableName output), --config FILE (the deployed configuration) and --region (or AWS_REGION); or --endpoint URL for a sandbox');
  }
  return {
    region, tableName, secretPrefix: stringOption(context.values, 'secret-prefix') ?? 'certrotate', kmsKeyId: stringOption(context.values, 'kms-key-id'),
    leafBucket: stringOption(context.values, 'leaf-bucket'), endpoints: {}, configPath, now: Date.now(),
  };
}

async function importCaCommand(context: RunContext): Promise<number> {
  const authority = stringOption(context.values, 'authority');
  if (authority === undefined) throw new UsageError('import-ca needs --authority NAME');
  const certificatePem = readPem(stringOption(context.values, 'cert'), 'cert');
  const privateKeyPem = readPem(stringOption(context.values, 'key'), 'key');
  const chainPath = stringOption(context.values, 'chain');
  const site = await storeSite(context);
  const config = await loadConfig(site.configPath);
  // Leaves of an s3 authority are read (and adopted) where its scans read them: the leaf bucket.
  if (site.leafBucket === undefined && config.authorities.some((candidate) => candidate.name === authority && candidate.leafStore === 's3')) {
    throw new UsageError(`authority ${authority} has leafStore "s3": its leaves are adopted from the leaf bucket: against AWS pass --leaf-bucket NAME (the stack's LeafBucketName output)`);
  }
  const { composeDeps, engineDeps } = await import('../../handlers/compose.js');
  const { importCa } = await import('../../engine/import-ca.js');
  const env = {
    tableName: site.tableName, secretPrefix: site.secretPrefix, kmsKeyId: site.kmsKeyId, caKeyPolicy: undefined, writesPerSecond: 5, region: site.region, endpoints: site.endpoints, config,
    ...(site.leafBucket === undefined ? {} : { leafBucket: site.leafBucket }),
  };
  const deps = engineDeps(composeDeps(env, site.credentials === undefined ? {} : { credentials: site.credentials }), { emit: (event) => context.io.err(`event ${event.type} (${event.authority})`) });
  try {
    const request = { authority, certificatePem, privateKeyPem, ...(chainPath === undefined ? {} : { chainPem: readPem(chainPath, 'chain') }) };
    const result = await importCa(deps, config, request, site.now);
    if (context.json) context.io.out(JSON.stringify({ ok: true, action: 'import-ca', ...result, notAfter: new Date(result.notAfter).toISOString() }, null, 2));
    else context.io.out(`${result.authority}: imported CA as generation ${result.generation} (SHA-256 ${result.fingerprintSha256}, expires ${new Date(result.notAfter).toISOString()}); adopted ${result.adoptedLeaves.length} leaves`);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CertrotateError) throw new CliError(`import-ca refused: ${error.message}`);
    throw error;
  }
}

export const LOCAL_COMMANDS: CommandSpec[] = [
  { name: 'validate-config', summary: 'Validates a configuration file as the stack and the sandbox would; names every bad path.', usage: '<file>', positionals: { min: 1, max: 1 }, remote: false, options: {}, example: 'certrotate validate-config infra/certrotate.config.json', run: validateConfig },
  {
    name: 'sandbox', summary: 'The whole product on this machine, no AWS account: local endpoints, the three real handlers behind a local Lambda endpoint, and their schedule on a fast clock. First line: CERTROTATE_ENDPOINT=...; then one line per transition and renewal.',
    usage: '[--dir DIR] [--speed N] [--config FILE] [--adopt NAMES]', positionals: { min: 0, max: 0 }, remote: false,
    options: {
      dir: { type: 'string', value: 'DIR', default: '.certrotate-sandbox', description: 'where state is kept; a restart resumes from it' },
      speed: { type: 'string', value: 'N', default: '3600', description: 'simulated seconds per real second (3600: an hour a second)' },
      config: { type: 'string', value: 'FILE', description: 'the configuration (default: the example, infra/certrotate.config.json)' },
      port: { type: 'string', value: 'PORT', description: 'the endpoint\'s port (default: a free one)' },
      adopt: { type: 'string', value: 'NAMES', description: 'authorities (comma-separated) the schedule leaves without a CA until import-ca gives them one' },
    },
    example: 'eval "$(certrotate sandbox | head -1)" & certrotate status --watch', run: sandbox,
  },
  {
    name: 'import-ca', summary: 'Adopts an existing CA as an authority\'s current generation. The key goes from this machine straight into the store, never through a Lambda payload.',
    usage: '--authority NAME --cert FILE --key FILE [--chain FILE] (--endpoint URL | --table NAME --config FILE --region REGION [--leaf-bucket BUCKET])', positionals: { min: 0, max: 0 }, remote: false,
    options: {
      authority: { type: 'string', value: 'NAME', description: 'the authority to adopt the CA' },
      cert: { type: 'string', value: 'FILE', description: 'the CA certificate (PEM)' },
      key: { type: 'string', value: 'FILE', description: 'its private key (PEM); never printed' },
      chain: { type: 'string', value: 'FILE', description: 'the CA certificate again, as some tools export it; only a self-signed root CA can be imported, so anything else here is refused' },
      endpoint: { type: 'string', value: 'URL', description: 'a sandbox (default: $CERTROTATE_ENDPOINT)' },
      table: { type: 'string', value: 'NAME', description: 'against AWS: the state table (the stack\'s StateTableName output)' },
      config: { type: 'string', value: 'FILE', description: 'the deployed configuration (a sandbox\'s own by default)' },
      'secret-prefix': { type: 'string', value: 'PREFIX', default: 'certrotate', description: 'against AWS: the secrets\' name prefix' },
      'kms-key-id': { type: 'string', value: 'KEY', description: 'against AWS: the KMS key the secrets are encrypted with' },
      'leaf-bucket': { type: 'string', value: 'BUCKET', description: 'against AWS: the leaf bucket (the stack\'s LeafBucketName output), where the leaves of a leafStore s3 authority are adopted from' },
      region: { type: 'string', value: 'REGION', description: 'against AWS: the region (default: AWS_REGION)' },
    },
    example: 'certrotate import-ca --authority cluster --cert /etc/kubernetes/pki/ca.crt --key /etc/kubernetes/pki/ca.key --endpoint http://127.0.0.1:4566', run: importCaCommand,
  },
];
