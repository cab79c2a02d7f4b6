/**
 * The three certrotate functions (scan, advance, command) and what they share: one role per
 * function holding only what it needs, a retained log group, Node 22 on arm64, the validated
 * environment, the configuration file in each bundle, two asynchronous retries and the failure
 * queue as the on-failure destination.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENV } from '../../lib/handlers/env.js';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../../lib/handlers/names.js';
import { ESBUILD_OPTIONS, PROJECT_ROOT, functionEntry, type FunctionName } from '../bundling.js';
import { tableResource } from './storage.js';

/** Where the configuration file sits in each function's bundle (Lambda's task root). */
const CONFIG_FILE_NAME = 'certrotate.config.json';
const CONFIG_PATH_IN_LAMBDA = `/var/task/${CONFIG_FILE_NAME}`;

interface FunctionSpec {
  name: FunctionName;
  description: string;
  /**
   * Memory buys CPU on Lambda (1,769 MB is one full vCPU). Key generation and signing are
   * CPU-bound, and so is module load at cold start.
   */
  memorySize: number;
  timeout: Duration;
}

/** In creation order: the order of the template's resources and of the EKS access entries. */
const FUNCTIONS: readonly FunctionSpec[] = [
  {
    name: 'scan',
    description: 'certrotate: renew due leaves, start due CA rotations (hourly), reconcile (daily)',
    // A reconcile reads and may reissue every leaf; 1 GB (~0.6 vCPU) signs ~300 leaves/s, well
    // above the 20 writes/s Secrets Manager allows, so the write limiter, not the CPU, sets the pace.
    memorySize: 1024,
    // The most a function may run. 10,000 leaves renewed at 20 writes/s take ~8.5 minutes; the
    // handler stops starting work 2 minutes before the end and the next hourly run continues.
    timeout: Duration.minutes(15),
  },
  {
    name: 'advance',
    description: 'certrotate: move CA rotations in progress (every 5 minutes)',
    memorySize: 1024,
    // Equal to the schedule's period, so runs do not pile up; the handler leaves 60 s of margin.
    timeout: Duration.minutes(5),
  },
  {
    name: 'command',
    description: 'certrotate: operator commands (rotate-ca, status, plan, pause, resume, rollback, renew)',
    // Mostly reads and one conditional write; renew-all signs like the scan does.
    memorySize: 1024,
    // status reads every leaf secret and renew-all writes every leaf; 15 minutes covers 10,000
    // leaves. Invoke with --cli-read-timeout 0 for large fleets.
    timeout: Duration.minutes(15),
  },
];

export interface FunctionsOptions {
  /** The configuration document as given (already validated): copied into each bundle. */
  configDocument: unknown;
  table: dynamodb.Table;
  key: kms.Key;
  failures: sqs.IQueue;
  secretPrefix: string;
  writesPerSecond: number;
  /** Code instead of esbuild bundles (tests); `handler` is then `index.handler`. */
  code?: ((name: FunctionName) => lambda.Code) | undefined;
}

/** A function's role and the function's name (part of the ids of its EKS access entries). */
export interface FunctionRole {
  name: FunctionName;
  role: iam.Role;
}

export interface CertrotateFunctions {
  functions: Record<FunctionName, lambda.Function>;
  /** The function roles, in the order of FUNCTIONS. */
  roles: FunctionRole[];
}

