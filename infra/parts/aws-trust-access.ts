/**
 * Exactly the IAM each configured AWS trust target needs, on every function role (scan and
 * advance publish; command reads back for status and plan), nothing on `*`:
 * - the bundle objects: s3:PutObject, s3:GetObject, s3:GetObjectVersion on each bucket/key;
 * - ELBv2 trust stores: ModifyTrustStore, DescribeTrustStores, GetTrustStoreCaCertificatesBundle on
 *   each configured ARN; for one certrotate creates (`createTrustStore`), those and
 *   CreateTrustStore on `truststore/<name>/*` (its id is made at creation);
 * - API Gateway domains: apigateway:GET and apigateway:PATCH on `/domainnames/<name>`;
 * - ACM: ImportCertificate, DescribeCertificate, GetCertificate on each certificate ARN.
 */
import { ArnFormat, Aws, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { AWS_TRUST_KEYS } from '../../lib/config/aws-trust-targets.js';
import type { CertrotateConfig } from '../../lib/config/index.js';
import type { FunctionRole } from './functions.js';

const TRUST_STORE_ACTIONS = ['elasticloadbalancing:ModifyTrustStore', 'elasticloadbalancing:DescribeTrustStores', 'elasticloadbalancing:GetTrustStoreCaCertificatesBundle'];

/** The configuration document without AWS trust targets (the example app's `-c awsTrustTargets=false`). */
export function withoutAwsTrustTargets(document: unknown): unknown {
  const copy: unknown = structuredClone(document);
  const authorities = typeof copy === 'object' && copy !== null ? (copy as { authorities?: unknown }).authorities : undefined;
  for (const authority of Array.isArray(authorities) ? (authorities as unknown[]) : []) {
    const consumers = typeof authority === 'object' && authority !== null ? (authority as { consumers?: unknown }).consumers : undefined;
    if (typeof consumers !== 'object' || consumers === null) continue;
    for (const key of AWS_TRUST_KEYS) Reflect.deleteProperty(consumers, key);
  }
  return copy;
}

function statementsFor(scope: Construct, config: CertrotateConfig): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const targets = config.authorities.map((authority) => authority.consumers ?? { eks: [] });
  const stores = targets.flatMap((t) => t.elbv2TrustStores ?? []);
  const domains = targets.flatMap((t) => t.apiGatewayDomains ?? []);
  const certificates = targets.flatMap((t) => t.acmCertificates ?? []);
  const objects = [...stores, ...domains].map((t) => `arn:${Aws.PARTITION}:s3:::${t.bucket}/${t.key}`);
  const created = stores.flatMap((t) => ('create' in t.trustStore ? [stack.formatArn({ service: 'elasticloadbalancing', region: t.region, resource: 'truststore', resourceName: `${t.trustStore.create}/*`, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })] : []));
  const named = stores.flatMap((t) => ('arn' in t.trustStore ? [t.trustStore.arn] : []));
  const statements: iam.PolicyStatement[] = [];
  const unique = (values: string[]) => [...new Set(values)].sort();
  if (objects.length > 0) statements.push(new iam.PolicyStatement({ sid: 'TrustBundleObjects', actions: ['s3:PutObject', 's3:GetObject', 's3:GetObjectVersion'], resources: unique(objects) }));
  if (named.length + created.length > 0) statements.push(new iam.PolicyStatement({ sid: 'TrustStores', actions: TRUST_STORE_ACTIONS, resources: [...unique(named), ...unique(created)] }));
  if (created.length > 0) statements.push(new iam.PolicyStatement({ sid: 'CreateTrustStores', actions: ['elasticloadbalancing:CreateTrustStore'], resources: unique(created) }));
  if (domains.length > 0) {
    const arns = domains.map((t) => `arn:${Aws.PARTITION}:apigateway:${t.region}::/domainnames/${t.domainName}`);
    statements.push(new iam.PolicyStatement({ sid: 'ApiGatewayDomains', actions: ['apigateway:GET', 'apigateway:PATCH'], resources: unique(arns) }));
  }
  if (certificates.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: 'AcmCertificates', actions: ['acm:ImportCertificate', 'acm:DescribeCertificate', 'acm:GetCertificate'], resources: unique(certificates.map((t) => t.certificateArn)) }));
  }
  return statements;
}

export function awsTrustAccess(scope: Construct, config: CertrotateConfig, roles: readonly FunctionRole[]): void {
  const statements = statementsFor(scope, config);
  if (statements.length === 0) return;
  const stack = Stack.of(scope);
  const accountForNag = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  for (const { role } of roles) {
    for (const statement of statements) role.addToPolicy(statement);
    for (const target of config.authorities.flatMap((a) => a.consumers?.elbv2TrustStores ?? [])) {
      if (!('create' in target.trustStore)) continue;
      Validations.of(role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:${target.region}:${accountForNag}:truststore/${target.trustStore.create}/*]`,
        reason: `Trust store "${target.trustStore.create}" is created by certrotate and ELBv2 appends a generated id to its ARN; the wildcard covers that id only.`,
      });
    }
  }
}
