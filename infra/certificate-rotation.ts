/**
 * `CertificateRotation`: everything certrotate needs in one account and region. Three functions
 * (scan, advance, command) on EventBridge Scheduler, the state table, one customer-managed KMS key
 * for the table, the secrets, the failure queue and the alarm topic, alarms, a dashboard, and
 * outputs an operator can paste. When the configuration names EKS consumers: an EKS access entry
 * per cluster and function role (AmazonEKSEditPolicy, scoped to the configured namespaces), or per
 * cluster and assumed role for targets with a `roleArn` (with `sts:AssumeRole` on exactly those
 * roles), and `eks:DescribeCluster` on exactly those clusters. The clusters must use the `API` or
 * `API_AND_CONFIG_MAP` authentication mode, and sit in the stack's region.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArnFormat, Aws, CfnOutput, CfnRule, Duration, Fn, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LEDGER_TTL_ATTRIBUTE, STATE_TABLE_SCHEMA } from '../lib/table-schema.js';
import { eksTargetsOf, parseConfig, type CertrotateConfig } from '../lib/config/index.js';
import { ENV } from '../lib/handlers/env.js';
import { AUTHORITY_DIMENSION, METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../lib/handlers/names.js';
import { ESBUILD_OPTIONS, PROJECT_ROOT, functionEntry, type FunctionName } from './bundling.js';

const HOUR_MS = 3_600_000;
/** Where the configuration file sits in each function's bundle (Lambda's task root). */
const CONFIG_FILE_NAME = 'certrotate.config.json';
const CONFIG_PATH_IN_LAMBDA = `/var/task/${CONFIG_FILE_NAME}`;

export interface CertificateRotationSchedules {
  /** Renew what is due, start the rotations that are due. Default `rate(1 hour)`. */
  scan?: scheduler.ScheduleExpression;
  /** Read every secret, repair the inventory. Default daily at 03:17 UTC. */
  reconcile?: scheduler.ScheduleExpression;
  /** Move rotations in progress. Default `rate(5 minutes)`. */
  advance?: scheduler.ScheduleExpression;
  /** Create the schedules disabled (for a dry deployment). Default true. */
  enabled?: boolean;
}

export interface CertificateRotationAlarms {
  /** Where alarms go. A topic (encrypted with the construct's key) is created when absent. */
  topic?: sns.ITopic;
  /** Subscribed to the created topic (ignored with `topic`). */
  email?: string;
  /**
   * A certificate this close to expiry alarms. Default: half of the renewal window (12 hours with
   * the default renewBeforeHours of 24): by then its renewal should already have happened.
   */
  expiryWithinDays?: number;
  /**
   * A rotation in one phase longer than this alarms. Default per authority: its longest soak
   * plus 24 hours (every phase waits at most for its soak and for consumers to catch up).
   */
  stuckPhaseHours?: number;
  /**
   * An authority with EKS consumers alarms when some consumer has not held its bundle (or its leaf
   * copy) for this many hours in a row, unreachable clusters included: in Stable too, where no
   * phase is stuck but a copy in a cluster may be heading for expiry. Default 6.
   */
  consumerLagHours?: number;
}

/** The EKS access policy every access entry gets, scoped to the configured namespaces. */
export const EKS_ACCESS_POLICY = 'AmazonEKSEditPolicy';

export interface CertificateRotationProps {
  /**
   * The configuration document (authorities with algorithm, lifetimes and lead time; the leaf
   * inventory and its consumers), validated with lib/config at synth time: a bad file never deploys.
   */
  config: unknown;
  /** First segment of every secret name; IAM is scoped to it. Default `certrotate`. */
  secretPrefix?: string;
  /** Secrets Manager writes per second per function (the account-wide quota is 50). Default 20. */
  writesPerSecond?: number;
  schedules?: CertificateRotationSchedules;
  alarms?: CertificateRotationAlarms;
  /**
   * Create the EKS access entries for the clusters named in the configuration. Default true; set
   * false when the clusters' access is managed elsewhere (another account, another stack).
   * `eks:DescribeCluster` on them is granted either way.
   */
  eksAccessEntries?: boolean;
  /**
   * Code for the functions instead of esbuild bundles (tests use `Code.fromInline` to keep synth
   * fast); `handler` is then `index.handler`.
   */
  code?: (name: FunctionName) => lambda.Code;
}

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

