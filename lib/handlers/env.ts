/**
 * The Lambdas' configuration, read from the environment once per cold start and validated: the
 * one module that reads `process.env`. A missing, unknown or malformed `CERTROTATE_*` variable is
 * a ConfigurationError naming every problem, so a typo in the stack fails the first invocation
 * loudly instead of running with a silent default.
 */
import { leafStoreOf, loadConfigFile, parseConfig, type CertrotateConfig } from '../config/index.js';
import { CertrotateError, ValidationError } from '../errors.js';
import { Problems, number, string } from '../config/validate.js';

/** The environment is wrong: the deployment must be fixed, nothing the caller sent. */
export class ConfigurationError extends CertrotateError {
  override name = 'ConfigurationError';
}

export const ENV = {
  tableName: 'CERTROTATE_TABLE_NAME',
  secretPrefix: 'CERTROTATE_SECRET_PREFIX',
  kmsKeyId: 'CERTROTATE_KMS_KEY_ID',
  configFile: 'CERTROTATE_CONFIG_FILE',
  configJson: 'CERTROTATE_CONFIG',
  writesPerSecond: 'CERTROTATE_WRITES_PER_SECOND',
  dynamodbEndpoint: 'CERTROTATE_DYNAMODB_ENDPOINT',
  secretsManagerEndpoint: 'CERTROTATE_SECRETS_MANAGER_ENDPOINT',
  /** EKS DescribeCluster endpoint (a local or LocalStack one); the regional endpoint when absent. */
  eksEndpoint: 'CERTROTATE_EKS_ENDPOINT',
  /**
   * STS endpoint the EKS bearer tokens are presigned for, and AssumeRole is called at for targets
   * with a roleArn; `https://sts.<region>.amazonaws.com` when absent.
   */
  stsEndpoint: 'CERTROTATE_STS_ENDPOINT',
  /** EventBridge endpoint (a local one); the regional endpoint when absent. */
  eventsEndpoint: 'CERTROTATE_EVENTS_ENDPOINT',
  /** KMS endpoint for the CA keys (a local one); the regional endpoint when absent. */
  kmsEndpoint: 'CERTROTATE_KMS_ENDPOINT',
  /** The key policy each new CA key is created with (JSON; infra/parts/ca-keys.ts writes it). */
  caKeyPolicy: 'CERTROTATE_CA_KEY_POLICY',
  /** The versioned bucket of the leaves of `leafStore: s3` authorities (infra/parts/leaf-bucket.ts creates it). */
  leafBucket: 'CERTROTATE_LEAF_BUCKET',
  /** S3 endpoint for the leaf bucket (a local one, addressed path-style); the regional endpoint when absent. */
  s3Endpoint: 'CERTROTATE_S3_ENDPOINT',
} as const;

const KNOWN = new Set<string>(Object.values(ENV));

export interface HandlerEnv {
  tableName: string;
  secretPrefix: string;
  /** KMS key for new secrets; the account's aws/secretsmanager key when absent. */
  kmsKeyId: string | undefined;
  /** Secrets Manager writes per second for this function (the regional quota is 50, shared). */
  writesPerSecond: number;
  region: string;
  endpoints: { dynamodb?: string; secretsManager?: string; eks?: string; sts?: string; events?: string; kms?: string; s3?: string };
  /** The leaf bucket; set whenever an authority has `leafStore: s3`. */
  leafBucket?: string;
  /** The key policy of new CA keys; KMS's default policy when absent. */
  caKeyPolicy: string | undefined;
  config: CertrotateConfig;
}

const TABLE_NAME = { pattern: /^[A-Za-z0-9_.-]{3,255}$/, hint: 'must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)' };
const PREFIX = { pattern: /^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/, hint: 'must be letters, digits and /_+=.@-, not starting or ending with /' };
const REGION = { pattern: /^[a-z]{2}(-[a-z]+)+-\d$/, hint: 'must be an AWS region like eu-west-1' };
const ENDPOINT = { pattern: /^https?:\/\/[^\s]+$/, hint: 'must be an http(s) URL' };
const NON_EMPTY = { pattern: /\S/, hint: 'must not be empty' };
const BUCKET = { pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, hint: 'must be an S3 bucket name (3-63 of a-z 0-9 . -)' };

