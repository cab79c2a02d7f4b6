import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { CertificateRotation } from '../../infra/certificate-rotation.js';
import { PROJECT_ROOT } from '../../infra/bundling.js';

const sample = JSON.parse(readFileSync(join(PROJECT_ROOT, 'infra/certrotate.config.json'), 'utf8')) as { authorities: Array<Record<string, unknown>> };
const stub = () => lambda.Code.fromInline('export const handler = async () => ({});');

/** The sample configuration with `etcd` (or none) on leafStore s3. */
function configWith(onS3: string[]): unknown {
  const document = structuredClone(sample);
  for (const authority of document.authorities) if (onS3.includes(String(authority.name))) authority.leafStore = 's3';
  return document;
}

function build(onS3: string[], nag = false) {
  const app = new App();
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const rotation = new CertificateRotation(stack, 'Rotation', { config: configWith(onS3), code: stub });
  const workload = new iam.Role(stack, 'WorkloadRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  return { app, stack, rotation, workload };
}

function only<T>(values: T[]): T {
  expect(values).toHaveLength(1);
  return values[0] as T;
}

type Statement = { Sid?: string; Action: unknown; Resource: unknown; Condition?: unknown };
function roleStatements(template: Template, rolePattern: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp(rolePattern) }] } })) as Array<{ Properties: { PolicyDocument: { Statement: Statement[] } } }>;
  return policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement);
}

const objects = (bucketId: string, key: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${key}`]] });

describe('the leaf bucket (leafStore s3)', () => {
  it('is created only when an authority uses s3: versioned, public access blocked, TLS only, SSE-KMS with the certrotate key and a Bucket Key, retained', () => {
    const { stack } = build(['etcd']);
    const template = Template.fromStack(stack);
    const keyId = only(Object.keys(template.findResources('AWS::KMS::Key')));
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] } } }],
        },
        LifecycleConfiguration: { Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 1 }, Status: 'Enabled' })] },
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    const without = Template.fromStack(build([]).stack);
    without.resourceCountIs('AWS::S3::Bucket', 0);
    expect(JSON.stringify(without.toJSON())).not.toContain('CERTROTATE_LEAF_BUCKET');
  });

  it('gives every function role GetObject on each authority\'s leaf keys, PutObject on the s3 authorities\' only, ListBucket, and the bucket name', () => {
    const { stack } = build(['etcd']);
    const template = Template.fromStack(stack);
    const bucketId = only(Object.keys(template.findResources('AWS::S3::Bucket')));
    for (const fn of ['scan', 'advance', 'command']) {
      const statements = roleStatements(template, `^Rotation${fn}Role`);
      expect(statements.filter((s) => /Leaf/.test(s.Sid ?? ''))).toEqual([
        { Sid: 'ReadLeafObjects', Effect: 'Allow', Action: 's3:GetObject', Resource: ['cluster', 'etcd', 'front-proxy'].map((a) => objects(bucketId, `certrotate/${a}/leaf/*`)) },
        { Sid: 'WriteLeafObjects', Effect: 'Allow', Action: 's3:PutObject', Resource: objects(bucketId, 'certrotate/etcd/leaf/*') },
        { Sid: 'ListLeafObjects', Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] } },
      ]);
    }
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ CERTROTATE_LEAF_BUCKET: { Ref: bucketId } }) } }, 3);
  });

  it('grantReadLeaf of an s3 authority\'s leaf: GetObject on that one key, kms:Decrypt only through S3 for this bucket; a secretsmanager leaf keeps its secret grant', () => {
    const { stack, rotation, workload } = build(['etcd']);
    rotation.grantReadLeaf(workload, 'etcd', 'etcd-0');
    rotation.grantReadLeaf(workload, 'cluster', 'kube-apiserver');
    const template = Template.fromStack(stack);
    const bucketId = only(Object.keys(template.findResources('AWS::S3::Bucket')));
    const keyId = only(Object.keys(template.findResources('AWS::KMS::Key')));
    const statements = roleStatements(template, '^WorkloadRole');
    expect(statements.slice(0, 2)).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects(bucketId, 'certrotate/etcd/leaf/etcd-0') },
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] }, 'kms:EncryptionContext:aws:s3:arn': { 'Fn::GetAtt': [bucketId, 'Arn'] } } },
      },
    ]);
    expect(statements.slice(2).map((s) => s.Action)).toEqual([['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], 'kms:Decrypt']);
  });

  it('names the bucket in a stable LeafBucketName output (no export) only when it exists', () => {
    const template = Template.fromStack(build(['etcd']).stack);
    const bucketId = only(Object.keys(template.findResources('AWS::S3::Bucket')));
    const outputs = template.findOutputs('*');
    expect(outputs['LeafBucketName']?.['Value']).toEqual({ Ref: bucketId });
    expect(String(outputs['LeafBucketName']?.['Description'])).toMatch(/leaf bucket/);
    expect(outputs['LeafBucketName']).not.toHaveProperty('Export');
    expect(Object.keys(Template.fromStack(build([]).stack).findOutputs('*'))).not.toContain('LeafBucketName');
    // A second rotation in the same stack prefixes it, as every other output.
    const { stack } = build(['etcd']);
    new CertificateRotation(stack, 'Second', { config: configWith(['cluster']), code: stub, outputPrefix: 'Second' });
    expect(Object.keys(Template.fromStack(stack).findOutputs('*'))).toEqual(expect.arrayContaining(['LeafBucketName', 'SecondLeafBucketName']));
  });

  it('leaves nothing unacknowledged by cdk-nag', () => {
    const { app, rotation, workload } = build(['etcd', 'front-proxy'], true);
    rotation.grantReadLeaf(workload, 'etcd', 'etcd-0');
    expect(() => app.synth()).not.toThrow();
  });
});
