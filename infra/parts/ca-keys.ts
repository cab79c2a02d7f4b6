/**
 * The CA keys that never leave KMS (caKeyStore `kms`): what the functions may do with KMS, and the
 * key policy each new CA key is created with.
 *
 * IAM (each function role):
 * - kms:CreateKey (and the kms:TagResource it needs for its tags) only for an asymmetric
 *   SIGN_VERIFY key carrying exactly certrotate's tags (`certrotate:kind` = `ca-key`,
 *   `certrotate:prefix` = the deployment's prefix, and an authority and a generation), with the
 *   key policy below (the lockout check is bypassed on purpose: the functions must not be able to
 *   rewrite a key's policy; the account keeps that right).
 * - kms:Sign, GetPublicKey, DescribeKey, DisableKey, ScheduleKeyDeletion, ListResourceTags and
 *   CreateAlias only on keys tagged `certrotate:kind` = `ca-key` and this prefix.
 * - kms:CreateAlias / DeleteAlias only on `alias/<prefix>/*`.
 * - kms:ListKeys and ListAliases (no resource-level permissions; read-only): to find a key a run
 *   created and then died before naming.
 *
 * Key policy (set at CreateKey, passed to the functions as CERTROTATE_CA_KEY_POLICY): the account
 * administers the key (describe, disable, enable, schedule or cancel deletion, tag, change the
 * policy) but cannot sign with it; the three function roles sign with it. Nobody else can sign.
 */
import { ArnFormat, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { CA_KEY_KIND, CA_KEY_TAGS } from '../../lib/ca-key-names.js';
import { ENV } from '../../lib/handlers/env.js';
import type { FunctionRole } from './functions.js';

/** What the account (its administrators, through IAM) may do with a CA key: everything but use it. */
export const CA_KEY_ADMIN_ACTIONS = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:GetPublicKey',
  'kms:ListAliases',
  'kms:ListResourceTags',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:PutKeyPolicy',
  'kms:UpdateKeyDescription',
  'kms:CreateAlias',
  'kms:DeleteAlias',
];

/** What the functions may do with a CA key. */
export const CA_KEY_USE_ACTIONS = ['kms:Sign', 'kms:GetPublicKey', 'kms:DescribeKey', 'kms:DisableKey', 'kms:ScheduleKeyDeletion', 'kms:ListResourceTags', 'kms:CreateAlias'];

/** The key policy of every new CA key, as a document (tokens resolve at deploy time). */
export function caKeyPolicy(scope: Construct, roles: readonly iam.IRole[]): Record<string, unknown> {
  const stack = Stack.of(scope);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AccountAdministersButCannotSign',
        Effect: 'Allow',
        Principal: { AWS: stack.formatArn({ service: 'iam', region: '', resource: 'root', arnFormat: ArnFormat.NO_RESOURCE_NAME }) },
        Action: CA_KEY_ADMIN_ACTIONS,
        Resource: '*',
      },
      {
        Sid: 'CertrotateFunctionsSign',
        Effect: 'Allow',
        Principal: { AWS: roles.map((role) => role.roleArn) },
        Action: CA_KEY_USE_ACTIONS,
        Resource: '*',
      },
    ],
  };
}

function caKeyStatements(scope: Construct, prefix: string): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const keys = stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
  const aliases = stack.formatArn({ service: 'kms', resource: 'alias', resourceName: `${prefix}/*` });
  return [
    new iam.PolicyStatement({
      sid: 'CreateTaggedCaKeys',
      actions: ['kms:CreateKey', 'kms:TagResource'],
      resources: ['*'],
      conditions: {
        StringEquals: {
          [`aws:RequestTag/${CA_KEY_TAGS.kind}`]: CA_KEY_KIND,
          [`aws:RequestTag/${CA_KEY_TAGS.prefix}`]: prefix,
          'kms:KeyUsage': 'SIGN_VERIFY',
        },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [CA_KEY_TAGS.kind, CA_KEY_TAGS.prefix, CA_KEY_TAGS.authority, CA_KEY_TAGS.generation] },
        Null: { [`aws:RequestTag/${CA_KEY_TAGS.authority}`]: 'false', [`aws:RequestTag/${CA_KEY_TAGS.generation}`]: 'false' },
      },
    }),
    new iam.PolicyStatement({
      sid: 'UseTaggedCaKeys',
      actions: CA_KEY_USE_ACTIONS,
      resources: [keys],
      conditions: { StringEquals: { [`aws:ResourceTag/${CA_KEY_TAGS.kind}`]: CA_KEY_KIND, [`aws:ResourceTag/${CA_KEY_TAGS.prefix}`]: prefix } },
    }),
    new iam.PolicyStatement({ sid: 'NameCaKeys', actions: ['kms:CreateAlias', 'kms:DeleteAlias'], resources: [aliases] }),
    new iam.PolicyStatement({ sid: 'FindCaKeys', actions: ['kms:ListKeys', 'kms:ListAliases'], resources: ['*'] }),
  ];
}

/**
 * Grants the function roles the CA-key statements and gives every function the key policy.
 * `usesKms`: some authority resolves to caKeyStore `kms` (caKeyStoreOf: absent means `kms`).
 */
export function caKeys(scope: Construct, options: { functions: readonly lambda.Function[]; roles: readonly FunctionRole[]; secretPrefix: string; usesKms: boolean }): void {
  // KMS alias names allow fewer characters than secret names: refuse at synth what CreateAlias would.
  if (options.usesKms && !/^[A-Za-z0-9/_-]+$/.test(options.secretPrefix)) {
    throw new Error(`secretPrefix "${options.secretPrefix}" names the CA keys' aliases (alias/<prefix>/...), which allow only letters, digits, / _ -: choose another prefix, or set "caKeyStore": "secret" on every authority (an absent caKeyStore means "kms")`);
  }
  const stack = Stack.of(scope);
  const policy = stack.toJsonString(caKeyPolicy(scope, options.roles.map((entry) => entry.role)));
  for (const { role } of options.roles) {
    for (const statement of caKeyStatements(scope, options.secretPrefix)) role.addToPolicy(statement);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
    Validations.of(role).acknowledge(
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${region}:${account}:key/*]`,
        reason: 'CA keys are created at run time, one per CA generation; every action on them is conditioned on the key carrying certrotate\'s ca-key tag and this deployment\'s prefix (aws:ResourceTag).',
      },
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${region}:${account}:alias/${options.secretPrefix}/*]`,
        reason: `Aliases name CA keys per generation at run time; limited to this deployment's alias prefix "alias/${options.secretPrefix}/".`,
      },
    );
  }
  for (const fn of options.functions) fn.addEnvironment(ENV.caKeyPolicy, policy);
}
