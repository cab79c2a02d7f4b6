import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { CertificateRotation } from '../../infra/certificate-rotation.js';
import { PROJECT_ROOT } from '../../infra/bundling.js';

const config: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, 'infra/certrotate.config.json'), 'utf8'));
const stub = () => lambda.Code.fromInline('export const handler = async () => ({});');

function build() {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const rotation = new CertificateRotation(stack, 'Rotation', { config, code: stub });
  const role = new iam.Role(stack, 'WorkloadRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  return { app, stack, rotation, role };
}

const arn = (name: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:eu-west-1:123456789012:secret:${name}-??????`]] });

/** The statements of the policy attached to the workload role. */
function workloadStatements(template: Template): unknown[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^WorkloadRole') }] } }));
  expect(policies).toHaveLength(1);
  return (policies[0] as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement;
}

function keyArn(template: Template): unknown {
  const [keyId] = Object.keys(template.findResources('AWS::KMS::Key'));
  return { 'Fn::GetAtt': [keyId, 'Arn'] };
}

describe('CertificateRotation grants for workloads', () => {
  it('grantReadLeaf: read and describe that one leaf secret, and decrypt only through Secrets Manager for that secret', () => {
    const { stack, rotation, role } = build();
    rotation.grantReadLeaf(role, 'cluster', 'kube-apiserver');
    const template = Template.fromStack(stack);
    const secret = arn('certrotate/cluster/leaf/kube-apiserver');
    expect(workloadStatements(template)).toEqual([
      { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: secret },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: keyArn(template),
        Condition: {
          StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] } },
          StringLike: { 'kms:EncryptionContext:SecretARN': secret },
        },
      },
    ]);
  });

  it('grantReadBundle: the authority bundle secret only, with the secret prefix the construct was given', () => {
    const app = new App();
    const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
    const rotation = new CertificateRotation(stack, 'Rotation', { config, code: stub, secretPrefix: 'pki/prod' });
    const fn = new lambda.Function(stack, 'Reader', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: stub() });
    rotation.grantReadBundle(fn, 'etcd');
    const template = Template.fromStack(stack);
    const statements = JSON.stringify(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^ReaderServiceRole') }] } }));
    expect(statements).toContain(JSON.stringify(arn('pki/prod/etcd/bundle')));
    expect(statements).not.toMatch(/leaf|cluster|secret:pki\/prod\/\*/);
  });

  it('an ECS task definition gets exactly its leaf, and the stack stays cdk-nag clean', () => {
    const { app, stack, rotation } = build();
    const task = new ecs.FargateTaskDefinition(stack, 'Task');
    rotation.grantReadLeaf(task.taskRole, 'etcd', 'etcd-0');
    rotation.grantReadBundle(task.taskRole, 'etcd');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // The task definition's own findings (no container, no logging) are not about the grant.
    Validations.of(task).acknowledge(
      { id: 'AwsSolutions::AwsSolutions-ECS2', reason: 'test fixture: a bare task definition that only carries the granted task role' },
      { id: 'AwsSolutions::AwsSolutions-ECS4', reason: 'test fixture: a bare task definition that only carries the granted task role' },
    );
    expect(() => app.synth()).not.toThrow();
    const text = JSON.stringify(Template.fromStack(stack).findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^TaskTaskRole') }] } }));
    expect(text).toContain('certrotate/etcd/leaf/etcd-0-??????');
    expect(text).toContain('certrotate/etcd/bundle-??????');
    expect(text).not.toContain('"*"');
  });

  it('refuses at synth an authority or leaf the configuration does not know, naming what it knows', () => {
    const { rotation, role } = build();
    expect(() => rotation.grantReadLeaf(role, 'clustr', 'kube-apiserver')).toThrow('certrotate: no authority "clustr" in the configuration (its authorities: cluster, etcd, front-proxy)');
    expect(() => rotation.grantReadLeaf(role, 'etcd', 'kube-apiserver')).toThrow(/^certrotate: no leaf "kube-apiserver" of authority "etcd" in the configuration \(its leaves: etcd-0, /);
    expect(() => rotation.grantReadBundle(role, 'nope')).toThrow(/no authority "nope"/);
  });
});

describe('the functions and EventBridge', () => {
  it('may put events on the default bus only', () => {
    const { stack } = build();
    const template = Template.fromStack(stack);
    const bus = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':events:eu-west-1:123456789012:event-bus/default']] };
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } }[];
    const puts = policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement).filter((statement) => [statement.Action].flat().some((action) => action.startsWith('events:')));
    expect(puts).toHaveLength(3);
    for (const statement of puts) expect(statement).toMatchObject({ Action: 'events:PutEvents', Resource: bus });
  });
});
