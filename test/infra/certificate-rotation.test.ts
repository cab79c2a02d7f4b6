import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateRotation } from '../../infra/certificate-rotation.js';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { ValidationError } from '../../lib/errors.js';

const sampleConfig: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, 'infra/certrotate.config.json'), 'utf8'));
const stub = () => lambda.Code.fromInline('export const handler = async () => ({});');

function build(props: Partial<ConstructorParameters<typeof CertificateRotation>[2]> = {}) {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const rotation = new CertificateRotation(stack, 'Rotation', { config: sampleConfig, code: stub, ...props });
  return { app, stack, rotation };
}

/** Synthesizes (once: a later app.synth() returns the same assembly, without validating again). */
function synth(props: Partial<ConstructorParameters<typeof CertificateRotation>[2]> = {}) {
  const built = build(props);
  return { ...built, template: Template.fromStack(built.stack) };
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Walks into a plain JSON value; undefined when a step is missing. */
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = Object.getOwnPropertyDescriptor(current, key)?.value;
  }
  return current;
}

function isStatement(value: unknown): value is Statement {
  return typeof at(value, 'Effect') === 'string' && at(value, 'Action') !== undefined;
}

function statements(template: Template): Statement[] {
  const policies: unknown[] = Object.values(template.findResources('AWS::IAM::Policy'));
  return policies.flatMap((policy) => {
    const list = at(policy, 'Properties', 'PolicyDocument', 'Statement');
    return Array.isArray(list) ? list.filter(isStatement) : [];
  });
}

/** The sample configuration with these authorities' EKS consumers replaced. */
function sampleWithConsumers(consumers: Record<string, unknown[]>): unknown {
  const document: unknown = structuredClone(sampleConfig);
  const authorities = at(document, 'authorities');
  if (!Array.isArray(authorities)) throw new Error('the sample configuration has no authorities');
  for (const authority of authorities) {
    const name = at(authority, 'name');
    const eks = typeof name === 'string' ? consumers[name] : undefined;
    if (eks !== undefined && typeof authority === 'object' && authority !== null) Object.assign(authority, { consumers: { eks } });
  }
  return document;
}

function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

