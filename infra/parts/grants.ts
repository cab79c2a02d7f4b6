/**
 * Access for the workloads that read what certrotate writes: a leaf's secret or an authority's
 * bundle secret. Each grant is exactly that secret's read (GetSecretValue, DescribeSecret on its
 * ARN: the name and Secrets Manager's six-character suffix) and kms:Decrypt on the certrotate key
 * only through Secrets Manager and only for that secret (Secrets Manager encrypts each secret
 * with the encryption context `SecretARN`). A name the configuration does not know is an error at
 * synth, naming what it does know. A leaf of a `leafStore: s3` authority is its object in the leaf
 * bucket instead (s3:GetObject on that key; kms:Decrypt through S3 for that bucket).
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { leafStoreOf, type CertrotateConfig } from '../../lib/config/index.js';

export interface SecretGrantContext {
  scope: Construct;
  config: CertrotateConfig;
  key: kms.IKey;
  secretPrefix: string;
  /** The leaf bucket, when an authority has `leafStore: s3`. */
  leafBucket?: s3.IBucket | undefined;
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
  const name = `${context.secretPrefix}/${authority}/leaf/${leafId}`;
  const onS3 = leafStoreOf(context.config.authorities.find((candidate) => candidate.name === authority) ?? {}) === 's3';
  if (onS3 && context.leafBucket !== undefined) return grantObjectRead(context, context.leafBucket, grantee, name);
  return grantSecretRead(context, grantee, name);
}

/**
 * The leaf's object (s3:GetObject on its key, its versions not included) and kms:Decrypt only
 * through S3 and only for this bucket: with an S3 Bucket Key the encryption context S3 passes to
 * KMS is the bucket's ARN (not the object's), so the object grant is what limits the read to one leaf.
 */
function grantObjectRead(context: SecretGrantContext, bucket: s3.IBucket, grantee: iam.IGrantable, key: string): iam.Grant {
  const stack = Stack.of(context.scope);
  const read = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [bucket.arnForObjects(key)] });
  const decrypt = iam.Grant.addToPrincipal({
    grantee,
    actions: ['kms:Decrypt'],
    resourceArns: [context.key.keyArn],
    conditions: {
      StringEquals: { 'kms:ViaService': `s3.${stack.region}.${stack.urlSuffix}`, 'kms:EncryptionContext:aws:s3:arn': bucket.bucketArn },
    },
  });
  return read.combine(decrypt);
}

/** Read access to `<prefix>/<authority>/bundle` (ca.crt: the trust bundle). */
export function grantReadBundle(context: SecretGrantContext, grantee: iam.IGrantable, authority: string): iam.Grant {
  knownAuthority(context.config, authority);
  return grantSecretRead(context, grantee, `${context.secretPrefix}/${authority}/bundle`);
}