const FUNCTIONS: FunctionSpec[] = [
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

export class CertificateRotation extends Construct {
  readonly key: kms.Key;
  readonly table: dynamodb.Table;
  readonly failures: sqs.Queue;
  readonly alarmTopic: sns.ITopic;
  readonly functions: Record<FunctionName, lambda.Function>;
  readonly dashboard: cloudwatch.Dashboard;
  readonly config: CertrotateConfig;

  constructor(scope: Construct, id: string, props: CertificateRotationProps) {
    super(scope, id);
    this.config = parseConfig(props.config);
    const stack = Stack.of(this);
    const secretPrefix = props.secretPrefix ?? 'certrotate';
    if (!/^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/.test(secretPrefix)) {
      throw new Error(`secretPrefix "${secretPrefix}" must be letters, digits and /_+=.@-, not starting or ending with /`);
    }
    const writesPerSecond = props.writesPerSecond ?? 20;
    if (!(writesPerSecond >= 1 && writesPerSecond <= 50)) throw new Error(`writesPerSecond must be within 1-50, got ${writesPerSecond}`);

    // One customer-managed key: the table, the secrets, the failure queue and the alarm topic.
    this.key = new kms.Key(this, 'Key', {
      description: 'certrotate: CA and leaf private keys in Secrets Manager, rotation state in DynamoDB',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    const { partitionKey, sortKey, dueIndex } = STATE_TABLE_SCHEMA;
    this.table = new dynamodb.Table(this, 'State', {
      partitionKey: { name: partitionKey.name, type: dynamodb.AttributeType.STRING },
      sortKey: { name: sortKey.name, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      timeToLiveAttribute: LEDGER_TTL_ATTRIBUTE,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: dueIndex.indexName,
      partitionKey: { name: dueIndex.partitionKey.name, type: dynamodb.AttributeType.STRING },
      sortKey: { name: dueIndex.sortKey.name, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    // Schedules that could not invoke, and asynchronous invocations that failed every retry.
    this.failures = new sqs.Queue(this, 'Failures', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failures).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue (of the schedules and the functions); a DLQ of a DLQ adds nothing.',
    });

    if (props.alarms?.topic !== undefined) {
      this.alarmTopic = props.alarms.topic;
    } else {
      const topic = new sns.Topic(this, 'Alarms', { displayName: 'certrotate alarms', masterKey: this.key, enforceSSL: true });
      if (props.alarms?.email !== undefined) topic.addSubscription(new subscriptions.EmailSubscription(props.alarms.email));
      this.alarmTopic = topic;
    }

    const configFile = writeConfigFile(props.config);
    const environment: Record<string, string> = {
      [ENV.tableName]: this.table.tableName,
      [ENV.secretPrefix]: secretPrefix,
      [ENV.kmsKeyId]: this.key.keyArn,
      [ENV.configFile]: CONFIG_PATH_IN_LAMBDA,
      [ENV.writesPerSecond]: String(writesPerSecond),
      POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    };

    // cdk-nag names a finding by the rendered ARN: a token where the stack is environment-agnostic.
    const regionForNag = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const accountForNag = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    const secretArn = stack.formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${secretPrefix}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const functions: Partial<Record<FunctionName, lambda.Function>> = {};
    const roles: iam.Role[] = [];
    for (const spec of FUNCTIONS) {
      const logGroup = new logs.LogGroup(this, `${spec.name}Logs`, {
        retention: logs.RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // One role per function, each holding only what the functions need (no managed policies).
      const role = new iam.Role(this, `${spec.name}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `certrotate ${spec.name} function`,
      });
      roles.push(role);
      role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ReadAndWriteCertrotateSecrets',
          actions: [
            'secretsmanager:GetSecretValue',
            'secretsmanager:DescribeSecret',
            'secretsmanager:PutSecretValue',
            'secretsmanager:RestoreSecret',
          ],
          resources: [secretArn],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'CreateTaggedCertrotateSecrets',
          actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
          resources: [secretArn],
          conditions: { Null: { 'aws:RequestTag/certrotate:authority': 'false' } },
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          // Read-only actions without resource-level permissions; BatchGetSecretValue still needs
          // GetSecretValue on each secret, which the statement above limits to the prefix.
          sid: 'ListAndBatchReadSecrets',
          actions: ['secretsmanager:ListSecrets', 'secretsmanager:BatchGetSecretValue'],
          resources: ['*'],
        }),
      );
      this.table.grantReadWriteData(role);
      this.key.grantEncryptDecrypt(role);
      const tableToken = `<${stack.getLogicalId(tableResource(this.table))}.Arn>`;
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

      const fn = new nodejs.NodejsFunction(this, `${spec.name}Function`, {
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
        onFailure: new destinations.SqsDestination(this.failures),
        ...(props.code === undefined
          ? {
              entry: functionEntry(spec.name),
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
            }
          : { code: props.code(spec.name), handler: 'index.handler' }),
      });
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions::AwsSolutions-L1',
        reason: 'nodejs22.x is the runtime certrotate is built, bundled and tested on (package.json engines: node 22); it moves with the project, not ahead of it.',
      });
      functions[spec.name] = fn;
    }
    const { scan, advance, command } = functions;
    if (scan === undefined || advance === undefined || command === undefined) throw new Error('unreachable: every function is created above');
    this.functions = { scan, advance, command };
    this.eksAccess(roles, props.eksAccessEntries ?? true);

    // EventBridge Scheduler invokes asynchronously: its retry policy covers failures to invoke,
    // the functions' own async retries and on-failure destination cover failed runs.
    const enabled = props.schedules?.enabled ?? true;
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'certrotate schedules: invoke the scan and advance functions, dead-letter to the failure queue',
    });
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${stack.getLogicalId(functionResource(scan))}.Arn>:*]`,
      reason: 'lambda:InvokeFunction on the scan function and its versions (granted by the scheduler target), nothing else.',
    }, {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${stack.getLogicalId(functionResource(advance))}.Arn>:*]`,
      reason: 'lambda:InvokeFunction on the advance function and its versions (granted by the scheduler target), nothing else.',
    });
    const target = (fn: lambda.IFunction, input: Record<string, unknown>) =>
      new targets.LambdaInvoke(fn, {
        role: schedulerRole,
        input: scheduler.ScheduleTargetInput.fromObject(input),
        deadLetterQueue: this.failures,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      });
    new scheduler.Schedule(this, 'ScanSchedule', {
      description: 'certrotate hourly scan',
      schedule: props.schedules?.scan ?? scheduler.ScheduleExpression.rate(Duration.hours(1)),
      target: target(scan, { mode: 'scan' }),
      enabled,
    });
    new scheduler.Schedule(this, 'ReconcileSchedule', {
      description: 'certrotate daily reconcile',
      schedule: props.schedules?.reconcile ?? scheduler.ScheduleExpression.cron({ minute: '17', hour: '3' }),
      target: target(scan, { mode: 'reconcile' }),
      enabled,
    });
    new scheduler.Schedule(this, 'AdvanceSchedule', {
      description: 'certrotate rotation advance',
      schedule: props.schedules?.advance ?? scheduler.ScheduleExpression.rate(Duration.minutes(5)),
      target: target(advance, {}),
      enabled,
    });

    this.dashboard = this.alarmsAndDashboard(props.alarms ?? {});
    this.outputs();
  }

  /**
   * For every cluster named by an EKS consumer: `eks:DescribeCluster` on it for every function
   * role, and (unless told not to) access entries with AmazonEKSEditPolicy scoped to the
   * namespaces certrotate writes there: one per function role for the targets without a
   * `roleArn`, and one per role for the targets that name one (the cluster sees that role's
   * sessions, not the functions). Every function role may `sts:AssumeRole` exactly the configured
   * roles; each role's trust policy must allow the function roles (it is not this stack's).
   * Access entries live in the stack's region, so every cluster must be there: checked at synth
   * when the region is known, by a template rule (at deploy, before anything is created) when it
   * is not.
   */
  private eksAccess(roles: readonly iam.Role[], accessEntries: boolean): void {
    const targets = eksTargetsOf(this.config);
    if (targets.length === 0) return;
    const stack = Stack.of(this);
    /** Per cluster: its region, and the namespaces each principal writes (`undefined`: the function roles). */
    const clusters = new Map<string, { region: string; principals: Map<string | undefined, Set<string>> }>();
    for (const target of targets) {
      const cluster = clusters.get(target.clusterName) ?? { region: target.region, principals: new Map<string | undefined, Set<string>>() };
      const namespaces = cluster.principals.get(target.roleArn) ?? new Set<string>();
      namespaces.add(target.namespace);
      cluster.principals.set(target.roleArn, namespaces);
      clusters.set(target.clusterName, cluster);
    }
    const regions = [...new Set([...clusters.values()].map((cluster) => cluster.region))];
    if (accessEntries) {
      if (!Token.isUnresolved(stack.region)) {
        const elsewhere = [...clusters].filter(([, cluster]) => cluster.region !== stack.region).map(([name, cluster]) => `${name} (${cluster.region})`);
        if (elsewhere.length > 0) {
          throw new Error(
            `EKS access entries are created in the stack's region ${stack.region}, but these clusters are elsewhere: ${elsewhere.join(', ')}. ` +
              'Deploy in their region, or set eksAccessEntries: false and grant access there.',
          );
        }
      } else {
        new CfnRule(this, 'EksClustersInStackRegion', {
          assertions: regions.map((region) => ({
            assert: Fn.conditionEquals(Aws.REGION, region),
            assertDescription: `certrotate creates EKS access entries for clusters in ${region}: deploy this stack there (or set eksAccessEntries: false)`,
          })),
        });
      }
    }
    const clusterArns = [...clusters].map(([name, cluster]) =>
      stack.formatArn({ service: 'eks', region: cluster.region, resource: 'cluster', resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
    );
    const assumed = [...new Set(targets.flatMap((target) => (target.roleArn === undefined ? [] : [target.roleArn])))].sort();
    for (const role of roles) {
      role.addToPolicy(new iam.PolicyStatement({ sid: 'DescribeConsumerClusters', actions: ['eks:DescribeCluster'], resources: clusterArns }));
      if (assumed.length > 0) {
        role.addToPolicy(new iam.PolicyStatement({ sid: 'AssumeConsumerRoles', actions: ['sts:AssumeRole'], resources: assumed }));
      }
    }
    if (!accessEntries) return;
    const entry = (id: string, clusterName: string, principalArn: string, namespaces: ReadonlySet<string>): void => {
      new eks.CfnAccessEntry(this, id, {
        clusterName,
        principalArn,
        type: 'STANDARD',
        accessPolicies: [
          {
            policyArn: `arn:${Aws.PARTITION}:eks::aws:cluster-access-policy/${EKS_ACCESS_POLICY}`,
            accessScope: { type: 'namespace', namespaces: [...namespaces].sort() },
          },
        ],
      });
    };
    for (const [name, cluster] of clusters) {
      for (const [roleArn, namespaces] of cluster.principals) {
        if (roleArn === undefined) {
          for (const [index, role] of roles.entries()) entry(`EksAccess${logicalPart(name)}${FUNCTIONS[index]?.name ?? index}`, name, role.roleArn, namespaces);
        } else {
          // Stable per (cluster, role ARN): an id that moved would make CloudFormation create the
          // new entry before deleting the old one, and EKS refuses two entries for one principal.
          const digest = createHash('sha256').update(roleArn).digest('hex').slice(0, 8).toUpperCase();
          entry(`EksAccess${logicalPart(name)}Role${logicalPart(roleArn.slice(roleArn.indexOf(':role/') + 6))}${digest}`, name, roleArn, namespaces);
        }
      }
    }
  }

  private metric(name: string, authority: string | undefined, statistic: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      dimensionsMap: authority === undefined ? { service: SERVICE_NAME } : { service: SERVICE_NAME, [AUTHORITY_DIMENSION]: authority },
      statistic,
      period,
    });
  }

  private alarmsAndDashboard(options: CertificateRotationAlarms): cloudwatch.Dashboard {
    const action = new cloudwatchActions.SnsAction(this.alarmTopic);
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const created = new cloudwatch.Alarm(this, id, props);
      created.addAlarmAction(action);
      created.addOkAction(action);
      return created;
    };
    const expiryDays = options.expiryWithinDays ?? this.config.renewal.renewBeforeMs / 2 / (24 * HOUR_MS);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(7) });
    for (const authority of this.config.authorities) {
      const name = authority.name;
      const soak = Math.max(authority.rotation.soakMs.trustExpanded, authority.rotation.soakMs.leavesMigrated) / HOUR_MS;
      const stuckHours = options.stuckPhaseHours ?? soak + 24;
      const days = this.metric(METRIC.daysToEarliestExpiry, name, 'Minimum', Duration.hours(1));
      const age = this.metric(METRIC.phaseAgeHours, name, 'Maximum', Duration.hours(1));
      const gateWait = this.metric(METRIC.gateWaitHours, name, 'Maximum', Duration.hours(1));
      alarm(`${name}ExpiryAlarm`, {
        alarmDescription:
          `certrotate: a certificate of authority ${name} expires within ${expiryDays} days, so its renewal did not happen in time ` +
          '(or the hourly scan has reported nothing for 3 hours). Read the status and the scan function logs.',
        metric: days,
        threshold: expiryDays,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm(`${name}StuckAlarm`, {
        alarmDescription:
          `certrotate: authority ${name} has been in one rotation phase for more than ${stuckHours} hours (paused, or consumers not picking up the bundle). ` +
          'Read the status: it names the lagging consumers.',
        metric: age,
        threshold: stuckHours,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // A run that could not look at the authority (busy, or failing: FailuresAlarm covers that)
        // publishes no phase age; missing data keeps the alarm as it was rather than clearing it.
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
      if ((authority.consumers?.eks.length ?? 0) > 0) {
        // The stuck alarm above already fires when a rotation gate waits past its limit (the phase
        // age grows while consumers lag). This one covers lag outside rotations too.
        const lagHours = options.consumerLagHours ?? 6;
        if (!Number.isInteger(lagHours) || lagHours < 1 || lagHours > 24) throw new Error(`alarms.consumerLagHours must be a whole number of hours within 1-24, got ${lagHours}`);
        const lagging = this.metric(METRIC.consumersLagging, name, 'Minimum', Duration.hours(1));
        alarm(`${name}ConsumersLaggingAlarm`, {
          alarmDescription:
            `certrotate: some EKS consumer of authority ${name} has not held its bundle or leaf for ${lagHours} hours in a row ` +
            '(a cluster unreachable or refusing, an access entry missing). The scan log line and the status name it.',
          metric: lagging,
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: lagHours,
          datapointsToAlarm: lagHours,
          treatMissingData: cloudwatch.TreatMissingData.IGNORE,
        });
        dashboard.addWidgets(new cloudwatch.GraphWidget({ title: `${name}: consumers lagging`, left: [lagging], width: 8 }));
      }
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({ title: `${name}: days to earliest expiry`, left: [days], leftAnnotations: [{ value: expiryDays, label: 'alarm' }], width: 8 }),
        new cloudwatch.GraphWidget({ title: `${name}: hours in current phase, and waiting at its gate`, left: [age, gateWait], leftAnnotations: [{ value: stuckHours, label: 'alarm' }], width: 8 }),
        new cloudwatch.GraphWidget({
          title: `${name}: renewals and rotations`,
          left: [
            this.metric(METRIC.leavesRenewed, name, 'Sum', Duration.hours(1)),
            this.metric(METRIC.rotationsStarted, name, 'Sum', Duration.hours(1)),
            this.metric(METRIC.rotationsCompleted, name, 'Sum', Duration.hours(1)),
          ],
          width: 8,
        }),
      );
    }
    const failures = this.metric(METRIC.failures, undefined, 'Sum', Duration.minutes(15));
    alarm('FailuresAlarm', {
      alarmDescription: 'certrotate: a run or a command failed internally. Its log line carries the request id and the authority.',
      metric: failures,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const errorMetrics: cloudwatch.IMetric[] = [];
    for (const [name, fn] of Object.entries(this.functions)) {
      const errors = fn.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' });
      errorMetrics.push(errors);
      alarm(`${name}ErrorsAlarm`, {
        alarmDescription: `certrotate: the ${name} function ended in an error (a crash, a timeout, or an authority that failed). Read its logs.`,
        metric: errors,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    const depth = this.failures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' });
    alarm('DeadLetterAlarm', {
      alarmDescription: 'certrotate: a scheduled run could not be delivered or failed every retry; the message in the failure queue says which. Fix the cause, then purge the queue.',
      metric: depth,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'function errors', left: errorMetrics, width: 8 }),
      new cloudwatch.GraphWidget({ title: 'internal failures', left: [failures], width: 8 }),
      new cloudwatch.GraphWidget({ title: 'failure queue depth', left: [depth], width: 8 }),
    );
    return dashboard;
  }

  private outputs(): void {
    const { scan, advance, command } = this.functions;
    const authority = this.config.authorities[0]?.name ?? 'cluster';
    const invoke = (payload: Record<string, unknown>) =>
      `aws lambda invoke --function-name ${command.functionName} --cli-binary-format raw-in-base64-out --cli-read-timeout 0 ` +
      `--payload '${JSON.stringify(payload)}' /dev/stdout`;
    new CfnOutput(this, 'ScanFunctionName', { value: scan.functionName, description: 'certrotate scan function' });
    new CfnOutput(this, 'AdvanceFunctionName', { value: advance.functionName, description: 'certrotate advance function' });
    new CfnOutput(this, 'CommandFunctionName', { value: command.functionName, description: 'certrotate command function (operators)' });
    new CfnOutput(this, 'StateTableName', { value: this.table.tableName });
    new CfnOutput(this, 'ForceRotationCommand', {
      description: 'Forces a CA rotation (use a new requestId each time; a retry with the same one is safe)',
      value: invoke({ action: 'rotate-ca', authority, requestId: 'rotate-CHANGE-ME', reason: 'planned rotation', emergency: false }),
    });
    new CfnOutput(this, 'StatusCommand', { description: 'Reads the status of every authority', value: invoke({ action: 'status' }) });
  }
}

/** A cluster name as part of a construct id: letters and digits only, each run of others a capital. */
function logicalPart(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function tableResource(table: dynamodb.Table): dynamodb.CfnTable {
  const resource = table.node.defaultChild;
  if (!(resource instanceof dynamodb.CfnTable)) throw new Error('unreachable: a Table is backed by a CfnTable');
  return resource;
}

function functionResource(fn: lambda.Function): lambda.CfnFunction {
  const resource = fn.node.defaultChild;
  if (!(resource instanceof lambda.CfnFunction)) throw new Error('unreachable: a Function is backed by a CfnFunction');
  return resource;
}

/** The configuration as a file esbuild's afterBundling hook copies into each bundle. */
function writeConfigFile(document: unknown): string {
  const directory = mkdtempSync(join(tmpdir(), 'certrotate-config-'));
  const path = join(directory, CONFIG_FILE_NAME);
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}