/** Validates an environment (a plain record, so tests pass their own). Throws ConfigurationError. */
export function readHandlerEnv(env: Readonly<Record<string, string | undefined>>): HandlerEnv {
  const problems = new Problems();
  for (const key of Object.keys(env)) {
    if (key.startsWith('CERTROTATE_') && !KNOWN.has(key)) {
      problems.add(key, `unknown variable (known: ${[...KNOWN].join(', ')})`);
    }
  }
  const tableName = string(env[ENV.tableName], ENV.tableName, problems, TABLE_NAME);
  const secretPrefix = env[ENV.secretPrefix] === undefined ? 'certrotate' : string(env[ENV.secretPrefix], ENV.secretPrefix, problems, PREFIX);
  const kmsKeyId = env[ENV.kmsKeyId] === undefined ? undefined : string(env[ENV.kmsKeyId], ENV.kmsKeyId, problems, NON_EMPTY);
  const rawRate = env[ENV.writesPerSecond];
  const writesPerSecond =
    rawRate === undefined ? 20 : number(rawRate.trim() === '' ? Number.NaN : Number(rawRate), ENV.writesPerSecond, problems, { min: 1, max: 50 });
  const region = string(env.AWS_REGION ?? env.AWS_DEFAULT_REGION, 'AWS_REGION', problems, REGION);
  const endpoints: HandlerEnv['endpoints'] = {};
  const dynamodb = env[ENV.dynamodbEndpoint] === undefined ? undefined : string(env[ENV.dynamodbEndpoint], ENV.dynamodbEndpoint, problems, ENDPOINT);
  const secretsManager =
    env[ENV.secretsManagerEndpoint] === undefined ? undefined : string(env[ENV.secretsManagerEndpoint], ENV.secretsManagerEndpoint, problems, ENDPOINT);
  if (dynamodb !== undefined) endpoints.dynamodb = dynamodb;
  if (secretsManager !== undefined) endpoints.secretsManager = secretsManager;
  const eks = env[ENV.eksEndpoint] === undefined ? undefined : string(env[ENV.eksEndpoint], ENV.eksEndpoint, problems, ENDPOINT);
  const sts = env[ENV.stsEndpoint] === undefined ? undefined : string(env[ENV.stsEndpoint], ENV.stsEndpoint, problems, ENDPOINT);
  if (eks !== undefined) endpoints.eks = eks;
  if (sts !== undefined) endpoints.sts = sts;
  const events = env[ENV.eventsEndpoint] === undefined ? undefined : string(env[ENV.eventsEndpoint], ENV.eventsEndpoint, problems, ENDPOINT);
  if (events !== undefined) endpoints.events = events;
  const kms = env[ENV.kmsEndpoint] === undefined ? undefined : string(env[ENV.kmsEndpoint], ENV.kmsEndpoint, problems, ENDPOINT);
  if (kms !== undefined) endpoints.kms = kms;
  const s3 = env[ENV.s3Endpoint] === undefined ? undefined : string(env[ENV.s3Endpoint], ENV.s3Endpoint, problems, ENDPOINT);
  if (s3 !== undefined) endpoints.s3 = s3;
  const leafBucket = env[ENV.leafBucket] === undefined ? undefined : string(env[ENV.leafBucket], ENV.leafBucket, problems, BUCKET);
  const caKeyPolicy = env[ENV.caKeyPolicy];
  if (caKeyPolicy !== undefined && !isJsonObject(caKeyPolicy)) problems.add(ENV.caKeyPolicy, 'must be a JSON key policy document');

  const file = env[ENV.configFile];
  const inline = env[ENV.configJson];
  if ((file === undefined) === (inline === undefined)) {
    problems.add(`${ENV.configFile} / ${ENV.configJson}`, 'set exactly one: the path of the configuration file, or the configuration as JSON');
  }
  if (problems.list.length > 0) {
    throw new ConfigurationError(`the certrotate function environment is invalid:\n  - ${problems.list.join('\n  - ')}`);
  }

  let config: CertrotateConfig;
  try {
    config = file === undefined ? parseConfig(parseJson(inline ?? '')) : loadConfigFile(file);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ConfigurationError(`the certrotate function environment is invalid: ${error.message}`, { cause: error });
  }
  if (tableName === undefined || secretPrefix === undefined || writesPerSecond === undefined || region === undefined) {
    // Unreachable: every undefined above added a problem.
    throw new ConfigurationError('the certrotate function environment is invalid');
  }
  const onS3 = config.authorities.filter((authority) => leafStoreOf(authority) === 's3').map((authority) => authority.name);
  if (onS3.length > 0 && leafBucket === undefined) {
    throw new ConfigurationError(
      `the certrotate function environment is invalid: ${ENV.leafBucket} is not set, but authorities ${onS3.join(', ')} have leafStore "s3" (the CertificateRotation construct sets it when the configuration it deploys has one)`,
    );
  }
  return { tableName, secretPrefix, kmsKeyId, writesPerSecond, region, endpoints, ...(leafBucket === undefined ? {} : { leafBucket }), caKeyPolicy, config };
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`${ENV.configJson} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

let cached: HandlerEnv | undefined;

/** The process environment, validated on first use and then kept for the life of the sandbox. */
export function processEnv(): HandlerEnv {
  if (cached === undefined) {
    cached = readHandlerEnv(process.env);
  }
  return cached;
}
