/**
 * Exactly the IAM each configured AWS trust target needs, on every function role (scan and
 * advance publish; command reads back for status and plan):
 * - the bundle objects: s3:PutObject, s3:GetObject, s3:GetObjectVersion on each bucket/key;
 * - ELBv2 trust stores: ModifyTrustStore and GetTrustStoreCaCertificatesBundle on each configured
 *   ARN; for one certrotate creates (`createTrustStore`), those and CreateTrustStore on
 *   `truststore/<name>/*` (its id is made at creation). DescribeTrustStores on `*`: the Service
 *   Authorization Reference ("Actions, resources, and condition keys for Elastic Load Balancing
 *   V2") lists no resource type for it (a List/Read call over the account: "Describes all trust
 *   stores for the specified account", API reference), so a statement scoped to ARNs never
 *   matches it and every read-back would be denied;
 * - API Gateway domains: apigateway:GET and apigateway:PATCH on `/domainnames/<name>`;
 * - ACM: ImportCertificate and GetCertificate on each configured certificate
 *   ARN. For one certrotate creates (`createCertificate`): ImportCertificate and
 *   AddTagsToCertificate (ImportCertificate with Tags needs both) on `certificate/*` only with
 *   certrotate's tags in the request (aws:RequestTag: kind, this deployment's prefix; aws:TagKeys
 *   no others), since a certificate not created yet has no ARN to scope to; re-import, Describe,
 *   Get and Delete (a racing run's duplicate) only on certificates carrying those tags
 *   (aws:ResourceTag); ListTagsForCertificate on `certificate/*` (the lookup reads the tags of
 *   every imported certificate of the region: a tag condition would deny it the others'); and
 *   acm:ListCertificates on `*`: the Service Authorization Reference ("Actions, resources, and
 *   condition keys for AWS Certificate Manager") lists no resource type for it.
 */
import { ArnFormat, Aws, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ACM_CERTIFICATE_KIND, ACM_CERTIFICATE_TAGS, AWS_TRUST_KEYS, type AcmCertificateTarget } from '../../lib/config/aws-trust-targets.js';
import type { CertrotateConfig } from '../../lib/config/index.js';
import type { FunctionRole } from './functions.js';

const TRUST_STORE_ACTIONS = ['elasticloadbalancing:ModifyTrustStore', 'elasticloadbalancing:GetTrustStoreCaCertificatesBundle'];
const ACM_USE_ACTIONS = ['acm:ImportCertificate', 'acm:GetCertificate'];

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

/** The statements of ACM certificates certrotate creates (`createCertificate`), found again by their tags. */
function createdCertificateStatements(scope: Construct, created: readonly AcmCertificateTarget[], prefix: string): iam.PolicyStatement[] {
  if (created.length === 0) return [];
  const stack = Stack.of(scope);
  const regions = [...new Set(created.map((t) => t.region))].sort();
  const anyCertificate = regions.map((region) => stack.formatArn({ service: 'acm', region, resource: 'certificate', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME }));
  const ours = { [`aws:ResourceTag/${ACM_CERTIFICATE_TAGS.kind}`]: ACM_CERTIFICATE_KIND, [`aws:ResourceTag/${ACM_CERTIFICATE_TAGS.prefix}`]: prefix };
  return [
    new iam.PolicyStatement({
      sid: 'CreateTaggedAcmCertificates',
      actions: ['acm:ImportCertificate', 'acm:AddTagsToCertificate'],
      resources: anyCertificate,
      conditions: {
        StringEquals: { [`aws:RequestTag/${ACM_CERTIFICATE_TAGS.kind}`]: ACM_CERTIFICATE_KIND, [`aws:RequestTag/${ACM_CERTIFICATE_TAGS.prefix}`]: prefix },
        'ForAllValues:StringEquals': { 'aws:TagKeys': Object.values(ACM_CERTIFICATE_TAGS) },
        Null: { [`aws:RequestTag/${ACM_CERTIFICATE_TAGS.authority}`]: 'false', [`aws:RequestTag/${ACM_CERTIFICATE_TAGS.target}`]: 'false' },
      },
    }),
    new iam.PolicyStatement({ sid: 'UseTaggedAcmCertificates', actions: [...ACM_USE_ACTIONS, 'acm:DeleteCertificate'], resources: anyCertificate, conditions: { StringEquals: ours } }),
    new iam.PolicyStatement({ sid: 'FindTaggedAcmCertificates', actions: ['acm:ListTagsForCertificate'], resources: anyCertificate }),
    // ListCertificates has no resource type (Service Authorization Reference, ACM): only "*" matches it.
    new iam.PolicyStatement({ sid: 'ListAcmCertificates', actions: ['acm:ListCertificates'], resources: ['*'] }),
  ];
}

