/** The KMS side of the construct: what the functions may do with CA keys, and each key's policy. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { CertificateRotation } from '../../infra/certificate-rotation.js';

const sampleConfig: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, 'infra/certrotate.config.json'), 'utf8'));
const stub = () => lambda.Code.fromInline('export const handler = async () => ({});');

function synth(secretPrefix?: string) {
  const stack = new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  new CertificateRotation(stack, 'Rotation', { config: sampleConfig, code: stub, ...(secretPrefix === undefined ? {} : { secretPrefix }) });
  return { stack, template: Template.fromStack(stack) };
}

type Json = Record<string, unknown>;

function kmsStatements(template: Template): Json[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy: Json) => {
    const document = (policy['Properties'] as Json)['PolicyDocument'] as { Statement: Json[] };
    return document.Statement.filter((statement) => JSON.stringify(statement['Action']).includes('kms:') && typeof statement['Sid'] === 'string' && /CaKeys/.test(String(statement['Sid'])));
  });
}

describe('CA keys in KMS (infra/parts/ca-keys.ts)', () => {
  const { stack, template } = synth();

  it('lets each function create a key only as an asymmetric signing key with exactly certrotate\'s tags', () => {
    const create = kmsStatements(template).filter((statement) => statement['Sid'] === 'CreateTaggedCaKeys');
    expect(create).toHaveLength(3);
    for (const statement of create) {
      expect(statement).toMatchObject({
        Action: ['kms:CreateKey', 'kms:TagResource'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:RequestTag/certrotate:kind': 'ca-key', 'aws:RequestTag/certrotate:prefix': 'certrotate', 'kms:KeyUsage': 'SIGN_VERIFY' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['certrotate:kind', 'certrotate:prefix', 'certrotate:authority', 'certrotate:generation'] },
          Null: { 'aws:RequestTag/certrotate:authority': 'false', 'aws:RequestTag/certrotate:generation': 'false' },
        },
      });
    }
  });

  it('lets the functions sign, read, disable and schedule deletion only of keys tagged for this deployment, and name them only under its alias prefix', () => {
    const use = kmsStatements(template).filter((statement) => statement['Sid'] === 'UseTaggedCaKeys');
    expect(use).toHaveLength(3);
    for (const statement of use) {
      expect(statement['Action']).toEqual(expect.arrayContaining(['kms:Sign', 'kms:GetPublicKey', 'kms:DescribeKey', 'kms:DisableKey', 'kms:ScheduleKeyDeletion']));
      expect(JSON.stringify(statement['Resource'])).toContain(':kms:eu-west-1:123456789012:key/*');
      expect(statement['Condition']).toEqual({ StringEquals: { 'aws:ResourceTag/certrotate:kind': 'ca-key', 'aws:ResourceTag/certrotate:prefix': 'certrotate' } });
    }
    for (const statement of kmsStatements(template).filter((candidate) => candidate['Sid'] === 'NameCaKeys')) {
      expect(JSON.stringify(statement['Resource'])).toContain(':kms:eu-west-1:123456789012:alias/certrotate/*');
    }
    const other = synth('payments/pki').template;
    expect(JSON.stringify(kmsStatements(other))).toContain('alias/payments/pki/*');
  });

  it('creates each key with a policy under which only the three function roles can sign, and the account administers but cannot sign', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions)).toHaveLength(3);
    for (const fn of Object.values(functions)) {
      const raw: unknown = ((fn['Properties'] as Json)['Environment'] as { Variables: Json }).Variables['CERTROTATE_CA_KEY_POLICY'];
      const policy = JSON.parse(JSON.stringify(stack.resolve(raw))) as unknown;
      const text = JSON.stringify(policy);
      // Rendered with Fn::Join around the role ARNs; its literal parts name the statements and actions.
      expect(text).toContain('AccountAdministersButCannotSign');
      expect(text).toContain('CertrotateFunctionsSign');
      const admin = text.slice(text.indexOf('AccountAdministersButCannotSign'), text.indexOf('CertrotateFunctionsSign'));
      expect(admin).toContain('kms:PutKeyPolicy');
      expect(admin).not.toContain('kms:Sign"');
      expect(admin).not.toContain('kms:*');
      expect(admin).toContain(':iam::123456789012:root');
      const roles = text.slice(text.indexOf('CertrotateFunctionsSign'));
      expect(roles.match(/"Fn::GetAtt":\["Rotation(scan|advance|command)Role[0-9A-F]*","Arn"\]/g)).toHaveLength(3);
      expect(roles).toContain('kms:Sign');
    }
  });

  it('refuses at synth a prefix that cannot name KMS aliases when an authority keeps its keys in KMS', () => {
    expect(() => synth('certrotate.prod')).toThrow(/alias\/<prefix>/);
  });

  it('counts an authority that names no caKeyStore as keeping its keys in KMS (the default), and only all-secret authorities free the prefix', () => {
    const synthWith = (caKeyStores: Array<'kms' | 'secret' | undefined>) => {
      const config = {
        authorities: caKeyStores.map((caKeyStore, index) => ({ name: `ca-${index}`, ...(caKeyStore === undefined ? {} : { caKeyStore }) })),
        leaves: caKeyStores.map((_, index) => ({ authority: `ca-${index}`, id: `leaf-${index}`, subject: `CN=leaf-${index}`, usage: 'server', lifetimeDays: 7 })),
      };
      const stack = new Stack(new App(), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
      new CertificateRotation(stack, 'Rotation', { config, code: stub, secretPrefix: 'certrotate.prod' });
    };
    expect(() => synthWith([undefined])).toThrow(/alias\/<prefix>/);
    expect(() => synthWith(['secret', undefined])).toThrow(/alias\/<prefix>/);
    expect(() => synthWith(['secret', 'secret'])).not.toThrow();
  });

  it('keeps the KMS SDK out of the function bundles, to be loaded on first use', async () => {
    const { ESBUILD_OPTIONS } = await import('../../infra/bundling.js');
    expect(ESBUILD_OPTIONS.external).toContain('@aws-sdk/client-kms');
    template.hasResourceProperties('AWS::IAM::Policy', { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'FindCaKeys', Action: ['kms:ListKeys', 'kms:ListAliases'], Resource: '*' })]) } });
  });
});
