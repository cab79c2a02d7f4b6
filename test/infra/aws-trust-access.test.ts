import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { CertificateRotation } from '../../infra/certificate-rotation.js';
import { withoutAwsTrustTargets } from '../../infra/parts/aws-trust-access.js';

const sampleConfig: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, 'infra/certrotate.config.json'), 'utf8'));
const stub = () => lambda.Code.fromInline('export const handler = async () => ({});');
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000';

function build(config: unknown) {
  const app = new App();
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  new CertificateRotation(stack, 'Rotation', { config, code: stub });
  return { app, stack };
}

type Statement = { Sid?: string; Action: string | string[]; Resource: unknown };

function statements(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const list = (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement;
    return list;
  });
}

const actions = (statement: Statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);
const AWS_TRUST_ACTIONS = /^(s3:|elasticloadbalancing:|apigateway:|acm:)/;

describe('IAM for AWS trust targets', () => {
  it('grants each function role exactly the actions each configured target needs, on its resources, only DescribeTrustStores on *', () => {
    const template = Template.fromStack(build(sampleConfig).stack);
    const granted = statements(template).filter((statement) => actions(statement).some((action) => AWS_TRUST_ACTIONS.test(action)));
    // Three function roles, six statements each.
    expect(granted).toHaveLength(18);
    // DescribeTrustStores has no resource type in the Service Authorization Reference: "*" is the only resource that matches it.
    const onStar = granted.filter((statement) => JSON.stringify(statement.Resource) === '"*"');
    expect(onStar.map((statement) => statement.Action)).toEqual(Array(3).fill('elasticloadbalancing:DescribeTrustStores'));
    const policy = (statement: Record<string, unknown>) =>
      template.resourcePropertiesCountIs('AWS::IAM::Policy', { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike(statement)]) } }, 3);
    policy({ Sid: 'TrustBundleObjects', Action: ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'], Resource: [
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::certrotate-trust-bundles/cluster/alb-clients.pem']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::certrotate-trust-bundles/cluster/api-clients.pem']] },
    ] });
    const createdStore = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':elasticloadbalancing:eu-west-1:123456789012:truststore/certrotate-clients/*']] };
    policy({ Sid: 'TrustStores', Action: ['elasticloadbalancing:ModifyTrustStore', 'elasticloadbalancing:GetTrustStoreCaCertificatesBundle'], Resource: createdStore });
    policy({ Sid: 'DescribeTrustStores', Action: 'elasticloadbalancing:DescribeTrustStores', Resource: '*' });
    policy({ Sid: 'CreateTrustStores', Action: 'elasticloadbalancing:CreateTrustStore', Resource: createdStore });
    policy({ Sid: 'ApiGatewayDomains', Action: ['apigateway:GET', 'apigateway:PATCH'], Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':apigateway:eu-west-1::/domainnames/api.example.com']] } });
    policy({ Sid: 'AcmCertificates', Action: ['acm:ImportCertificate', 'acm:GetCertificate'], Resource: CERTIFICATE_ARN });
  });

  it('grants a configured trust store ARN exactly, with no CreateTrustStore and no wildcard', () => {
    const document = structuredClone(sampleConfig) as { authorities: { consumers?: Record<string, unknown> }[] };
    const arn = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:truststore/clients/0123456789abcdef';
    const consumers = document.authorities[0]?.consumers ?? {};
    consumers['elbv2TrustStores'] = [{ region: 'eu-west-1', bucket: 'b-1', key: 'k.pem', trustStoreArn: arn }];
    const all = statements(Template.fromStack(build(document).stack));
    expect(all.filter((s) => s.Sid === 'TrustStores').map((s) => s.Resource)).toEqual([arn, arn, arn]);
    expect(all.filter((s) => actions(s).includes('elasticloadbalancing:CreateTrustStore'))).toEqual([]);
  });

  it('lets a certificate certrotate creates be imported only with its tags, and touched only when it carries them', () => {
    const document = structuredClone(sampleConfig) as { authorities: { consumers?: Record<string, unknown> }[] };
    const consumers = document.authorities[0]?.consumers ?? {};
    const acm = consumers['acmCertificates'] as Array<Record<string, unknown>>;
    consumers['acmCertificates'] = acm.map(({ certificateArn: _arn, ...rest }) => ({ ...rest, createCertificate: 'web-listener' }));
    const { app, stack } = build(document);
    const template = Template.fromStack(stack);
    const anyCertificate = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':acm:eu-west-1:123456789012:certificate/*']] };
    const policy = (statement: Record<string, unknown>) =>
      template.resourcePropertiesCountIs('AWS::IAM::Policy', { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike(statement)]) } }, 3);
    policy({
      Sid: 'CreateTaggedAcmCertificates',
      Action: ['acm:ImportCertificate', 'acm:AddTagsToCertificate'],
      Resource: anyCertificate,
      Condition: {
        StringEquals: { 'aws:RequestTag/certrotate:kind': 'acm-certificate', 'aws:RequestTag/certrotate:prefix': 'certrotate' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['certrotate:kind', 'certrotate:prefix', 'certrotate:authority', 'certrotate:target', 'certrotate:created'] },
        Null: { 'aws:RequestTag/certrotate:authority': 'false', 'aws:RequestTag/certrotate:target': 'false' },
      },
    });
    policy({
      Sid: 'UseTaggedAcmCertificates',
      Action: ['acm:ImportCertificate', 'acm:GetCertificate', 'acm:DeleteCertificate'],
      Resource: anyCertificate,
      Condition: { StringEquals: { 'aws:ResourceTag/certrotate:kind': 'acm-certificate', 'aws:ResourceTag/certrotate:prefix': 'certrotate' } },
    });
    policy({ Sid: 'FindTaggedAcmCertificates', Action: 'acm:ListTagsForCertificate', Resource: anyCertificate });
    policy({ Sid: 'ListAcmCertificates', Action: 'acm:ListCertificates', Resource: '*' });
    expect(statements(template).filter((s) => s.Sid === 'AcmCertificates')).toEqual([]);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });

  it('grants nothing of the kind when the targets are left out (-c awsTrustTargets=false)', () => {
    const all = statements(Template.fromStack(build(withoutAwsTrustTargets(sampleConfig)).stack));
    expect(all.filter((statement) => actions(statement).some((action) => AWS_TRUST_ACTIONS.test(action)))).toEqual([]);
  });

  it('passes cdk-nag with the created trust store\'s id wildcard acknowledged with a reason', () => {
    const { app } = build(sampleConfig);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});