function statementsFor(scope: Construct, config: CertrotateConfig, prefix: string): iam.PolicyStatement[] {
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
  if (named.length + created.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: 'TrustStores', actions: TRUST_STORE_ACTIONS, resources: [...unique(named), ...unique(created)] }));
    // DescribeTrustStores has no resource type (Service Authorization Reference, ELBv2): only "*" matches it.
    statements.push(new iam.PolicyStatement({ sid: 'DescribeTrustStores', actions: ['elasticloadbalancing:DescribeTrustStores'], resources: ['*'] }));
  }
  if (created.length > 0) statements.push(new iam.PolicyStatement({ sid: 'CreateTrustStores', actions: ['elasticloadbalancing:CreateTrustStore'], resources: unique(created) }));
  if (domains.length > 0) {
    const arns = domains.map((t) => `arn:${Aws.PARTITION}:apigateway:${t.region}::/domainnames/${t.domainName}`);
    statements.push(new iam.PolicyStatement({ sid: 'ApiGatewayDomains', actions: ['apigateway:GET', 'apigateway:PATCH'], resources: unique(arns) }));
  }
  const configured = certificates.flatMap((t) => ('arn' in t.certificate ? [t.certificate.arn] : []));
  if (configured.length > 0) statements.push(new iam.PolicyStatement({ sid: 'AcmCertificates', actions: ACM_USE_ACTIONS, resources: unique(configured) }));
  statements.push(...createdCertificateStatements(scope, certificates.filter((t) => 'create' in t.certificate), prefix));
  return statements;
}

/** cdk-nag acknowledgements of the wildcards above, each with its reason. */
function acknowledgeWildcards(role: iam.IRole, config: CertrotateConfig, account: string): void {
  const consumers = config.authorities.map((a) => a.consumers);
  const stores = consumers.flatMap((c) => c?.elbv2TrustStores ?? []);
  for (const target of stores) {
    if (!('create' in target.trustStore)) continue;
    Validations.of(role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:elasticloadbalancing:${target.region}:${account}:truststore/${target.trustStore.create}/*]`,
      reason: `Trust store "${target.trustStore.create}" is created by certrotate and ELBv2 appends a generated id to its ARN; the wildcard covers that id only.`,
    });
  }
  const created = consumers.flatMap((c) => c?.acmCertificates ?? []).filter((t) => 'create' in t.certificate);
  const star = stores.length > 0 || created.length > 0;
  if (star) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      // One acknowledgement per finding id and role: this one also covers the list-only Secrets Manager actions of infra/parts/functions.ts.
      reason: 'Only list/read actions without resource-level permissions (Service Authorization Reference: no resource type, so "*" is the only resource that matches): secretsmanager:ListSecrets and BatchGetSecretValue (infra/parts/functions.ts), and here elasticloadbalancing:DescribeTrustStores and acm:ListCertificates.',
    });
  }
  for (const region of [...new Set(created.map((t) => t.region))]) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:acm:${region}:${account}:certificate/*]`,
      reason: 'ACM certificates certrotate creates (createCertificate) have no ARN before ImportCertificate: creating one requires certrotate\'s tags in the request (aws:RequestTag), every other write only on certificates carrying them (aws:ResourceTag); ListTagsForCertificate reads any certificate\'s tags to find them.',
    });
  }
}

export function awsTrustAccess(scope: Construct, config: CertrotateConfig, roles: readonly FunctionRole[], prefix = 'certrotate'): void {
  const statements = statementsFor(scope, config, prefix);
  if (statements.length === 0) return;
  const stack = Stack.of(scope);
  const accountForNag = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  for (const { role } of roles) {
    for (const statement of statements) role.addToPolicy(statement);
    acknowledgeWildcards(role, config, accountForNag);
  }
}
