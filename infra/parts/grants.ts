/**
 * Access for the workloads that read what certrotate writes: a leaf's secret or an authority's
 * bundle secret. Each grant is exactly that secret's read (GetSecretValue, DescribeSecret on its
 * ARN: the name and Secrets Manager's six-character suffix) and kms:Decrypt on the certrotate key
 * only through Secrets Manager and only for that secret (Secrets Manager encrypts each secret
 * with the encryption context `SecretARN`). A name the configuration does not know is an error at
 * synth, naming what it does know.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { CertrotateConfig } from '../../lib/config/index.js';

export interface SecretGrantContext {
  scope: Construct;
  config: CertrotateConfig;
  key: kms.IKey;
  secretPrefix: string;
}

/** The ARN of the secret of this name (any version of it), as IAM matches it. */
export function secretArnPattern(scope: Construct, secretName: string): string {
  return Stack.of(scope).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${secretName}-??????`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
}

function grantSecretRead(context: SecretGrantContext, grantee: iam.IGrantable, secretName: string): iam.Grant {
  const stack = Stack.of(context.scope);
  const secretArn = secretArnPattern(context.scope, secretName);
  const read = iam.Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], resourceArns: [secretArn] });
  const decrypt = iam.Grant.addToPrincipal({
    grantee,
    actions: ['kms:Decrypt'],
    resourceArns: [context.key.keyArn],
    conditions: {
      StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.${stack.urlSuffix}` },
      StringLike: { 'kms:EncryptionContext:SecretARN': secretArn },
    },
  });
  return read.combine(decrypt);
}

function knownAuthority(config: CertrotateConfig, authority: string): void {
  if (config.authorities.some((candidate) => candidate.name === authority)) return;
  throw new Error(`certrotate: no authority "${authority}" in the configuration (its authorities: ${config.authorities.map((candidate) => candidate.name).join(', ')})`);
}

/** Read access to `<prefix>/<authority>/leaf/<leafId>` (tls.crt, tls.key, ca.crt). */
export function grantReadLeaf(context: SecretGrantContext, grantee: iam.IGrantable, authority: string, leafId: string): iam.Grant {
  knownAuthority(context.config, authority);
  const leaves = context.config.leaves.filter((leaf) => leaf.authority === authority);
  if (!leaves.some((leaf) => leaf.id === leafId)) {
    const known = leaves.map((leaf) => leaf.id);
    throw new Error(`certrotate: no leaf "${leafId}" of authority "${authority}" in the configuration (its leaves: ${known.slice(0, 20).join(', ')}${known.length > 20 ? `, and ${known.length - 20} more` : ''})`);
  }
  return grantSecretRead(context, grantee, `${context.secretPrefix}/${authority}/leaf/${leafId}`);
}

/** Read access to `<prefix>/<authority>/bundle` (ca.crt: the trust bundle). */
export function grantReadBundle(context: SecretGrantContext, grantee: iam.IGrantable, authority: string): iam.Grant {
  knownAuthority(context.config, authority);
  return grantSecretRead(context, grantee, `${context.secretPrefix}/${authority}/bundle`);
}