/** The functions, each with its log group and role, created in `scope` in the order of FUNCTIONS. */
export function certrotateFunctions(scope: Construct, options: FunctionsOptions): CertrotateFunctions {
  const configFile = writeConfigFile(options.configDocument);
  const environment = functionEnvironment(options);
  const created: Partial<Record<FunctionName, lambda.Function>> = {};
  const roles: FunctionRole[] = [];
  for (const spec of FUNCTIONS) {
    const logGroup = new logs.LogGroup(scope, `${spec.name}Logs`, {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = functionRole(scope, spec.name, logGroup, options);
    roles.push({ name: spec.name, role });
    const fn = new nodejs.NodejsFunction(scope, `${spec.name}Function`, {
      description: spec.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: spec.memorySize,
      timeout: spec.timeout,
      role,
      logGroup,
      environment,
      // Not set on purpose: reserved concurrency is not a lock; the conditional writes and the
      // per-authority lease in DynamoDB are.
      retryAttempts: 2,
      onFailure: new destinations.SqsDestination(options.failures),
      ...functionCode(spec.name, configFile, options.code),
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason: 'nodejs22.x is the runtime certrotate is built, bundled and tested on (package.json engines: node 22); it moves with the project, not ahead of it.',
    });
    created[spec.name] = fn;
  }
  const { scan, advance, command } = created;
  if (scan === undefined || advance === undefined || command === undefined) throw new Error('unreachable: every function is created above');
  return { functions: { scan, advance, command }, roles };
}

/** What every function reads at cold start (lib/handlers/env.ts validates it). */
function functionEnvironment(options: FunctionsOptions): Record<string, string> {
  return {
    [ENV.tableName]: options.table.tableName,
    [ENV.secretPrefix]: options.secretPrefix,
    [ENV.kmsKeyId]: options.key.keyArn,
    [ENV.configFile]: CONFIG_PATH_IN_LAMBDA,
    [ENV.writesPerSecond]: String(options.writesPerSecond),
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  };
}

/** One role per function, holding only what the functions need (no managed policies). */
function functionRole(scope: Construct, name: FunctionName, logGroup: logs.ILogGroup, options: FunctionsOptions): iam.Role {
  const role = new iam.Role(scope, `${name}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `certrotate ${name} function`,
  });
  role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
  const secretArn = Stack.of(scope).formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${options.secretPrefix}/*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  for (const statement of secretStatements(secretArn)) role.addToPolicy(statement);
  options.table.grantReadWriteData(role);
  options.key.grantEncryptDecrypt(role);
  // Every transition, renewal and failure is also an event on the default bus, and only there.
  role.addToPolicy(new iam.PolicyStatement({ sid: 'PutCertrotateEvents', actions: ['events:PutEvents'], resources: [Stack.of(scope).formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' })] }));
  acknowledgeRoleFindings(role, options);
  return role;
}

/** The secrets under the prefix: read and write them, create them only tagged with an authority. */
function secretStatements(secretArn: string): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      sid: 'ReadAndWriteCertrotateSecrets',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:RestoreSecret'],
      resources: [secretArn],
    }),
    new iam.PolicyStatement({
      sid: 'CreateTaggedCertrotateSecrets',
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
      resources: [secretArn],
      conditions: { Null: { 'aws:RequestTag/certrotate:authority': 'false' } },
    }),
    new iam.PolicyStatement({
      // Read-only actions without resource-level permissions; BatchGetSecretValue still needs
      // GetSecretValue on each secret, which the statement above limits to the prefix.
      sid: 'ListAndBatchReadSecrets',
      actions: ['secretsmanager:ListSecrets', 'secretsmanager:BatchGetSecretValue'],
      resources: ['*'],
    }),
  ];
}

/** cdk-nag's IAM5 findings on a function role, each with why the wildcard is as narrow as it can be. */
function acknowledgeRoleFindings(role: iam.Role, options: FunctionsOptions): void {
  const stack = Stack.of(role);
  // cdk-nag names a finding by the rendered ARN: a token where the stack is environment-agnostic.
  const regionForNag = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const accountForNag = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const { secretPrefix } = options;
  const tableToken = `<${stack.getLogicalId(tableResource(options.table))}.Arn>`;
  Validations.of(role).acknowledge(
    {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:${regionForNag}:${accountForNag}:secret:${secretPrefix}/*]`,
      reason: `Secrets are created at run time, one per CA generation and per leaf; the wildcard is limited to certrotate's prefix "${secretPrefix}/" (and creation to secrets tagged with an authority).`,
    },
    {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${tableToken}/index/*]`,
      reason: "The state table's own indexes (the due-leaf index), granted by table.grantReadWriteData.",
    },
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'Only secretsmanager:ListSecrets and secretsmanager:BatchGetSecretValue, both read-only and without resource-level permissions; BatchGetSecretValue still needs GetSecretValue per secret, limited to the prefix.',
    },
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'Granted by key.grantEncryptDecrypt on the one certrotate key only (Secrets Manager and DynamoDB envelope encryption).',
    },
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
      reason: 'Granted by key.grantEncryptDecrypt on the one certrotate key only.',
    },
  );
}

/** The caller's code, or an esbuild bundle of functions/<name>.ts with the configuration file beside it. */
function functionCode(
  name: FunctionName,
  configFile: string,
  code: FunctionsOptions['code'],
): Pick<nodejs.NodejsFunctionProps, 'entry' | 'handler' | 'projectRoot' | 'depsLockFilePath' | 'bundling' | 'code'> {
  if (code !== undefined) return { code: code(name), handler: 'index.handler' };
  return {
    entry: functionEntry(name),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
    bundling: {
      format: nodejs.OutputFormat.ESM,
      target: ESBUILD_OPTIONS.target,
      minify: ESBUILD_OPTIONS.minify,
      sourceMap: ESBUILD_OPTIONS.sourcemap,
      mainFields: [...ESBUILD_OPTIONS.mainFields],
      banner: ESBUILD_OPTIONS.banner,
      bundleAwsSDK: true,
      externalModules: [...ESBUILD_OPTIONS.external],
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (_input: string, output: string) => [`cp "${configFile}" "${join(output, CONFIG_FILE_NAME)}"`],
      },
    },
  };
}

/** The configuration as a file esbuild's afterBundling hook copies into each bundle. */
function writeConfigFile(document: unknown): string {
  const directory = mkdtempSync(join(tmpdir(), 'certrotate-config-'));
  const path = join(directory, CONFIG_FILE_NAME);
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}