describe('CertificateRotation', () => {
  let template: Template;
  beforeAll(() => {
    ({ template } = synth({ alarms: { email: 'ops@example.com' } }));
  });

  it('runs three Node 22 arm64 functions with their memory, timeouts, retained log groups and the validated environment', () => {
    template.resourceCountIs('AWS::Lambda::Function', 3);
    for (const [description, timeout] of [[/renew due leaves/, 900], [/move CA rotations/, 300], [/operator commands/, 900]] as const) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp(description.source),
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        MemorySize: 1024,
        Timeout: timeout,
        LoggingConfig: { LogGroup: Match.anyValue() },
        Environment: {
          Variables: Match.objectLike({
            CERTROTATE_TABLE_NAME: { Ref: Match.anyValue() },
            CERTROTATE_SECRET_PREFIX: 'certrotate',
            CERTROTATE_KMS_KEY_ID: Match.anyValue(),
            CERTROTATE_CONFIG_FILE: '/var/task/certrotate.config.json',
            CERTROTATE_WRITES_PER_SECOND: '20',
          }),
        },
      });
    }
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 90 }, 3);
    template.allResources('AWS::Logs::LogGroup', { DeletionPolicy: 'Retain' });
    // No reserved concurrency: the conditional writes are the lock.
    const functions: unknown[] = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions.map((fn) => at(fn, 'Properties', 'ReservedConcurrentExecutions'))).toEqual([undefined, undefined, undefined]);
  });

  it('sends each function\'s failed asynchronous invocations to the failure queue after two retries', () => {
    template.resourcePropertiesCountIs('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2, DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } } }, 3);
    template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: Match.anyValue(), MessageRetentionPeriod: 1_209_600 });
  });

  it('keeps the state in an on-demand, point-in-time-recovered, deletion-protected, retained table encrypted with the rotating customer key', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'due',
            KeySchema: [
              { AttributeName: 'dueKey', KeyType: 'HASH' },
              { AttributeName: 'renewAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          }),
        ],
        AttributeDefinitions: Match.arrayWith([{ AttributeName: 'renewAt', AttributeType: 'N' }]),
      },
    });
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: { EnableKeyRotation: true } });
  });

  it('schedules the hourly scan, the daily reconcile and the 5-minute advance with retries and a dead-letter queue', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 3);
    for (const [expression, input] of [['rate(1 hour)', '{"mode":"scan"}'], ['cron(17 3 * * ? *)', '{"mode":"reconcile"}'], ['rate(5 minutes)', '{}']]) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: expression,
        State: 'ENABLED',
        Target: Match.objectLike({
          Input: input,
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } },
        }),
      });
    }
  });

  it('alarms to an encrypted topic on expiry and stuck phases per authority, failures, function errors and a non-empty dead-letter queue', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    // 3 authorities x (expiry, stuck) + consumers lagging (cluster has an EKS consumer) + failures
    // + 3 function errors + dead-letter queue.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 12);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [{ Ref: Match.stringLikeRegexp('Alarms') }] });
    for (const authority of ['cluster', 'etcd', 'front-proxy']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'certrotate',
        MetricName: 'DaysToEarliestExpiry',
        Dimensions: Match.arrayWith([{ Name: 'authority', Value: authority }]),
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 0.5,
        TreatMissingData: 'breaching',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'RotationPhaseAgeHours',
        Dimensions: Match.arrayWith([{ Name: 'authority', Value: authority }]),
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 26,
        // A run that skipped or failed the authority publishes no age: the alarm keeps its state.
        TreatMissingData: 'ignore',
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Failures', Namespace: 'certrotate', Dimensions: [{ Name: 'service', Value: 'certrotate' }] });
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Namespace: 'AWS/Lambda' }, 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('alarms when an external consumer of an authority lags for the configured hours in a row; the stuck alarm covers gates during rotations', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ConsumersLagging',
      Dimensions: Match.arrayWith([{ Name: 'authority', Value: 'cluster' }]),
      Statistic: 'Minimum',
      Period: 3600,
      EvaluationPeriods: 6,
      DatapointsToAlarm: 6,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
    });
    // Only authorities with external consumers (EKS, trust stores, API Gateway domains, ACM) get it.
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'ConsumersLagging' }, 1);
    const withDomain = structuredClone(sampleConfig) as { authorities: { name: string; consumers?: unknown }[] };
    const etcd = withDomain.authorities.find((authority) => authority.name === 'etcd');
    if (etcd === undefined) throw new Error('the sample configuration has no etcd');
    etcd.consumers = { apiGatewayDomains: [{ region: 'eu-west-1', bucket: 'certrotate-trust-bundles', key: 'etcd/clients.pem', domainName: 'etcd.example.com' }] };
    const domainOnly = synth({ config: withDomain }).template;
    domainOnly.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'ConsumersLagging' }, 2);
    domainOnly.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ConsumersLagging', Dimensions: Match.arrayWith([{ Name: 'authority', Value: 'etcd' }]) });
    const custom = synth({ alarms: { consumerLagHours: 2 } }).template;
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ConsumersLagging', EvaluationPeriods: 2, DatapointsToAlarm: 2 });
    expect(() => build({ alarms: { consumerLagHours: 0 } })).toThrow(/consumerLagHours must be a whole number of hours within 1-24/);
  });

  it('gives every function role an EKS access entry per configured cluster, AmazonEKSEditPolicy scoped to the configured namespaces, and DescribeCluster on those clusters only', () => {
    template.resourceCountIs('AWS::EKS::AccessEntry', 3);
    for (const role of ['scanRole', 'advanceRole', 'commandRole']) {
      template.hasResourceProperties('AWS::EKS::AccessEntry', {
        ClusterName: 'platform',
        PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(role), 'Arn'] },
        Type: 'STANDARD',
        AccessPolicies: [
          {
            PolicyArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':eks::aws:cluster-access-policy/AmazonEKSEditPolicy']] },
            AccessScope: { Type: 'namespace', Namespaces: ['kube-system'] },
          },
        ],
      });
    }
    const describe = statements(template).filter((statement) => actionsOf(statement).includes('eks:DescribeCluster'));
    expect(describe).toHaveLength(3);
    for (const statement of describe) {
      expect(actionsOf(statement)).toEqual(['eks:DescribeCluster']);
      expect(JSON.stringify(statement.Resource)).toContain(':eks:eu-west-1:123456789012:cluster/platform');
      expect(JSON.stringify(statement.Resource)).not.toContain('*');
    }
  });

  it('scopes access entries per cluster to the namespaces configured there, and refuses clusters outside the stack region', () => {
    const target = (clusterName: string, namespace: string, secretName: string) => ({ clusterName, region: 'eu-west-1', namespace, secretName, content: 'bundle' });
    const config = sampleWithConsumers({
      cluster: [target('prod-eu', 'kube-system', 'cluster-ca'), target('prod-eu', 'web', 'cluster-ca'), target('prod-us', 'web', 'cluster-ca')],
      etcd: [target('prod-eu', 'etcd', 'etcd-ca')],
    });
    const { template: scoped } = synth({ config });
    scoped.resourceCountIs('AWS::EKS::AccessEntry', 6);
    scoped.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'prod-eu',
      AccessPolicies: [Match.objectLike({ AccessScope: { Type: 'namespace', Namespaces: ['etcd', 'kube-system', 'web'] } })],
    });
    scoped.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'prod-us',
      AccessPolicies: [Match.objectLike({ AccessScope: { Type: 'namespace', Namespaces: ['web'] } })],
    });
    // Managed elsewhere: no entries, DescribeCluster still granted.
    const { template: unmanaged } = synth({ config, eksAccessEntries: false });
    unmanaged.resourceCountIs('AWS::EKS::AccessEntry', 0);
    expect(statements(unmanaged).filter((statement) => actionsOf(statement).includes('eks:DescribeCluster'))).toHaveLength(3);
    // A cluster in another region cannot get an access entry from this stack.
    const elsewhere = sampleWithConsumers({ cluster: [{ ...target('prod-us', 'web', 'cluster-ca'), region: 'us-east-1' }] });
    expect(() => build({ config: elsewhere })).toThrow(/clusters are elsewhere: prod-us \(us-east-1\)/);
  });

  it('for targets with a roleArn, lets every function role assume exactly those roles and gives the access entry to the role, cdk-nag clean', () => {
    const A = 'arn:aws:iam::123456789012:role/certrotate-publisher';
    const B = 'arn:aws:iam::210987654321:role/platform/certrotate-publisher';
    const target = (clusterName: string, namespace: string, secretName: string, roleArn?: string) => ({
      clusterName,
      region: 'eu-west-1',
      ...(roleArn === undefined ? {} : { roleArn }),
      namespace,
      secretName,
      content: 'bundle',
    });
    const consumers = {
      cluster: [target('prod-eu', 'kube-system', 'cluster-ca', A), target('prod-eu', 'web', 'cluster-ca'), target('prod-us', 'web', 'cluster-ca', B)],
      etcd: [target('prod-eu', 'etcd', 'etcd-ca', A)],
    };
    const { app, stack } = build({ config: sampleWithConsumers(consumers) });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
    const withRoles = Template.fromStack(stack);

    const assume = statements(withRoles).filter((statement) => actionsOf(statement).some((action) => action.startsWith('sts:')));
    expect(assume).toHaveLength(3);
    for (const statement of assume) {
      expect(statement).toMatchObject({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: [B, A].sort() });
    }
    expect(statements(template).filter((statement) => actionsOf(statement).some((action) => action.startsWith('sts:')))).toEqual([]);

    // prod-eu: the function roles for web (no role there); role A for kube-system and etcd. prod-us: role B only.
    withRoles.resourceCountIs('AWS::EKS::AccessEntry', 5);
    const scope = (namespaces: string[]) => [Match.objectLike({ AccessScope: { Type: 'namespace', Namespaces: namespaces } })];
    withRoles.resourcePropertiesCountIs('AWS::EKS::AccessEntry', { ClusterName: 'prod-eu', PrincipalArn: { 'Fn::GetAtt': Match.anyValue() }, AccessPolicies: scope(['web']) }, 3);
    withRoles.resourcePropertiesCountIs('AWS::EKS::AccessEntry', { ClusterName: 'prod-eu', PrincipalArn: A, Type: 'STANDARD', AccessPolicies: scope(['etcd', 'kube-system']) }, 1);
    withRoles.resourcePropertiesCountIs('AWS::EKS::AccessEntry', { ClusterName: 'prod-us', PrincipalArn: B, Type: 'STANDARD', AccessPolicies: scope(['web']) }, 1);
    withRoles.resourcePropertiesCountIs('AWS::EKS::AccessEntry', { ClusterName: 'prod-us', PrincipalArn: { 'Fn::GetAtt': Match.anyValue() } }, 0);

    // Each entry keeps its logical id when the configuration lists the targets in another order.
    const ids = (t: Template) => Object.keys(t.findResources('AWS::EKS::AccessEntry')).sort();
    const reordered = synth({ config: sampleWithConsumers({ cluster: [...consumers.cluster].reverse(), etcd: consumers.etcd }) }).template;
    expect(ids(reordered)).toEqual(ids(withRoles));

    // Access managed elsewhere: still allowed to assume the roles, no entries.
    const { template: unmanaged } = synth({ config: sampleWithConsumers(consumers), eksAccessEntries: false });
    unmanaged.resourceCountIs('AWS::EKS::AccessEntry', 0);
    expect(statements(unmanaged).filter((statement) => actionsOf(statement).includes('sts:AssumeRole'))).toHaveLength(3);
  });

  it('asserts the clusters\' region at deploy time when the stack is environment-agnostic', () => {
    const app = new App();
    const stack = new Stack(app, 'Agnostic');
    new CertificateRotation(stack, 'Rotation', { config: sampleConfig, code: stub });
    const rules: unknown = Template.fromStack(stack).toJSON()['Rules'];
    expect(JSON.stringify(rules)).toContain('"Fn::Equals":[{"Ref":"AWS::Region"},"eu-west-1"]');
  });

  it('grants least privilege: secrets under the prefix, creation only with an authority tag, no write action on *', () => {
    const all = statements(template);
    const writes = /^(secretsmanager:(Create|Put|Update|Delete|Tag|Untag|Restore|Rotate)|dynamodb:(Put|Update|Delete|BatchWrite)|kms:(Encrypt|ReEncrypt|GenerateDataKey|Create|Schedule)|sqs:Send|lambda:Invoke|logs:(Create|Put))/;
    for (const statement of all.filter((candidate) => candidate.Resource === '*')) {
      // CreateKey has no resource to scope: it is allowed only with certrotate's tags (test/infra/ca-keys.test.ts).
      if (actionsOf(statement).includes('kms:CreateKey')) {
        expect(JSON.stringify(statement.Condition)).toContain('aws:RequestTag/certrotate:kind');
        continue;
      }
      expect(actionsOf(statement).filter((action) => writes.test(action))).toEqual([]);
      // DescribeTrustStores has no resource type (Service Authorization Reference; test/infra/aws-trust-access.test.ts).
      expect([['secretsmanager:BatchGetSecretValue', 'secretsmanager:ListSecrets'], ['kms:ListAliases', 'kms:ListKeys'], ['elasticloadbalancing:DescribeTrustStores']]).toContainEqual(actionsOf(statement).sort());
    }
    const secretArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:eu-west-1:123456789012:secret:certrotate/*']] };
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']), Resource: secretArn }),
          Match.objectLike({ Action: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'], Resource: secretArn, Condition: { Null: { 'aws:RequestTag/certrotate:authority': 'false' } } }),
        ]),
      },
    });
    for (const statement of all) {
      for (const action of actionsOf(statement).filter((candidate) => candidate.startsWith('secretsmanager:') && !/List|BatchGet/.test(candidate))) {
        expect({ action, resource: statement.Resource }).toEqual({ action, resource: secretArn });
      }
      if (actionsOf(statement).some((action) => action.startsWith('dynamodb:'))) {
        expect(JSON.stringify(statement.Resource)).toMatch(/State/);
      }
    }
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role).not.toHaveProperty('Properties.ManagedPolicyArns');
    }
  });

  it('outputs the function names, the table, the secret prefix and a ready-to-run CLI command for every command', () => {
    const outputs = template.findOutputs('*');
    for (const name of ['ScanFunctionName', 'AdvanceFunctionName', 'CommandFunctionName']) {
      expect(String(at(outputs[name], 'Value', 'Ref'))).toMatch(/Function/);
    }
    expect(String(at(outputs['StateTableName'], 'Value', 'Ref'))).toMatch(/State/);
    expect(at(outputs['SecretPrefix'], 'Value')).toBe('certrotate');
    const text = (name: string) => JSON.stringify(outputs[name]?.['Value']);
    const expected: Record<string, string> = {
      StatusCommand: 'status', PlanCommand: 'plan', HistoryCommand: 'history cluster', RotateCaCommand: String.raw`rotate-ca cluster --reason \"planned rotation\"`,
      PauseCommand: String.raw`pause cluster --reason \"change freeze\"`, ResumeCommand: 'resume cluster', RollbackCommand: String.raw`rollback cluster --reason \"roll back\"`,
      RenewCommand: 'renew cluster kube-apiserver', CheckExpirationCommand: 'check-expiration', InspectCommand: 'inspect cluster/kube-apiserver',
    };
    for (const [name, args] of Object.entries(expected)) expect(text(name)).toContain(`npx certrotate ${args} --stack Test --region eu-west-1`);
    // No exports: nothing in another stack is tied to them.
    for (const output of Object.values(outputs)) expect(output).not.toHaveProperty('Export');
    // A second rotation in the same stack keeps its outputs apart with a prefix.
    const { stack } = build();
    new CertificateRotation(stack, 'Second', { config: sampleConfig, code: stub, outputPrefix: 'Second' });
    expect(Object.keys(Template.fromStack(stack).findOutputs('*'))).toEqual(expect.arrayContaining(['CommandFunctionName', 'SecondCommandFunctionName', 'SecondStatusCommand']));
  });

  it('keeps the logical id of every resource and output (a construct that moved would make CloudFormation replace it: a new table, a new key)', () => {
    // Pinned on purpose, unlike the assertions above: CloudFormation matches a deployed stack's resources by these names.
    const resources: unknown = template.toJSON()['Resources'];
    expect(typeof resources === 'object' && resources !== null ? Object.keys(resources).sort() : []).toEqual([
      'RotationAdvanceSchedule783F0685', 'RotationAlarms28B1DDA3', 'RotationAlarmsPolicyD6FDA918', 'RotationAlarmsopsexamplecomE6085CD8',
      'RotationDashboardD6E3280A', 'RotationDeadLetterAlarm937CDEC3', 'RotationEksAccessPlatformadvance57442C2D', 'RotationEksAccessPlatformcommand99CBE118',
      'RotationEksAccessPlatformscanB8A90F40', 'RotationFailures80E5FBCF', 'RotationFailuresAlarm902686B2', 'RotationFailuresPolicy5D24297A',
      'RotationKey3583D52E', 'RotationReconcileSchedule67510C97', 'RotationScanSchedule422F87E3', 'RotationSchedulerRoleCD4590ED',
      'RotationSchedulerRoleDefaultPolicyE45DF109', 'RotationStateCE26FD5F', 'RotationadvanceErrorsAlarm74AC7445', 'RotationadvanceFunctionDB43A09E',
      'RotationadvanceFunctionEventInvokeConfig69515679', 'RotationadvanceLogs8E8B5DCB', 'RotationadvanceRole26952F62',
      'RotationadvanceRoleDefaultPolicy75FE15C7', 'RotationclusterConsumersLaggingAlarmDE18EDC2', 'RotationclusterExpiryAlarm5575E50D',
      'RotationclusterStuckAlarm571D7CAE', 'RotationcommandErrorsAlarmFC4F1887', 'RotationcommandFunction098C8438', 'RotationcommandFunctionEventInvokeConfig2970EAB4',
      'RotationcommandLogs90494DF5', 'RotationcommandRole393C90D2', 'RotationcommandRoleDefaultPolicyC161E49A', 'RotationetcdExpiryAlarm4B02965B',
      'RotationetcdStuckAlarmECDB6DCF', 'RotationfrontproxyExpiryAlarm13D4F7E7', 'RotationfrontproxyStuckAlarm2F845B4C',
      'RotationscanErrorsAlarmD0CF1F1E', 'RotationscanFunctionD7B1F242', 'RotationscanFunctionEventInvokeConfig5F9A4023',
      'RotationscanLogsF0E367E3', 'RotationscanRoleB3195EE0', 'RotationscanRoleDefaultPolicyA14CDD34',
    ]);
    // Outputs have stable ids of their own (infra/parts/outputs.ts; `certrotate --stack` reads CommandFunctionName).
    // Changed on purpose from the path-derived ids (RotationCommandFunctionName0250D57F ...): renaming an output replaces no resource.
    expect(Object.keys(template.findOutputs('*')).sort()).toEqual([
      'AdvanceFunctionName', 'CheckExpirationCommand', 'CommandFunctionName', 'HistoryCommand', 'InspectCommand', 'PauseCommand', 'PlanCommand',
      'RenewCommand', 'ResumeCommand', 'RollbackCommand', 'RotateCaCommand', 'ScanFunctionName', 'SecretPrefix', 'StateTableName', 'StatusCommand',
    ]);
    const role = 'arn:aws:iam::123456789012:role/platform/certrotate-publisher';
    const withRole = synth({ config: sampleWithConsumers({ cluster: [{ clusterName: 'prod-eu', region: 'eu-west-1', roleArn: role, namespace: 'web', secretName: 'cluster-ca', content: 'bundle' }] }) }).template;
    expect(Object.keys(withRole.findResources('AWS::EKS::AccessEntry'))).toEqual(['RotationEksAccessProdEuRolePlatformCertrotatePublisher5E1FFB1BDE354930']);
  });

  it('refuses a configuration that does not validate, at synth time', () => {
    expect(() => synth({ config: { authorities: [{ name: 'cluster' }], leaves: [{ authority: 'etcd', id: 'x', subject: 'CN=x', usage: 'server', lifetimeDays: 1 }] } })).toThrow(ValidationError);
    expect(() => synth({ config: { authorities: [], leaves: [], typo: 1 } })).toThrow(/config\.typo: unknown key/);
  });

  it('passes cdk-nag AwsSolutionsChecks at synth with every finding fixed or acknowledged with a reason', () => {
    const { app, stack } = build();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
    const acknowledgements: [string, string][] = [];
    const visit = (construct: IConstruct) => {
      for (const entry of construct.node.metadata.filter((candidate) => candidate.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
        const data: unknown = entry.data;
        if (typeof data === 'object' && data !== null) {
          for (const [id, reason] of Object.entries(data)) acknowledgements.push([id, typeof reason === 'string' ? reason : '']);
        }
      }
      construct.node.children.forEach(visit);
    };
    visit(stack);
    expect(acknowledgements.map(([id]) => id.replace(/\[.*/, ''))).toEqual(expect.arrayContaining(['AwsSolutions::AwsSolutions-IAM5', 'AwsSolutions::AwsSolutions-L1', 'AwsSolutions::AwsSolutions-SQS3']));
    for (const [id, reason] of acknowledgements) expect(reason.length, id).toBeGreaterThan(40);
  });

  it('fails synth when cdk-nag finds something unacknowledged (the check above can fail)', () => {
    const { app, rotation } = build();
    rotation.functions.scan.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Action::s3:\*\]/);
  });
});

