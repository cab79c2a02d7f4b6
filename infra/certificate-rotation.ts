/**
 * `CertificateRotation`: everything certrotate needs in one account and region. Three functions
 * (scan, advance, command) on EventBridge Scheduler, KMS access for CA keys kept in KMS (infra/parts/ca-keys.ts), the state table, one customer-managed KMS key
 * for the table, the secrets, the failure queue and the alarm topic, alarms, a dashboard, and
 * outputs with stable names an operator can paste (infra/parts/outputs.ts). When the configuration names EKS consumers: an EKS access entry
 * per cluster and function role (AmazonEKSEditPolicy, scoped to the configured namespaces), or per
 * cluster and assumed role for targets with a `roleArn` (with `sts:AssumeRole` on exactly those
 * roles), and `eks:DescribeCluster` on exactly those clusters. The clusters must use the `API` or
 * `API_AND_CONFIG_MAP` authentication mode, and sit in the stack's region.
 *
 * The parts live in infra/parts/, one concern each. Every part creates its resources directly in
 * this construct's scope, so construct paths and logical IDs stay what they were: a deployed
 * stack updates in place.
 */
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { caKeyStoreOf, parseConfig, type CertrotateConfig } from '../lib/config/index.js';
import type { FunctionName } from './bundling.js';
import { alarmsAndDashboard, type CertificateRotationAlarms } from './parts/alarms-and-dashboard.js';
import { caKeys } from './parts/ca-keys.js';
import { eksAccess } from './parts/eks-access.js';
import { grantReadBundle, grantReadLeaf } from './parts/grants.js';
import { awsTrustAccess } from './parts/aws-trust-access.js';
import { certrotateFunctions } from './parts/functions.js';
import { leafBucket } from './parts/leaf-bucket.js';
import { stackOutputs } from './parts/outputs.js';
import { schedules, type CertificateRotationSchedules } from './parts/schedules.js';
import { alarmTopic, encryptionKey, failureQueue, stateTable } from './parts/storage.js';

export type { CertificateRotationAlarms } from './parts/alarms-and-dashboard.js';
export { EKS_ACCESS_POLICY } from './parts/eks-access.js';
export type { CertificateRotationSchedules } from './parts/schedules.js';

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
   * Put before the outputs' logical ids (`CommandFunctionName`, `StatusCommand` ...); default none.
   * Only a second CertificateRotation in the same stack needs one.
   */
  outputPrefix?: string;
  /**
   * Code for the functions instead of esbuild bundles (tests use `Code.fromInline` to keep synth
   * fast); `handler` is then `index.handler`.
   */
  code?: (name: FunctionName) => lambda.Code;
}

export class CertificateRotation extends Construct {
  readonly key: kms.Key;
  readonly table: dynamodb.Table;
  readonly failures: sqs.Queue;
  readonly alarmTopic: sns.ITopic;
  readonly functions: Record<FunctionName, lambda.Function>;
  readonly dashboard: cloudwatch.Dashboard;
  readonly config: CertrotateConfig;
  /** First segment of every secret name. */
  readonly secretPrefix: string;
  /** The leaf bucket, when an authority has `leafStore: s3`. */
  readonly leafBucket: s3.Bucket | undefined;

  /** Creates the parts in a fixed order: the order of the template's resources and policy statements. */
  constructor(scope: Construct, id: string, props: CertificateRotationProps) {
    super(scope, id);
    this.config = parseConfig(props.config);
    const secretPrefix = props.secretPrefix ?? 'certrotate';
    this.secretPrefix = secretPrefix;
    if (!/^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/.test(secretPrefix)) {
      throw new Error(`secretPrefix "${secretPrefix}" must be letters, digits and /_+=.@-, not starting or ending with /`);
    }
    const writesPerSecond = props.writesPerSecond ?? 20;
    if (!(writesPerSecond >= 1 && writesPerSecond <= 50)) throw new Error(`writesPerSecond must be within 1-50, got ${writesPerSecond}`);

    this.key = encryptionKey(this);
    this.table = stateTable(this, this.key);
    this.failures = failureQueue(this, this.key);
    this.alarmTopic = alarmTopic(this, this.key, props.alarms ?? {});
    const { functions, roles } = certrotateFunctions(this, {
      configDocument: props.config,
      table: this.table,
      key: this.key,
      failures: this.failures,
      secretPrefix,
      writesPerSecond,
      code: props.code,
    });
    this.functions = functions;
    caKeys(this, { functions: Object.values(functions), roles, secretPrefix, usesKms: this.config.authorities.some((authority) => caKeyStoreOf(authority) === 'kms') });
    this.leafBucket = leafBucket(this, { config: this.config, key: this.key, secretPrefix, roles, functions: Object.values(functions) });
    eksAccess(this, this.config, roles, props.eksAccessEntries ?? true);
    awsTrustAccess(this, this.config, roles, secretPrefix);
    schedules(this, { scan: functions.scan, advance: functions.advance, failures: this.failures }, props.schedules ?? {});
    this.dashboard = alarmsAndDashboard(this, { config: this.config, topic: this.alarmTopic, functions, failures: this.failures }, props.alarms ?? {});
    stackOutputs(this, {
      config: this.config,
      functionNames: { scan: functions.scan.functionName, advance: functions.advance.functionName, command: functions.command.functionName },
      tableName: this.table.tableName,
      secretPrefix,
      ...(this.leafBucket === undefined ? {} : { leafBucketName: this.leafBucket.bucketName }),
      ...(props.outputPrefix === undefined ? {} : { prefix: props.outputPrefix }),
    });
  }

  /**
   * Lets `grantee` (an ECS task role, a Lambda function ...) read one leaf's secret
   * (`<prefix>/<authority>/leaf/<leafId>`) and decrypt it, nothing else. Unknown names fail synth.
   */
  grantReadLeaf(grantee: iam.IGrantable, authority: string, leafId: string): iam.Grant {
    return grantReadLeaf({ scope: this, config: this.config, key: this.key, secretPrefix: this.secretPrefix, leafBucket: this.leafBucket }, grantee, authority, leafId);
  }

  /** Lets `grantee` read an authority's trust bundle secret (`<prefix>/<authority>/bundle`) and decrypt it. */
  grantReadBundle(grantee: iam.IGrantable, authority: string): iam.Grant {
    return grantReadBundle({ scope: this, config: this.config, key: this.key, secretPrefix: this.secretPrefix }, grantee, authority);
  }
}