describe('the example app', () => {
  it('synthesizes offline without credentials: three esbuild bundles, each with the configuration file, and nothing unacknowledged by cdk-nag', async () => {
    const out = mkdtempSync(join(tmpdir(), 'certrotate-cdk-out-'));
    try {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, CDK_OUTDIR: out, AWS_EC2_METADATA_DISABLED: 'true' };
      await promisify(execFile)(join(PROJECT_ROOT, 'node_modules/.bin/tsx'), [join(PROJECT_ROOT, 'infra/app.ts')], { cwd: PROJECT_ROOT, env, timeout: 120_000 });
      const assets = readdirSync(out).filter((name) => name.startsWith('asset.') && statSync(join(out, name)).isDirectory());
      expect(assets).toHaveLength(3);
      for (const asset of assets) {
        expect(existsSync(join(out, asset, 'index.mjs'))).toBe(true);
        expect(JSON.parse(readFileSync(join(out, asset, 'certrotate.config.json'), 'utf8'))).toEqual(sampleConfig);
        // The target: at most 700 KB minified per function.
        expect(statSync(join(out, asset, 'index.mjs')).size).toBeLessThanOrEqual(700_000);
      }
      const template: unknown = JSON.parse(readFileSync(join(out, 'Certrotate.template.json'), 'utf8'));
      expect(JSON.stringify(template)).toContain('nodejs22.x');
      // The sample configuration's EKS consumer: one access entry per function role.
      expect(JSON.stringify(template).match(/"AWS::EKS::AccessEntry"/g)).toHaveLength(3);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
